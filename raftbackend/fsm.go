package raftbackend

import (
	"log/slog"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/raftlock/raftlock/backend"
)

// fsm is the replicated lock table. It is deterministic: applying the same
// entries in the same order gives the same state and the same answers on
// every node, because it reads no clock (each entry carries the leader's
// Now), no randomness and no node-local setting. Time only moves forward
// in it: an entry stamped earlier than the one before it (a new leader whose
// clock is behind) is applied at the later time.
//
// Leases end only through cmdExpire, which the leader proposes when its
// clock passes a deadline, or when a command finds a grant already past its
// deadline at the entry's Now. A new leader first commits cmdLeaderChange,
// which pushes every deadline to at least Now + TTL, so that no lease ends
// early whatever the new leader's clock says.
type fsm struct {
	mu sync.RWMutex

	locks   map[string]*fsmLock
	waiters int   // waiters over all queues
	now     int64 // state-machine time: the latest entry's Now
	index   uint64
	dedupe  dedupeTable
	members map[string]string // Raft server ID -> client API address
	leader  string            // server ID of the latest LeaderChange
	limits  limits            // from the latest LeaderChange

	deadlines deadlineHeap // on every node, so any node can lead at once
	stats     fsmCounters  // what it did, for Node.Stats; never read here
	armed     int64        // when the expiry loop wakes next; 0 for never

	// notify tells the node of a waiter's fate (granted, timed out,
	// cancelled), so that a call blocked on it can answer. It is called
	// with mu held, in log order, and must not block.
	notify func(waitEvent)
	// earlier is called, with mu held, when a deadline was added that may
	// be earlier than every other, so the leader's expiry loop re-arms.
	earlier func()
	// removed is called, with mu held, when a server leaves the member
	// table, so that a node learns it was removed (raft stops replicating
	// to a removed follower, which may never see the configuration change).
	removed func(node string)

	logger *slog.Logger
}

// waitEvent is what became of a waiter.
type waitEvent struct {
	kind     waitEventKind
	lockID   string
	clientID string
	lock     backend.Lock // with evGranted
	index    uint64       // of the entry that decided it
}

type waitEventKind uint8

const (
	evGranted  waitEventKind = iota + 1 // it reached the head of the queue and holds the lock
	evTimedOut                          // its wait timeout passed
	evCanceled                          // CancelWait removed it
)

func newFSM(logger *slog.Logger) *fsm {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &fsm{
		locks:   make(map[string]*fsmLock),
		dedupe:  newDedupeTable(),
		members: make(map[string]string),
		notify:  func(waitEvent) {},
		earlier: func() {},
		removed: func(string) {},
		logger:  logger,
	}
}

var _ raft.BatchingFSM = (*fsm)(nil)

// Apply applies one entry; see ApplyBatch.
func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed entries in order. The answer to a command
// entry is a []result, one per command; other entries answer nil.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, l := range logs {
		f.index = l.Index
		if l.Type != raft.LogCommand {
			continue
		}
		e, err := decodeEntry(l.Data)
		if err != nil {
			// Every node fails this entry the same way, so the state stays
			// identical; the callers learn of it.
			f.logger.Error("raft store: undecodable log entry", "index", l.Index, "error", err)
			out[i] = []result{{err: backend.Errorf(backend.CodeInternal, "undecodable log entry %d", l.Index)}}
			continue
		}
		if now := entryTime(&e); now > f.now {
			f.now = now
		}
		res := make([]result, len(e.cmds))
		for j := range e.cmds {
			res[j] = f.applyCommand(&e.cmds[j], l.Index)
		}
		out[i] = res
	}
	return out
}

// applyCommand applies one command at state-machine time f.now as part of
// the entry at index. f.mu is held.
func (f *fsm) applyCommand(c *command, index uint64) result {
	var key string
	if c.deduped() {
		key = dedupeKey(c.clientID, c.requestID)
		if r := f.dedupe.get(key); r != nil {
			return *r
		}
	}
	r := f.dispatch(c, index)
	if key != "" {
		f.dedupe.put(key, &r)
	}
	return r
}

func (f *fsm) dispatch(c *command, index uint64) result {
	switch c.kind {
	case cmdAcquire, cmdEnqueue:
		return f.acquire(c, index)
	case cmdRelease:
		return f.release(c, index)
	case cmdRenew:
		return f.renew(c)
	case cmdCancelWait:
		return f.cancelWait(c, index)
	case cmdExpire:
		return f.expire(c, index)
	case cmdWaitTimeout:
		return f.waitTimeout(c, index)
	case cmdLeaderChange:
		return f.leaderChange(c)
	case cmdSetMember:
		if c.node != "" {
			f.members[c.node] = c.addr
		}
		return result{}
	case cmdRemoveMember:
		delete(f.members, c.node)
		f.removed(c.node)
		return result{}
	case cmdForceRelease:
		return f.forceRelease(c, index)
	}
	return result{err: backend.Errorf(backend.CodeInternal, "unknown command kind %d", c.kind)}
}

// lookup returns lockID's record if the lock is held at f.now, ending a
// grant whose deadline has passed first (its expiry command may not have
// been committed yet). index is the entry being applied.
func (f *fsm) lookup(lockID string, index uint64) *fsmLock {
	l := f.locks[lockID]
	if l != nil && f.now >= l.expiresAt {
		f.stats.expired()
		f.vacate(l, index)
		l = f.locks[lockID]
	}
	return l
}

// acquire applies cmdAcquire and cmdEnqueue.
func (f *fsm) acquire(c *command, index uint64) result {
	if c.lockID == "" || c.clientID == "" || c.ttl <= 0 || c.timeout < 0 {
		return result{err: backend.Errorf(backend.CodeInvalidArgument, "malformed %s command", c.kind)}
	}
	l := f.lookup(c.lockID, index)
	if l == nil {
		if e := f.roomForLock(c.lockID); e != nil {
			return result{err: e}
		}
		l = &fsmLock{id: c.lockID}
		f.locks[c.lockID] = l
		f.grantTo(l, c.clientID, c.ttl, c.md, index)
		return result{outcome: outGranted, lock: l.grant()}
	}
	if l.owner == c.clientID {
		return result{outcome: outAlreadyHeld, lock: l.grant()}
	}
	if pos := l.find(c.clientID); pos >= 0 {
		if c.kind == cmdAcquire && !c.wait {
			return result{err: lockHeld(l)}
		}
		// Already queued: keep the place and priority; the grant takes
		// this request's TTL and metadata, and the earlier of the two
		// timeouts (the memory store does the same).
		w := l.queue[pos]
		w.ttl, w.md = c.ttl, c.md
		if c.timeout > 0 {
			if at := f.now + c.timeout; w.timeoutAt == 0 || at < w.timeoutAt {
				w.timeoutAt = at
				w.timeout = c.timeout
				f.addDeadline(deadline{at: at, lockID: l.id, clientID: w.clientID})
			}
		}
		return result{outcome: outQueued, position: pos}
	}
	if c.kind == cmdAcquire && !c.wait {
		return result{err: lockHeld(l)}
	}
	if e := f.roomForWaiter(l); e != nil {
		return result{err: e}
	}
	w := &fsmWaiter{
		clientID:   c.clientID,
		priority:   c.priority,
		ttl:        c.ttl,
		timeout:    c.timeout,
		md:         c.md,
		enqueuedAt: f.now,
	}
	if c.timeout > 0 {
		w.timeoutAt = f.now + c.timeout
		f.addDeadline(deadline{at: w.timeoutAt, lockID: l.id, clientID: w.clientID})
	}
	f.waiters++
	return result{outcome: outQueued, position: l.insert(w)}
}

func lockHeld(l *fsmLock) *backend.Error {
	return &backend.Error{Code: backend.CodeLockHeld, LockID: l.id, Owner: l.owner}
}

// ownerCheck finds the grant a Release or Renew names, or the error for it.
func (f *fsm) ownerCheck(c *command, index uint64) (*fsmLock, *backend.Error) {
	if c.lockID == "" || c.clientID == "" || c.version <= 0 {
		return nil, backend.Errorf(backend.CodeInvalidArgument, "malformed %s command", c.kind)
	}
	l := f.lookup(c.lockID, index)
	switch {
	case l == nil:
		return nil, &backend.Error{Code: backend.CodeNotFound, LockID: c.lockID, Message: "the lock is not held"}
	case l.owner != c.clientID:
		return nil, &backend.Error{Code: backend.CodeNotLockOwner, LockID: c.lockID, Owner: l.owner, Message: "held by " + l.owner}
	case l.version != c.version:
		return nil, backend.Errorf(backend.CodeVersionMismatch, "held at version %d, not %d", l.version, c.version)
	}
	return l, nil
}

func (f *fsm) release(c *command, index uint64) result {
	l, e := f.ownerCheck(c, index)
	if e == nil && l.version >= int64(index) {
		// The grant was made by this very entry, so its holder cannot have
		// heard of it yet: the version is a guess. Ending it here would let
		// the next grant in the same entry take the same version.
		e = backend.Errorf(backend.CodeVersionMismatch, "version %d is not yet granted", c.version)
	}
	if e != nil {
		e.LockID = c.lockID
		return result{err: e}
	}
	f.stats.released()
	return result{next: f.vacate(l, index)}
}

func (f *fsm) renew(c *command) result {
	if c.ttl <= 0 {
		return result{err: backend.Errorf(backend.CodeInvalidArgument, "malformed renew command")}
	}
	// A renewal never grants, so the index passed to lookup only matters
	// for the hand-off of a grant that had already expired.
	l, e := f.ownerCheck(c, f.index)
	if e != nil {
		e.LockID = c.lockID
		return result{err: e}
	}
	l.ttl = c.ttl
	l.expiresAt = f.now + c.ttl
	f.addDeadline(deadline{at: l.expiresAt, lockID: l.id, version: l.version})
	f.stats.renewed()
	return result{lock: l.grant()}
}

func (f *fsm) cancelWait(c *command, index uint64) result {
	l := f.lookup(c.lockID, index)
	pos := -1
	if l != nil {
		pos = l.find(c.clientID)
	}
	if pos < 0 {
		return result{err: &backend.Error{Code: backend.CodeNotWaiting, LockID: c.lockID, Message: "the client is not in the wait queue"}}
	}
	l.removeAt(pos)
	f.waiters--
	f.notify(waitEvent{kind: evCanceled, lockID: l.id, clientID: c.clientID, index: index})
	return result{}
}

// expire ends a grant whose deadline the leader saw pass. It is a no-op
// when the grant named is gone or was renewed past f.now meanwhile.
func (f *fsm) expire(c *command, index uint64) result {
	l := f.locks[c.lockID]
	if l == nil || l.version != c.version || f.now < l.expiresAt {
		return result{outcome: outNoop}
	}
	f.stats.expired()
	return result{next: f.vacate(l, index)}
}

func (f *fsm) waitTimeout(c *command, index uint64) result {
	l := f.locks[c.lockID]
	if l == nil {
		return result{outcome: outNoop}
	}
	pos := l.find(c.clientID)
	if pos < 0 || l.queue[pos].timeoutAt == 0 || f.now < l.queue[pos].timeoutAt {
		return result{outcome: outNoop}
	}
	l.removeAt(pos)
	f.waiters--
	f.notify(waitEvent{kind: evTimedOut, lockID: l.id, clientID: c.clientID, index: index})
	return result{}
}

// leaderChange pushes every deadline to at least f.now plus its full
// duration. A new leader's clock may be ahead of the old one's; without
// this, it would expire leases the old leader had just granted or renewed.
//
// It also sets the limits: those of the leader that proposed it, so that
// the leader's configuration applies for the whole of its term.
func (f *fsm) leaderChange(c *command) result {
	f.limits = c.limits
	if c.node != "" {
		f.leader = c.node
		if c.addr != "" {
			f.members[c.node] = c.addr
		}
	}
	for _, l := range f.locks {
		if at := f.now + l.ttl; at > l.expiresAt {
			l.expiresAt = at
		}
		for _, w := range l.queue {
			if w.timeoutAt != 0 {
				if at := f.now + w.timeout; at > w.timeoutAt {
					w.timeoutAt = at
				}
			}
		}
	}
	f.rebuildDeadlines()
	return result{}
}

// grantTo makes owner the holder of l at the entry index, from f.now for
// ttl.
func (f *fsm) grantTo(l *fsmLock, owner string, ttl int64, md map[string]string, index uint64) {
	l.owner = owner
	l.version = grantVersion(index)
	l.acquiredAt = f.now
	l.expiresAt = f.now + ttl
	l.ttl = ttl
	l.md = md
	f.addDeadline(deadline{at: l.expiresAt, lockID: l.id, version: l.version})
	f.stats.granted()
}

// vacate ends l's grant: the head waiter still in time gets the lock in the
// same entry, with its own TTL from f.now; with nobody waiting the record
// goes. It returns the new holder, "" if none.
func (f *fsm) vacate(l *fsmLock, index uint64) string {
	for len(l.queue) > 0 {
		w := l.removeAt(0)
		f.waiters--
		if w.timeoutAt != 0 && f.now >= w.timeoutAt {
			f.notify(waitEvent{kind: evTimedOut, lockID: l.id, clientID: w.clientID, index: index})
			continue
		}
		f.grantTo(l, w.clientID, w.ttl, w.md, index)
		f.stats.handedOff()
		f.notify(waitEvent{kind: evGranted, lockID: l.id, clientID: w.clientID, lock: l.grant(), index: index})
		return w.clientID
	}
	delete(f.locks, l.id)
	return ""
}

// addDeadline records a moment the leader must act at.
func (f *fsm) addDeadline(d deadline) {
	f.deadlines.push(d)
	if len(f.deadlines) > 1024 && len(f.deadlines) > 4*(len(f.locks)+f.waiters) {
		f.deadlines.keep(f.valid)
	}
	// Compare with the moment the expiry loop sleeps until, not with the
	// heap's top, which may be a stale item.
	if f.armed == 0 || d.at < f.armed {
		f.armed = d.at
		f.earlier()
	}
}

// valid reports whether d still stands for a live deadline.
func (f *fsm) valid(d deadline) bool {
	l := f.locks[d.lockID]
	if l == nil {
		return false
	}
	if d.clientID == "" {
		return l.version == d.version && l.expiresAt == d.at
	}
	pos := l.find(d.clientID)
	return pos >= 0 && l.queue[pos].timeoutAt == d.at
}

// rebuildDeadlines makes the heap again from the live state.
func (f *fsm) rebuildDeadlines() {
	f.deadlines = f.deadlines[:0]
	for _, l := range f.locks {
		f.deadlines = append(f.deadlines, deadline{at: l.expiresAt, lockID: l.id, version: l.version})
		for _, w := range l.queue {
			if w.timeoutAt != 0 {
				f.deadlines = append(f.deadlines, deadline{at: w.timeoutAt, lockID: l.id, clientID: w.clientID})
			}
		}
	}
	f.deadlines.keep(func(deadline) bool { return true })
	f.armed = 0
	f.earlier()
}

// due returns the commands the leader should propose for deadlines at or
// before now, and the next deadline after them (0 if none). Stale items are
// dropped on the way; due ones stay until the command applying them makes
// them stale, so a proposal that is lost is made again on the next call.
func (f *fsm) due(now int64, max int) (cmds []command, next int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var keep []deadline
	for len(f.deadlines) > 0 && len(cmds) < max {
		d := f.deadlines[0]
		if !f.valid(d) {
			f.deadlines.pop()
			continue
		}
		if d.at > now {
			break
		}
		keep = append(keep, f.deadlines.pop())
		if d.clientID == "" {
			cmds = append(cmds, command{kind: cmdExpire, lockID: d.lockID, version: d.version})
		} else {
			cmds = append(cmds, command{kind: cmdWaitTimeout, lockID: d.lockID, clientID: d.clientID})
		}
	}
	// The next deadline is the first valid one left on top, before the
	// due ones go back.
	for len(f.deadlines) > 0 && !f.valid(f.deadlines[0]) {
		f.deadlines.pop()
	}
	if len(f.deadlines) > 0 {
		next = f.deadlines[0].at
	}
	if len(cmds) == max {
		next = now
	}
	f.armed = next
	for _, d := range keep {
		f.deadlines.push(d)
	}
	return cmds, next
}
