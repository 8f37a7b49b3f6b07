package raftbackend

import (
	"fmt"
	"strings"
)

// checkInvariants returns an error describing the first way f's state breaks
// a property that applying commands always keeps, nil if it breaks none.
//
// The fuzz targets check it after applying arbitrary entries, which shows
// that the properties hold for every state the log can produce, and after
// restoring arbitrary snapshots, which shows that the snapshot decoder
// refuses every state the log cannot produce. The two go together: a
// property listed here that some sequence of entries breaks would make the
// decoder refuse a snapshot that a node wrote.
//
// Times and durations are checked only where the state machine's
// arithmetic cannot wrap: a command's TTL or wait timeout is any int64, so
// Now + TTL may pass math.MaxInt64 and come out negative (see
// checkDeadlineOrder).
func checkInvariants(f *fsm) error {
	f.mu.RLock()
	defer f.mu.RUnlock()

	if f.now < 0 {
		return fmt.Errorf("state-machine time %d is negative: it starts at 0 and never goes back", f.now)
	}
	if f.limits.maxLocks < 0 || f.limits.maxWaiters < 0 {
		return fmt.Errorf("negative limits %+v", f.limits)
	}
	for node := range f.members {
		if node == "" {
			return fmt.Errorf("member table has an empty server ID")
		}
	}
	if err := checkDedupe(&f.dedupe); err != nil {
		return err
	}

	live := make(map[deadline]bool, len(f.deadlines))
	for _, d := range f.deadlines {
		live[d] = true
	}
	waiters := 0
	for id, l := range f.locks {
		if err := checkLock(f, id, l, live); err != nil {
			return fmt.Errorf("lock %q: %w", id, err)
		}
		waiters += len(l.queue)
	}
	if f.waiters != waiters {
		return fmt.Errorf("waiters counter is %d, the queues hold %d", f.waiters, waiters)
	}
	return nil
}

// checkLock checks one lock record and its queue. live is the set of
// deadlines in f's heap: every grant and every waiter with a timeout must
// have one there, or the leader would never end it.
func checkLock(f *fsm, id string, l *fsmLock, live map[deadline]bool) error {
	switch {
	case l == nil:
		return fmt.Errorf("nil record")
	case id == "" || l.id != id:
		return fmt.Errorf("record ID %q under key %q", l.id, id)
	case l.owner == "":
		return fmt.Errorf("held by nobody: a free lock has no record")
	case l.version <= 0:
		return fmt.Errorf("version %d is not positive", l.version)
	case l.ttl <= 0:
		return fmt.Errorf("TTL %d is not positive", l.ttl)
	case l.acquiredAt < 0 || l.acquiredAt > f.now:
		return fmt.Errorf("acquired at %d, outside [0, now %d]", l.acquiredAt, f.now)
	case !checkDeadlineOrder(l.acquiredAt, l.expiresAt):
		return fmt.Errorf("expires at %d, before it was acquired at %d", l.expiresAt, l.acquiredAt)
	case l.md != nil && len(l.md) == 0:
		return fmt.Errorf("empty, non-nil metadata")
	case !live[deadline{at: l.expiresAt, lockID: id, version: l.version}]:
		return fmt.Errorf("no deadline for the grant's expiry at %d", l.expiresAt)
	}
	seen := make(map[string]bool, len(l.queue))
	for i, w := range l.queue {
		if err := checkWaiter(f, l, i, w, live); err != nil {
			return fmt.Errorf("waiter %d: %w", i, err)
		}
		if seen[w.clientID] {
			return fmt.Errorf("waiter %q is queued twice", w.clientID)
		}
		seen[w.clientID] = true
	}
	return nil
}

func checkWaiter(f *fsm, l *fsmLock, i int, w *fsmWaiter, live map[deadline]bool) error {
	switch {
	case w == nil:
		return fmt.Errorf("nil waiter")
	case w.clientID == "":
		return fmt.Errorf("empty client ID")
	case w.clientID == l.owner:
		return fmt.Errorf("%q both holds the lock and waits for it", w.clientID)
	case w.ttl <= 0:
		return fmt.Errorf("TTL %d is not positive", w.ttl)
	case w.timeout < 0:
		return fmt.Errorf("wait timeout %d is negative", w.timeout)
	case (w.timeout == 0) != (w.timeoutAt == 0):
		return fmt.Errorf("wait timeout %d but times out at %d", w.timeout, w.timeoutAt)
	case w.enqueuedAt < 0 || w.enqueuedAt > f.now:
		return fmt.Errorf("enqueued at %d, outside [0, now %d]", w.enqueuedAt, f.now)
	case w.timeoutAt != 0 && !checkDeadlineOrder(w.enqueuedAt, w.timeoutAt):
		return fmt.Errorf("times out at %d, before it was enqueued at %d", w.timeoutAt, w.enqueuedAt)
	case i > 0 && l.queue[i-1].priority < w.priority:
		return fmt.Errorf("priority %d behind a lower one, %d", w.priority, l.queue[i-1].priority)
	case w.md != nil && len(w.md) == 0:
		return fmt.Errorf("empty, non-nil metadata")
	case w.timeoutAt != 0 && !live[deadline{at: w.timeoutAt, lockID: l.id, clientID: w.clientID}]:
		return fmt.Errorf("no deadline for the wait timeout at %d", w.timeoutAt)
	}
	return nil
}

// checkDeadlineOrder reports whether a deadline at "at", set from a moment
// "from" (both at or after 0), is not before it. A deadline is from plus a
// duration that may be up to math.MaxInt64, so the sum may wrap round to a
// negative value; that is the one way for it to come out earlier.
func checkDeadlineOrder(from, at int64) bool {
	return at >= from || at < 0
}

// checkDedupe checks the dedupe table's ring against its map: the same
// keys, each once, each naming a client ID and a request ID.
func checkDedupe(t *dedupeTable) error {
	switch {
	case len(t.ring) > dedupeCapacity:
		return fmt.Errorf("dedupe ring holds %d keys, more than %d", len(t.ring), dedupeCapacity)
	case len(t.ring) != len(t.m):
		return fmt.Errorf("dedupe ring holds %d keys, its map %d", len(t.ring), len(t.m))
	case t.head != 0 && len(t.ring) < dedupeCapacity, t.head < 0 || t.head >= max(len(t.ring), 1):
		return fmt.Errorf("dedupe ring head %d with %d keys", t.head, len(t.ring))
	}
	for _, k := range t.ring {
		if t.m[k] == nil {
			return fmt.Errorf("dedupe key %q has no answer", k)
		}
		if !strings.Contains(k, "\x00") {
			return fmt.Errorf("dedupe key %q has no separator", k)
		}
	}
	return nil
}
