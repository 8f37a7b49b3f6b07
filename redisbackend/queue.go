package redisbackend

import (
	"context"

	"github.com/raftlock/raftlock/backend"
)

// Enqueue puts the client in the lock's wait queue without blocking. A
// free lock with an empty queue is granted at once (Granted), and so is
// the holder's own grant returned; a client already queued gets its
// position and nothing changes. Otherwise the client joins the queue (by
// priority, then arrival) for req.WaitTimeout, or the driver's default
// wait timeout (WithDefaultWaitTimeout). When its turn comes the lock is
// granted to it with req.TTL from that moment; it learns of it through
// Acquire or Get. Position is exact: the queue is FIFO within a priority.
func (d *Driver) Enqueue(ctx context.Context, req *backend.EnqueueRequest) (*backend.EnqueueResult, error) {
	if err := d.enter(ctx, backend.ValidateEnqueue(req, d.caps), func() string { return req.LockID }); err != nil {
		return nil, err
	}
	defer d.leave()
	life := req.WaitTimeout
	if life == 0 {
		life = d.cfg.defaultWaitTimeout
	}
	areq := &backend.AcquireRequest{
		LockID: req.LockID, ClientID: req.ClientID, TTL: req.TTL, Priority: req.Priority,
		Metadata: req.Metadata, WaitTimeout: life,
	}
	// An entry made by Enqueue names no wake channel: no call of this
	// driver waits for it. A later Acquire with Wait names its own.
	r := d.run(ctx, acquireScript, req.LockID,
		req.ClientID, ttlMillis(req.TTL), encodeMetadata(req.Metadata), modeEnqueue,
		d.priority(req.Priority), life.Milliseconds(), "", d.cfg.maxWaiters, life.Milliseconds())
	if r.err != nil {
		return nil, d.mapErr(ctx, r.err, req.LockID)
	}
	pos := int(r.int(7))
	res, _, err := d.acquireAnswer(areq, r, false)
	switch {
	case err != nil:
		return nil, err
	case res != nil:
		return &backend.EnqueueResult{Granted: true, Lock: res.Lock}, nil
	}
	return &backend.EnqueueResult{Position: pos}, nil
}

// CancelWait takes the client out of the lock's wait queue; CodeNotWaiting
// if it is not in it (including when it has meanwhile been granted the
// lock, which CancelWait never releases). A call of the client's blocked
// in Acquire, in any driver, fails with CodeCanceled.
func (d *Driver) CancelWait(ctx context.Context, req *backend.CancelWaitRequest) error {
	if err := d.enter(ctx, backend.ValidateCancelWait(req), func() string { return req.LockID }); err != nil {
		return err
	}
	defer d.leave()
	r := d.run(ctx, cancelScript, req.LockID, req.ClientID)
	st := r.status()
	if r.err != nil {
		return d.mapErr(ctx, r.err, req.LockID)
	}
	if st != "ok" {
		return &backend.Error{Code: backend.CodeNotWaiting, LockID: req.LockID, Message: "the client is not in the wait queue"}
	}
	return nil
}
