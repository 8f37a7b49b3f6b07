package memory

import (
	"context"
	"strconv"

	"github.com/raftlock/raftlock/backend"
)

// Status counts the store's locks and waiters. Role is "standalone"; Store
// is "memory"; NodeID is the NAME of a store opened as mem://NAME, "" for
// others.
func (d *Driver) Status(ctx context.Context) (*backend.Status, error) {
	if err := d.admit(ctx, nil, nil); err != nil {
		return nil, err
	}
	s := d.store
	st := &backend.Status{
		Store:  "memory",
		NodeID: s.name,
		Role:   "standalone",
		Details: map[string]string{
			"shards":      strconv.Itoa(numShards),
			"max_locks":   strconv.Itoa(s.cfg.maxLocks),
			"max_waiters": strconv.Itoa(s.cfg.maxWaiters),
		},
	}
	err := s.eachHeld(func(ls *lockState) {
		// Every record is a held lock; its waiters wait behind it.
		st.Locks++
		st.HeldLocks++
		st.Waiters += len(ls.queue)
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// Health reports the store serving while it and the driver are open, and
// fails with CodeClosed after either has closed.
func (d *Driver) Health(ctx context.Context) (*backend.Health, error) {
	if err := d.admit(ctx, nil, nil); err != nil {
		return nil, err
	}
	return &backend.Health{Serving: true, Message: "in-process store"}, nil
}

// BackoffAdvice tells a client that polls for lockID how long to back off.
// Contention is the holder plus each waiter: a free lock advises 5ms
// growing to 100ms; each unit of contention adds 5ms to the initial backoff
// (up to 500ms), with a maximum twenty times the initial one (up to 10s) and
// more jitter, so that many pollers spread out.
func (d *Driver) BackoffAdvice(ctx context.Context, lockID string) (*backend.BackoffAdvice, error) {
	if err := d.admit(ctx, backend.ValidateID("lock ID", lockID), func() string { return lockID }); err != nil {
		return nil, err
	}
	s := d.store
	sh, err := s.lockShard(lockID)
	if err != nil {
		return nil, err
	}
	contention := 0
	if ls := s.lookup(sh, lockID, s.cfg.clock.Now()); ls != nil {
		contention = 1 + len(ls.queue)
	}
	sh.mu.Unlock()
	return backend.AdviseBackoff(contention), nil
}
