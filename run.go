package raftlock

import (
	"context"
	"errors"
	"time"
)

// RunWithLock takes lockID through client (waiting for it until ctx ends),
// runs fn while holding it, and gives it back when fn returns. It holds the
// lock as a client ID of its own, so two RunWithLock calls exclude each
// other even in one process. See DoWithLock.
func RunWithLock(ctx context.Context, client RaftLockClient, lockID string, ttl time.Duration, fn func(ctx context.Context) error) error {
	h, err := NewLockHandle(client, lockID, "")
	if err != nil {
		return err
	}
	return DoWithLock(ctx, h, ttl, fn)
}

// DoWithLock takes h's lock with a lease of ttl (waiting for it until ctx
// ends), runs fn, and gives the lock back when fn returns, even if ctx is
// done by then. While fn runs, an AutoRenewer renews the lease every third
// of ttl; fn's context is cancelled the moment the lease is lost, before
// the store could expire the lock, and its cause (context.Cause) then
// wraps ErrLockLost. fn must stop using what the lock protects once its
// context is done.
//
// DoWithLock returns fn's error; if the lock was lost while fn ran, the
// error also wraps ErrLockLost (errors.Join of both), so that a caller who
// ignores fn's error still learns of the loss. A failure to release after
// fn succeeded is returned too, unless the store said the grant was gone
// already.
func DoWithLock(ctx context.Context, h *LockHandle, ttl time.Duration, fn func(ctx context.Context) error) error {
	if fn == nil {
		return invalid("DoWithLock: nil function")
	}
	renewer, err := NewAutoRenewer(h, ttl/3, ttl)
	if err != nil {
		return err
	}
	if err := h.Acquire(ctx, ttl, true); err != nil {
		return err
	}
	fctx, err := renewer.Start(ctx)
	if err != nil {
		// The lease ran out between the grant and now.
		return errors.Join(ErrLockLost, err, h.giveBack(ctx))
	}
	ferr := fn(fctx)
	renewer.Stop()
	rerr := h.giveBack(ctx)
	if lost := renewer.Err(); lost != nil {
		return errors.Join(ferr, lost)
	}
	if ferr != nil {
		return ferr
	}
	return rerr
}

// giveBack releases the handle's lock with a context that outlives the
// caller's, ignoring the answers that mean there was nothing to release.
func (h *LockHandle) giveBack(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	err := h.Release(rctx)
	if err == nil || errors.Is(err, ErrNotHeld) || definiteLoss(err) {
		return nil
	}
	return err
}
