package raftbackend

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// Capabilities: FIFO with priorities, server-side waits, metadata,
// replicated, exact TTLs within the configured range.
func (n *Node) Capabilities() backend.Capabilities { return n.caps }

// Acquire grants the lock, returns the caller's current grant
// (AlreadyHeld), fails with CodeLockHeld, or with Wait queues the caller
// and returns when the lock is handed to it. A waiting call whose ctx ends
// leaves the queue (or, if the lock reached it meanwhile, releases it)
// before returning. On a node that loses leadership meanwhile the call
// fails with CodeNotLeader; the client re-sends it with the same RequestID
// to the new leader, which finds the caller still in its place.
func (n *Node) Acquire(ctx context.Context, req *backend.AcquireRequest) (*backend.AcquireResult, error) {
	if e := backend.ValidateAcquire(req, n.caps); e != nil {
		return nil, e
	}
	ep, err := n.gate(ctx, req.LockID)
	if err != nil {
		return nil, err
	}
	timeout := req.WaitTimeout
	if dl, ok := ctx.Deadline(); ok && req.Wait && timeout == 0 {
		// The caller will not wait past its deadline, so neither need its
		// place in the queue: should this node die with the call, the
		// waiter leaves on time instead of being granted a lock nobody
		// takes.
		timeout = max(time.Until(dl), time.Millisecond)
	}
	cmd := command{
		kind: cmdAcquire, wait: req.Wait, priority: req.Priority,
		ttl: int64(req.TTL), timeout: int64(timeout),
		lockID: req.LockID, clientID: req.ClientID, requestID: req.RequestID,
		md: backend.CloneMetadata(req.Metadata),
	}
	if !req.Wait {
		res, err := n.batch.propose(ctx, cmd)
		if err != nil {
			return nil, err
		}
		return acquireAnswer(res)
	}

	k := waitKey{req.LockID, req.ClientID}
	slot := n.waits.attach(k)
	res, err := n.batch.propose(ctx, cmd)
	if err != nil {
		if ctx.Err() != nil {
			n.giveUp(k, slot)
		} else {
			n.waits.detach(k, slot)
		}
		return nil, err
	}
	if res.err != nil || res.outcome != outQueued {
		n.waits.detach(k, slot)
		return acquireAnswer(res)
	}
	n.settle(k, slot)

	select {
	case <-slot.fired:
	case <-ctx.Done():
		n.giveUp(k, slot)
		return nil, backend.ContextError(ctx, req.LockID)
	case <-ep.lost:
		n.waits.detach(k, slot)
		return nil, n.notLeader(req.LockID)
	case <-n.stopped:
		n.waits.detach(k, slot)
		return nil, closedNode(req.LockID)
	}
	ev := slot.ev
	if ev.kind == evGranted {
		// Claimed before this call lets go, so that another call on the
		// same place that gives up later does not release the grant.
		n.waits.claim(slot)
	}
	n.waits.detach(k, slot)
	switch ev.kind {
	case evGranted:
		l := ev.lock
		l.Metadata = backend.CloneMetadata(l.Metadata)
		return &backend.AcquireResult{Lock: l, Waited: true}, nil
	case evTimedOut:
		return nil, &backend.Error{Code: backend.CodeTimeout, LockID: req.LockID, Message: "the wait timeout passed"}
	default:
		return nil, &backend.Error{Code: backend.CodeCanceled, LockID: req.LockID, Message: "the wait was cancelled"}
	}
}

// settle fires slot now if the waiter's fate was decided before the slot
// could hear of it: a request sent again answers from the dedupe table
// ("queued") although the grant, or the timeout, may have come since.
func (n *Node) settle(k waitKey, slot *waitSlot) {
	n.fsm.mu.RLock()
	defer n.fsm.mu.RUnlock()
	n.waits.mu.Lock()
	defer n.waits.mu.Unlock()
	if slot.done() {
		return
	}
	l := n.fsm.locks[k.lockID]
	switch {
	case l != nil && l.owner == k.clientID:
		slot.fire(waitEvent{kind: evGranted, lockID: k.lockID, clientID: k.clientID, lock: l.grant()})
	case l == nil || l.find(k.clientID) < 0:
		slot.fire(waitEvent{kind: evTimedOut, lockID: k.lockID, clientID: k.clientID})
	default:
		return
	}
	if n.waits.m[k] == slot {
		delete(n.waits.m, k)
	}
}

// giveUp is the end of a waiting call whose ctx is done. The last call on
// a place in the queue takes the client out of it; if the lock was handed
// to it and no other call returned that grant, it releases the grant, so
// that no grant is left to a caller who has gone.
func (n *Node) giveUp(k waitKey, slot *waitSlot) {
	if !n.waits.leave(slot) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !slot.done() {
		// The slot stays registered until the cancel is applied, so a
		// grant made just before it still reaches the slot.
		n.batch.propose(ctx, command{kind: cmdCancelWait, lockID: k.lockID, clientID: k.clientID})
	}
	n.waits.forget(k, slot)
	n.waits.mu.Lock()
	release := slot.done() && slot.ev.kind == evGranted && !slot.claimed
	n.waits.mu.Unlock()
	if release {
		l := slot.ev.lock
		n.batch.propose(ctx, command{kind: cmdRelease, lockID: l.LockID, clientID: l.Owner, version: l.Version})
	}
}

// acquireAnswer turns an Acquire's immediate answer into the driver's: a
// grant, the caller's existing grant, or an error. "Queued" is not an
// immediate answer; a caller that can wait handles it before.
func acquireAnswer(res result) (*backend.AcquireResult, error) {
	if res.err != nil {
		return nil, copyError(res.err)
	}
	if res.outcome == outQueued {
		return nil, &backend.Error{Code: backend.CodeLockHeld, Message: "queued"}
	}
	l := res.lock
	l.Metadata = backend.CloneMetadata(l.Metadata)
	return &backend.AcquireResult{Lock: l, AlreadyHeld: res.outcome == outAlreadyHeld}, nil
}

// copyError gives the caller its own copy of a stored answer's error, which
// the dedupe table may hand out again.
func copyError(e *backend.Error) *backend.Error {
	c := *e
	return &c
}

// Release ends the caller's grant and hands the lock to the head waiter in
// the same log entry.
func (n *Node) Release(ctx context.Context, req *backend.ReleaseRequest) (*backend.ReleaseResult, error) {
	if e := backend.ValidateRelease(req); e != nil {
		return nil, e
	}
	if _, err := n.gate(ctx, req.LockID); err != nil {
		return nil, err
	}
	res, err := n.batch.propose(ctx, command{kind: cmdRelease, lockID: req.LockID, clientID: req.ClientID,
		version: req.Version, requestID: req.RequestID})
	if err != nil {
		return nil, err
	}
	if res.err != nil {
		return nil, copyError(res.err)
	}
	return &backend.ReleaseResult{NextOwner: res.next}, nil
}

// Renew extends the caller's grant to the leader's Now + TTL.
func (n *Node) Renew(ctx context.Context, req *backend.RenewRequest) (*backend.Lock, error) {
	if e := backend.ValidateRenew(req, n.caps); e != nil {
		return nil, e
	}
	if _, err := n.gate(ctx, req.LockID); err != nil {
		return nil, err
	}
	res, err := n.batch.propose(ctx, command{kind: cmdRenew, lockID: req.LockID, clientID: req.ClientID,
		version: req.Version, ttl: int64(req.TTL), requestID: req.RequestID})
	if err != nil {
		return nil, err
	}
	if res.err != nil {
		return nil, copyError(res.err)
	}
	l := res.lock
	l.Metadata = backend.CloneMetadata(l.Metadata)
	return &l, nil
}

// Enqueue puts the caller in the queue without blocking (see
// backend.EnqueueRequest); a WaitTimeout of zero takes the node's
// Config.DefaultWaitTimeout.
func (n *Node) Enqueue(ctx context.Context, req *backend.EnqueueRequest) (*backend.EnqueueResult, error) {
	if e := backend.ValidateEnqueue(req, n.caps); e != nil {
		return nil, e
	}
	if _, err := n.gate(ctx, req.LockID); err != nil {
		return nil, err
	}
	timeout := req.WaitTimeout
	if timeout == 0 {
		timeout = n.cfg.DefaultWaitTimeout
	}
	res, err := n.batch.propose(ctx, command{kind: cmdEnqueue, priority: req.Priority, ttl: int64(req.TTL),
		timeout: int64(timeout), lockID: req.LockID, clientID: req.ClientID, requestID: req.RequestID,
		md: backend.CloneMetadata(req.Metadata)})
	if err != nil {
		return nil, err
	}
	if res.err != nil {
		return nil, copyError(res.err)
	}
	if res.outcome == outQueued {
		return &backend.EnqueueResult{Position: res.position}, nil
	}
	l := res.lock
	l.Metadata = backend.CloneMetadata(l.Metadata)
	return &backend.EnqueueResult{Granted: true, Lock: l}, nil
}

// CancelWait takes the caller out of the queue; calls blocked on its place
// fail with CodeCanceled.
func (n *Node) CancelWait(ctx context.Context, req *backend.CancelWaitRequest) error {
	if e := backend.ValidateCancelWait(req); e != nil {
		return e
	}
	if _, err := n.gate(ctx, req.LockID); err != nil {
		return err
	}
	res, err := n.batch.propose(ctx, command{kind: cmdCancelWait, lockID: req.LockID, clientID: req.ClientID,
		requestID: req.RequestID})
	if err != nil {
		return err
	}
	if res.err != nil {
		return copyError(res.err)
	}
	return nil
}

// readable makes a read linearizable unless it may be stale: the node must
// lead, confirm it with a quorum, and have applied everything committed
// when the read began.
func (n *Node) readable(ctx context.Context, lockID string, stale bool) error {
	if n.closed.Load() {
		return closedNode(lockID)
	}
	if stale {
		return nil
	}
	if _, err := n.gate(ctx, lockID); err != nil {
		return err
	}
	commit := n.raft.CommitIndex()
	verified := make(chan error, 1)
	go func() { verified <- n.raft.VerifyLeader().Error() }()
	select {
	case err := <-verified:
		if err != nil {
			return n.applyError(err)
		}
	case <-ctx.Done():
		return backend.ContextError(ctx, lockID)
	}
	for n.raft.AppliedIndex() < commit {
		select {
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
			return backend.ContextError(ctx, lockID)
		}
	}
	return nil
}

// Get reads one lock's state, linearizably unless req.Stale.
func (n *Node) Get(ctx context.Context, req *backend.GetRequest) (*backend.LockInfo, error) {
	if e := backend.ValidateGet(req); e != nil {
		return nil, e
	}
	if err := n.readable(ctx, req.LockID, req.Stale); err != nil {
		return nil, err
	}
	n.fsm.mu.RLock()
	defer n.fsm.mu.RUnlock()
	l := n.fsm.locks[req.LockID]
	if l == nil {
		return nil, &backend.Error{Code: backend.CodeNotFound, LockID: req.LockID, Message: "the lock is not held"}
	}
	info := l.info(req.IncludeWaiters)
	info.Metadata = backend.CloneMetadata(info.Metadata)
	return &info, nil
}

// List returns one page of locks in lock-ID order.
func (n *Node) List(ctx context.Context, req *backend.ListRequest) (*backend.ListResult, error) {
	if e := backend.ValidateList(req); e != nil {
		return nil, e
	}
	if req.Cursor != "" {
		if _, e := backend.DecodeCursor(req.Cursor); e != nil {
			return nil, e
		}
	}
	if err := n.readable(ctx, "", req.Stale); err != nil {
		return nil, err
	}
	n.fsm.mu.RLock()
	matches := make([]backend.LockInfo, 0, min(len(n.fsm.locks), 1024))
	for _, l := range n.fsm.locks {
		info := l.info(false)
		if !backend.MatchFilter(&req.Filter, &info) {
			continue
		}
		if req.IncludeWaiters {
			info = l.info(true)
		}
		matches = append(matches, info)
	}
	n.fsm.mu.RUnlock()
	slices.SortFunc(matches, func(a, b backend.LockInfo) int { return strings.Compare(a.LockID, b.LockID) })
	res, err := backend.Page(matches, req)
	if err != nil {
		return nil, err
	}
	for i := range res.Locks {
		res.Locks[i].Metadata = backend.CloneMetadata(res.Locks[i].Metadata)
	}
	return res, nil
}
