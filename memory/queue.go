package memory

import (
	"context"

	"github.com/raftlock/raftlock/backend"
)

// Enqueue puts the client in the lock's wait queue without blocking. A free
// lock with an empty queue is granted at once (Granted); the current holder
// gets its grant back (Granted); a client already queued gets its position
// and nothing changes. Otherwise the client joins the queue by priority and
// stays for req.WaitTimeout, or the store's default wait timeout when that
// is zero (see WithDefaultWaitTimeout). When its turn comes it is granted
// the lock with req.TTL from that moment, and learns of it through Acquire
// or Get.
func (d *Driver) Enqueue(ctx context.Context, req *backend.EnqueueRequest) (*backend.EnqueueResult, error) {
	s := d.store
	if err := d.admit(ctx, backend.ValidateEnqueue(req, s.caps), func() string { return req.LockID }); err != nil {
		return nil, err
	}
	md := backend.CloneMetadata(req.Metadata)

	sh, err := s.lockShard(req.LockID)
	if err != nil {
		return nil, err
	}
	defer sh.mu.Unlock()
	now := s.cfg.clock.Now()
	ls, granted, e := s.grantIfFree(sh, req.LockID, req.ClientID, req.TTL, md, now)
	switch {
	case e != nil:
		return nil, e
	case granted || ls.owner == req.ClientID:
		res := &backend.EnqueueResult{Granted: true}
		ls.export(&res.Lock)
		return res, nil
	}
	if _, pos := ls.find(req.ClientID); pos >= 0 {
		return &backend.EnqueueResult{Position: pos}, nil
	}
	if e := s.checkQueueRoom(ls); e != nil {
		return nil, e
	}
	w := &waiter{
		lockID:     req.LockID,
		clientID:   req.ClientID,
		priority:   req.Priority,
		ttl:        req.TTL,
		md:         md,
		enqueuedAt: now,
	}
	timeout := req.WaitTimeout
	if timeout == 0 {
		timeout = s.cfg.defaultWaitTimeout
	}
	s.setTimeout(sh, w, timeout, now)
	return &backend.EnqueueResult{Position: ls.insert(w)}, nil
}

// CancelWait takes the client out of the lock's wait queue; CodeNotWaiting
// if it is not in it (including when it has meanwhile been granted the
// lock, which CancelWait never releases). Calls blocked on that place in the
// queue fail with CodeCanceled.
func (d *Driver) CancelWait(ctx context.Context, req *backend.CancelWaitRequest) error {
	if err := d.admit(ctx, backend.ValidateCancelWait(req), func() string { return req.LockID }); err != nil {
		return err
	}
	s := d.store
	sh, err := s.lockShard(req.LockID)
	if err != nil {
		return err
	}
	defer sh.mu.Unlock()
	var w *waiter
	if ls := s.lookup(sh, req.LockID, s.cfg.clock.Now()); ls != nil {
		if w, _ = ls.find(req.ClientID); w != nil {
			ls.remove(w)
		}
	}
	if w == nil {
		return &backend.Error{Code: backend.CodeNotWaiting, LockID: req.LockID, Message: "the client is not in the wait queue"}
	}
	s.finishWaiter(w, waitCancelled)
	return nil
}
