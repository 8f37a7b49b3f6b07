package redisbackend

import (
	"context"
	"fmt"

	"github.com/raftlock/raftlock/backend"
)

// ownerErr is the contract's error for a release or renew that the
// scripts refused.
func ownerErr(lockID, status string, r *reply) error {
	switch status {
	case "not_found":
		return &backend.Error{Code: backend.CodeNotFound, LockID: lockID, Message: "nobody holds the lock"}
	case "not_owner":
		return &backend.Error{Code: backend.CodeNotLockOwner, LockID: lockID, Message: "held by another client"}
	case "version":
		return &backend.Error{Code: backend.CodeVersionMismatch, LockID: lockID,
			Message: fmt.Sprintf("held at another version (%s)", r.str(r.lastIndex()))}
	}
	return backend.Errorf(backend.CodeInternal, "script answered %q", status)
}

func (r *reply) lastIndex() int { return len(r.v) - 1 }

// Release gives the lock up and, in the same script, grants it to the
// head waiter (ReleaseResult.NextOwner). It needs the owner's client ID
// and the grant's version: CodeNotLockOwner for another owner,
// CodeVersionMismatch for another version, CodeNotFound when nobody holds
// the lock (released, expired, or deleted behind the driver's back).
func (d *Driver) Release(ctx context.Context, req *backend.ReleaseRequest) (*backend.ReleaseResult, error) {
	if err := d.enter(ctx, backend.ValidateRelease(req), func() string { return req.LockID }); err != nil {
		return nil, err
	}
	defer d.leave()
	r := d.run(ctx, releaseScript, req.LockID, req.ClientID, req.Version)
	st, next := r.status(), r.str(1)
	if r.err != nil {
		return nil, d.mapErr(ctx, r.err, req.LockID)
	}
	if st != "ok" {
		return nil, ownerErr(req.LockID, st, r)
	}
	return &backend.ReleaseResult{NextOwner: next}, nil
}

// Renew sets the lock's expiry to now + req.TTL (Redis's now) and keeps
// its version, with the same checks as Release.
func (d *Driver) Renew(ctx context.Context, req *backend.RenewRequest) (*backend.Lock, error) {
	if err := d.enter(ctx, backend.ValidateRenew(req, d.caps), func() string { return req.LockID }); err != nil {
		return nil, err
	}
	defer d.leave()
	r := d.run(ctx, renewScript, req.LockID, req.ClientID, req.Version, ttlMillis(req.TTL))
	st := r.status()
	l := r.lock(req.LockID, 1)
	if r.err != nil {
		return nil, d.mapErr(ctx, r.err, req.LockID)
	}
	if st != "ok" {
		return nil, ownerErr(req.LockID, st, r)
	}
	return &l, nil
}

// Get describes the lock: its grant, if any, and its queue (the waiters
// themselves when req.IncludeWaiters). CodeNotFound when it is neither
// held nor waited on. A lease that ran out is handed to the head waiter
// before the lock is described. Stale is ignored: the driver always reads
// from the Redis it writes to.
func (d *Driver) Get(ctx context.Context, req *backend.GetRequest) (*backend.LockInfo, error) {
	if err := d.enter(ctx, backend.ValidateGet(req), func() string { return req.LockID }); err != nil {
		return nil, err
	}
	defer d.leave()
	info, err := d.describe(newReply(getScript.Run(ctx, d.client, d.keys.lockKeys(req.LockID), req.LockID, boolArg(req.IncludeWaiters)).Result()), req.LockID)
	if err != nil {
		return nil, d.mapErr(ctx, err, req.LockID)
	}
	return info, nil
}

// describe reads the get script's reply.
func (d *Driver) describe(r *reply, lockID string) (*backend.LockInfo, error) {
	st := r.status()
	if r.err != nil {
		return nil, r.err
	}
	if st == "not_found" {
		return nil, &backend.Error{Code: backend.CodeNotFound, LockID: lockID, Message: "neither held nor waited on"}
	}
	info := &backend.LockInfo{Lock: r.lock(lockID, 1), WaiterCount: int(r.int(6))}
	info.Held = info.Owner != ""
	ws, err := r.waiters(8)
	if err != nil {
		return nil, err
	}
	info.Waiters = ws
	return info, nil
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
