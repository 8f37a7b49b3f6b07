package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// Driver is one client of a Store. It implements backend.Driver,
// backend.Queuer and backend.Admin.
//
// A Driver is safe for concurrent use. Closing it wakes only the calls
// blocked in it; the locks it holds stay held until they expire, as they
// would if its process had crashed.
type Driver struct {
	store *Store
	gate  gate
	// onClose runs once, after the driver has closed; a driver opened from a
	// URL uses it to drop its reference to the store.
	onClose func()
}

var (
	_ backend.Driver = (*Driver)(nil)
	_ backend.Queuer = (*Driver)(nil)
	_ backend.Admin  = (*Driver)(nil)
)

// Store returns the store the driver reaches.
func (d *Driver) Store() *Store { return d.store }

// Capabilities returns the store's capabilities: FIFO, Priorities,
// ServerSideWait and Metadata, not Replicated, exact TTLs within the store's
// TTL range.
func (d *Driver) Capabilities() backend.Capabilities { return d.store.caps }

// Close wakes every call blocked in this driver with CodeClosed, waits until
// they have left their queues, and makes every later call fail with
// CodeClosed. It does not release the driver's locks. Close is idempotent
// and always returns nil.
func (d *Driver) Close() error {
	if d.gate.close() && d.onClose != nil {
		d.onClose()
	}
	return nil
}

// admit makes the checks every call makes before touching the store, in
// this order: the driver and the store are open (the store's state is
// checked again under each shard's mutex), the request is well formed
// (invalid is what backend's Validate function found), and ctx is not done,
// so that a call that cannot proceed changes nothing. lockID, nil for calls
// about no lock in particular, is read only for a well-formed request.
func (d *Driver) admit(ctx context.Context, invalid *backend.Error, lockID func() string) error {
	switch {
	case d.gate.closed.Load():
		return closedError("", "driver")
	case d.store.closed.Load():
		return closedError("", "store")
	case invalid != nil:
		return invalid
	case ctx.Err() != nil:
		id := ""
		if lockID != nil {
			id = lockID()
		}
		return backend.ContextError(ctx, id)
	}
	return nil
}

// Acquire grants the lock if it is free, returns the current grant if
// req.ClientID already holds it, and otherwise fails with CodeLockHeld or,
// with req.Wait, waits in the queue (see backend.AcquireRequest).
//
// An Acquire that returns a grant the client already held reports
// AlreadyHeld, because that grant was made before this call was sent: the
// caller must not count its lease from this call.
func (d *Driver) Acquire(ctx context.Context, req *backend.AcquireRequest) (*backend.AcquireResult, error) {
	s := d.store
	if err := d.admit(ctx, backend.ValidateAcquire(req, s.caps), func() string { return req.LockID }); err != nil {
		return nil, err
	}
	md := backend.CloneMetadata(req.Metadata)

	sh, err := s.lockShard(req.LockID)
	if err != nil {
		return nil, err
	}
	now := s.cfg.clock.Now()
	ls, granted, e := s.grantIfFree(sh, req.LockID, req.ClientID, req.TTL, md, now)
	switch {
	case e != nil:
		sh.mu.Unlock()
		return nil, e
	case granted || ls.owner == req.ClientID:
		res := &backend.AcquireResult{AlreadyHeld: !granted}
		ls.export(&res.Lock)
		sh.mu.Unlock()
		return res, nil
	}
	if !req.Wait {
		e := &backend.Error{Code: backend.CodeLockHeld, LockID: req.LockID, Owner: ls.owner}
		sh.mu.Unlock()
		return nil, e
	}

	// Held by another client: wait in the queue.
	if !d.gate.enter() {
		sh.mu.Unlock()
		return nil, closedError(req.LockID, "driver")
	}
	defer d.gate.leave()
	if !s.gate.enter() {
		sh.mu.Unlock()
		return nil, closedError(req.LockID, "store")
	}
	defer s.gate.leave()
	w, _ := ls.find(req.ClientID)
	if w == nil {
		if e := s.checkQueueRoom(ls); e != nil {
			sh.mu.Unlock()
			return nil, e
		}
		w = &waiter{
			lockID:     req.LockID,
			clientID:   req.ClientID,
			priority:   req.Priority,
			enqueuedAt: now,
		}
		ls.insert(w)
	}
	// A client already queued (through Enqueue, or another blocked call)
	// keeps its place and priority. Its grant takes this request's TTL and
	// metadata, because this is the caller that will count a lease from them.
	w.ttl = req.TTL
	w.md = md
	if req.WaitTimeout > 0 {
		s.setTimeout(sh, w, req.WaitTimeout, now)
	}
	if w.done == nil {
		w.done = make(chan struct{})
	}
	w.refs++
	done := w.done
	sh.mu.Unlock()

	select {
	case <-done:
	case <-ctx.Done():
	case <-d.gate.done:
	case <-s.gate.done:
	}
	return d.endWait(ctx, sh, w)
}

// endWait settles a call that was blocked on w, under the shard mutex: it
// returns the grant, or gives up and leaves no trace (no waiter, no grant
// nobody will learn of).
func (d *Driver) endWait(ctx context.Context, sh *shard, w *waiter) (*backend.AcquireResult, error) {
	s := d.store
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w.refs--

	// The caller gives up if its context is done or the driver or store
	// closed, even when the grant arrived at the same moment: a caller whose
	// context has ended is not there to use a lock.
	var giveUp error
	switch {
	case ctx.Err() != nil:
		giveUp = backend.ContextError(ctx, w.lockID)
	case d.gate.closed.Load():
		giveUp = closedError(w.lockID, "driver")
	case s.gate.closed.Load():
		giveUp = closedError(w.lockID, "store")
	}

	switch w.state {
	case waitGranted:
		if giveUp == nil {
			w.claimed = true
			return &backend.AcquireResult{Lock: exportLock(w.grant), Waited: true}, nil
		}
		if !w.claimed && w.refs == 0 {
			// Nobody will return this grant: hand it on now rather than
			// leave it held until its TTL runs out.
			if ls := sh.locks[w.lockID]; ls != nil && ls.live && ls.owner == w.clientID && ls.version == w.grant.Version {
				s.vacate(sh, ls, s.cfg.clock.Now())
			}
		}
		return nil, giveUp
	case waitTimedOut:
		return nil, &backend.Error{Code: backend.CodeTimeout, LockID: w.lockID, Message: "wait timeout passed"}
	case waitCancelled:
		return nil, &backend.Error{Code: backend.CodeCanceled, LockID: w.lockID, Message: "the wait was cancelled by CancelWait"}
	case waitLeft:
		if giveUp == nil {
			giveUp = closedError(w.lockID, "store")
		}
		return nil, giveUp
	}
	// Still waiting, so the call gives up. The last call blocked on the
	// waiter takes it out of the queue.
	if giveUp == nil {
		giveUp = &backend.Error{Code: backend.CodeInternal, LockID: w.lockID, Message: "woken while still waiting"}
	}
	if w.refs == 0 {
		if ls := sh.locks[w.lockID]; ls != nil && ls.live {
			ls.remove(w)
		}
		s.finishWaiter(w, waitLeft)
	}
	return nil, giveUp
}

// checkQueueRoom fails with CodeWaitQueueFull when ls's queue is at the
// store's limit. sh.mu must be held.
func (s *Store) checkQueueRoom(ls *lockState) *backend.Error {
	if m := s.cfg.maxWaiters; m > 0 && len(ls.queue) >= m {
		e := backend.Errorf(backend.CodeWaitQueueFull, "the wait queue holds its maximum of %d waiters", m)
		e.LockID = ls.id
		return e
	}
	return nil
}

// Release gives the lock up and hands it to the head waiter in the same
// step. It needs the owner's client ID and the grant's version:
// CodeNotLockOwner for another owner, CodeVersionMismatch for another
// version, CodeNotFound when nobody holds the lock.
func (d *Driver) Release(ctx context.Context, req *backend.ReleaseRequest) (*backend.ReleaseResult, error) {
	if err := d.admit(ctx, backend.ValidateRelease(req), func() string { return req.LockID }); err != nil {
		return nil, err
	}
	s := d.store
	sh, err := s.lockShard(req.LockID)
	if err != nil {
		return nil, err
	}
	defer sh.mu.Unlock()
	now := s.cfg.clock.Now()
	ls, err := s.owned(sh, req.LockID, req.ClientID, req.Version, now)
	if err != nil {
		return nil, err
	}
	return &backend.ReleaseResult{NextOwner: s.vacate(sh, ls, now)}, nil
}

// Renew sets the lock's expiry to now + req.TTL and keeps its version, with
// the same owner and version checks as Release.
func (d *Driver) Renew(ctx context.Context, req *backend.RenewRequest) (*backend.Lock, error) {
	s := d.store
	if err := d.admit(ctx, backend.ValidateRenew(req, s.caps), func() string { return req.LockID }); err != nil {
		return nil, err
	}
	sh, err := s.lockShard(req.LockID)
	if err != nil {
		return nil, err
	}
	now := s.cfg.clock.Now()
	ls, err := s.owned(sh, req.LockID, req.ClientID, req.Version, now)
	if err != nil {
		sh.mu.Unlock()
		return nil, err
	}
	s.setExpiry(sh, ls, now.Add(req.TTL), now)
	l := new(backend.Lock)
	ls.export(l)
	sh.mu.Unlock()
	return l, nil
}

// owned returns the lock lockID if clientID holds it at version, and the
// contract's error otherwise. sh.mu must be held.
func (s *Store) owned(sh *shard, lockID, clientID string, version int64, now time.Time) (*lockState, error) {
	ls := s.lookup(sh, lockID, now)
	switch {
	case ls == nil:
		return nil, &backend.Error{Code: backend.CodeNotFound, LockID: lockID, Message: "nobody holds the lock"}
	case ls.owner != clientID:
		return nil, &backend.Error{Code: backend.CodeNotLockOwner, LockID: lockID, Message: "held by another client"}
	case ls.version != version:
		return nil, &backend.Error{Code: backend.CodeVersionMismatch, LockID: lockID,
			Message: fmt.Sprintf("held at version %d, not %d", ls.version, version)}
	}
	return ls, nil
}

// Get describes one lock; CodeNotFound when it is neither held nor waited
// on.
func (d *Driver) Get(ctx context.Context, req *backend.GetRequest) (*backend.LockInfo, error) {
	if err := d.admit(ctx, backend.ValidateGet(req), func() string { return req.LockID }); err != nil {
		return nil, err
	}
	s := d.store
	sh, err := s.lockShard(req.LockID)
	if err != nil {
		return nil, err
	}
	ls := s.lookup(sh, req.LockID, s.cfg.clock.Now())
	if ls == nil {
		sh.mu.Unlock()
		return nil, &backend.Error{Code: backend.CodeNotFound, LockID: req.LockID, Message: "neither held nor waited on"}
	}
	info := ls.info(req.IncludeWaiters)
	sh.mu.Unlock()
	info.Metadata = backend.CloneMetadata(info.Metadata)
	return &info, nil
}
