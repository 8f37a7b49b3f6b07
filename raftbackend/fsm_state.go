package raftbackend

import (
	"time"

	"github.com/raftlock/raftlock/backend"
)

// fsmLock is the state machine's record of one lock ID. A record exists
// exactly while the lock is held: every command that ends a grant hands the
// lock to the head waiter in the same step, or deletes the record when
// nobody waits, so a free lock never has a queue.
type fsmLock struct {
	id         string
	owner      string
	version    int64 // the log index of the entry that made the grant
	acquiredAt int64 // unix nanoseconds, state-machine time
	expiresAt  int64
	ttl        int64 // of the latest grant or renewal, for LeaderChange
	md         map[string]string
	queue      []*fsmWaiter // in grant order: priority, higher first, then arrival
}

// fsmWaiter is one client's place in a lock's queue.
type fsmWaiter struct {
	clientID   string
	priority   int32
	ttl        int64 // of the grant it will get
	timeout    int64 // its wait timeout as asked for; 0 for none
	md         map[string]string
	enqueuedAt int64
	timeoutAt  int64 // 0 for none
}

func (l *fsmLock) grant() backend.Lock {
	return backend.Lock{
		LockID:     l.id,
		Owner:      l.owner,
		Version:    l.version,
		AcquiredAt: unixTime(l.acquiredAt),
		ExpiresAt:  unixTime(l.expiresAt),
		Metadata:   l.md,
	}
}

// info describes the lock for Get and List; the metadata map is the
// state machine's, which is never changed in place, and the caller copies it
// before handing it out.
func (l *fsmLock) info(withWaiters bool) backend.LockInfo {
	li := backend.LockInfo{Lock: l.grant(), Held: true, WaiterCount: len(l.queue)}
	if withWaiters && len(l.queue) > 0 {
		li.Waiters = make([]backend.Waiter, len(l.queue))
		for i, w := range l.queue {
			li.Waiters[i] = backend.Waiter{
				ClientID:   w.clientID,
				Priority:   w.priority,
				EnqueuedAt: unixTime(w.enqueuedAt),
				TimeoutAt:  unixTime(w.timeoutAt),
				Position:   i,
			}
		}
	}
	return li
}

// find returns the position of clientID in the queue, -1 if absent.
func (l *fsmLock) find(clientID string) int {
	for i, w := range l.queue {
		if w.clientID == clientID {
			return i
		}
	}
	return -1
}

// insert queues w behind every waiter of equal or higher priority and
// returns its position.
func (l *fsmLock) insert(w *fsmWaiter) int {
	i := len(l.queue)
	for i > 0 && l.queue[i-1].priority < w.priority {
		i--
	}
	l.queue = append(l.queue, nil)
	copy(l.queue[i+1:], l.queue[i:])
	l.queue[i] = w
	return i
}

// removeAt takes the waiter at position i off the queue.
func (l *fsmLock) removeAt(i int) *fsmWaiter {
	w := l.queue[i]
	n := copy(l.queue[i:], l.queue[i+1:]) + i
	l.queue[n] = nil
	l.queue = l.queue[:n]
	return w
}

// unixTime turns state-machine nanoseconds into a time.Time; 0 stays the
// zero time.
func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
