package memory

import (
	"time"

	"github.com/raftlock/raftlock/backend"
)

// lockState is the store's record of one lock ID. A record is live exactly
// while the lock is held: the queue is never left waiting behind a free lock,
// because every path that frees the lock hands it to the head waiter in the
// same step. A record that is not live may stay in its shard's table for
// reuse (see dropLock); it then has an empty queue and no place in the
// expiry heap.
type lockState struct {
	id   string
	live bool // held; every reader checks it first

	owner      string
	version    int64
	acquiredAt time.Time
	expiresAt  time.Time
	md         map[string]string // the store's own copy; never changed in place

	queue []*waiter // in grant order: priority, higher first, then arrival

	heapIdx int // position in the shard's expiry heap; -1 when not in it
}

// snapshot returns the grant as the store keeps it (sharing the metadata map,
// which is never changed in place). It goes out only through exportLock.
func (ls *lockState) snapshot() backend.Lock {
	return backend.Lock{
		LockID:     ls.id,
		Owner:      ls.owner,
		Version:    ls.version,
		AcquiredAt: ls.acquiredAt,
		ExpiresAt:  ls.expiresAt,
		Metadata:   ls.md,
	}
}

// export fills *l with the grant as the caller may own it: with its own
// metadata map, and times without Go's monotonic reading, which means nothing
// outside this process and makes == on times surprising.
//
// It writes the fields in place rather than go through exportLock, which
// would copy the struct twice on every Acquire's path.
func (ls *lockState) export(l *backend.Lock) {
	l.LockID = ls.id
	l.Owner = ls.owner
	l.Version = ls.version
	l.AcquiredAt = ls.acquiredAt.Round(0)
	l.ExpiresAt = ls.expiresAt.Round(0)
	l.Metadata = backend.CloneMetadata(ls.md)
}

// exportLock is export for a grant kept as a snapshot.
func exportLock(l backend.Lock) backend.Lock {
	l.Metadata = backend.CloneMetadata(l.Metadata)
	l.AcquiredAt = l.AcquiredAt.Round(0)
	l.ExpiresAt = l.ExpiresAt.Round(0)
	return l
}

// info describes the lock for Get and List. The metadata map is still the
// store's; waiters are included when asked for.
func (ls *lockState) info(withWaiters bool) backend.LockInfo {
	li := backend.LockInfo{Lock: ls.snapshot(), Held: true, WaiterCount: len(ls.queue)}
	li.AcquiredAt = li.AcquiredAt.Round(0)
	li.ExpiresAt = li.ExpiresAt.Round(0)
	if withWaiters {
		li.Waiters = ls.waiters()
	}
	return li
}

// waiters lists the queue for a LockInfo; nil when it is empty.
func (ls *lockState) waiters() []backend.Waiter {
	if len(ls.queue) == 0 {
		return nil
	}
	out := make([]backend.Waiter, len(ls.queue))
	for i, w := range ls.queue {
		out[i] = backend.Waiter{
			ClientID:   w.clientID,
			Priority:   w.priority,
			EnqueuedAt: w.enqueuedAt.Round(0),
			TimeoutAt:  w.timeoutAt.Round(0),
			Position:   i,
		}
	}
	return out
}

// find returns the queued waiter of clientID and its position, or nil, -1.
func (ls *lockState) find(clientID string) (*waiter, int) {
	for i, w := range ls.queue {
		if w.clientID == clientID {
			return w, i
		}
	}
	return nil, -1
}

// insert queues w behind every waiter of equal or higher priority, which
// keeps arrival order within a priority, and returns its position.
func (ls *lockState) insert(w *waiter) int {
	i := len(ls.queue)
	for i > 0 && ls.queue[i-1].priority < w.priority {
		i--
	}
	ls.queue = append(ls.queue, nil)
	copy(ls.queue[i+1:], ls.queue[i:])
	ls.queue[i] = w
	return i
}

// popHead takes the first waiter off the queue.
func (ls *lockState) popHead() *waiter {
	w := ls.queue[0]
	n := copy(ls.queue, ls.queue[1:])
	ls.queue[n] = nil
	ls.queue = ls.queue[:n]
	return w
}

// remove takes w off the queue if it is there.
func (ls *lockState) remove(w *waiter) {
	for i, q := range ls.queue {
		if q == w {
			n := copy(ls.queue[i:], ls.queue[i+1:]) + i
			ls.queue[n] = nil
			ls.queue = ls.queue[:n]
			return
		}
	}
}

// waitState is where a waiter stands. Every change away from waitWaiting
// happens under the shard mutex, takes the waiter out of its queue, and
// closes done.
type waitState uint8

const (
	waitWaiting   waitState = iota // in the queue
	waitGranted                    // given the lock; grant holds it
	waitTimedOut                   // its wait timeout passed
	waitCancelled                  // removed by CancelWait
	waitLeft                       // gave up (ctx done, driver or store closed)
)

// waiter is one client's place in a lock's queue. It joined either through
// Acquire with Wait (a call is blocked on it) or through Enqueue (maybe no
// call is); further Acquire calls of the same client wait on the same
// waiter, in the place it already has.
type waiter struct {
	lockID   string
	clientID string
	priority int32
	ttl      time.Duration     // of the grant it will get
	md       map[string]string // store's copy, for the grant

	enqueuedAt time.Time
	timeoutAt  time.Time // zero: no timeout of its own
	timer      Timer     // runs at timeoutAt

	state waitState
	grant backend.Lock // with waitGranted

	// done is made when the first call blocks on the waiter and closed when
	// the state leaves waitWaiting. refs counts the calls blocked on it, and
	// claimed says one of them has returned the grant: a call that gives up
	// after the grant releases it only if no other call took it or still
	// might, so a grant is neither orphaned nor taken from under a call that
	// returned it.
	done    chan struct{}
	refs    int
	claimed bool
}

// setTimeout makes the waiter leave the queue at now+d unless it already has
// an earlier deadline. sh.mu must be held.
func (s *Store) setTimeout(sh *shard, w *waiter, d time.Duration, now time.Time) {
	at := now.Add(d)
	if !w.timeoutAt.IsZero() && !at.Before(w.timeoutAt) {
		return
	}
	w.timeoutAt = at
	if w.timer == nil {
		w.timer = s.cfg.clock.AfterFunc(d, func() { s.onWaitTimer(sh, w) })
	} else {
		w.timer.Reset(d)
	}
}
