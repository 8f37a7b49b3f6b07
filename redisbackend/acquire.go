package redisbackend

import (
	"context"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/redis/go-redis/v9"
)

// Modes of the acquire script (see acquireSrc).
const (
	modeTry     = "try"
	modeWait    = "wait"
	modePoll    = "poll"
	modeEnqueue = "enqueue"
)

// minPoll is the shortest a blocked call sleeps between two checks, the
// smallest backoff BackoffAdvice ever gives (backend.AdviseBackoff(0)). Each check is made when the
// holder's lease could have ended (the owner key's PTTL), so the floor
// only matters when that is at hand.
const minPoll = 5 * time.Millisecond

// run runs a lock script with the lock's keys and ARGV[1] = lockID: one
// EVALSHA, one round trip. Only when Redis has lost the script (NOSCRIPT,
// after SCRIPT FLUSH or a restart) does it send EVAL, which caches it
// again.
//
// It builds the command itself rather than through Script.Run: the
// arguments go into one slice that go-redis sends as it is, and the keys
// are pointers into one array (see keyspace.lockKeyArgs), so a call
// allocates a few objects rather than one per key and argument twice over.
func (d *Driver) run(ctx context.Context, s *redis.Script, lockID string, args ...any) *reply {
	cmdArgs := make([]any, 0, 3+numLockKeys+1+len(args))
	cmdArgs = append(cmdArgs, "evalsha", s.Hash(), numLockKeys)
	cmdArgs = d.keys.appendLockKeyArgs(cmdArgs, lockID)
	cmdArgs = append(cmdArgs, lockID)
	cmdArgs = append(cmdArgs, args...)
	cmd := redis.NewCmd(ctx, cmdArgs...)
	cmd.SetFirstKeyPos(3)
	_ = d.client.Process(ctx, cmd)
	v, err := cmd.Result()
	if isNoScript(err) {
		argv := make([]any, 0, 1+len(args))
		argv = append(argv, lockID)
		argv = append(argv, args...)
		v, err = s.Run(ctx, d.client, d.keys.lockKeys(lockID), argv...).Result()
	}
	return newReply(v, err)
}

// acquire runs the acquire script in mode for req. life is the lifetime
// of a queue entry the call creates or refreshes.
func (d *Driver) acquire(ctx context.Context, req *backend.AcquireRequest, mode string, life time.Duration) *reply {
	return d.run(ctx, acquireScript, req.LockID,
		req.ClientID, ttlMillis(req.TTL), encodeMetadata(req.Metadata), mode,
		d.priority(req.Priority), life.Milliseconds(), d.wake.channel, d.cfg.maxWaiters,
		req.WaitTimeout.Milliseconds())
}

// priority is the priority the queue uses; the validation has bounded it.
func (d *Driver) priority(p int32) int32 {
	if !d.caps.Priorities {
		return 0
	}
	return p
}

// Acquire grants the lock if it is free, returns the current grant
// (AlreadyHeld) if req.ClientID holds it, and otherwise fails with
// CodeLockHeld or, with req.Wait, waits in the lock's queue until it is
// granted the lock, its WaitTimeout passes (CodeTimeout), ctx ends, or the
// driver closes (CodeClosed). A free lock with waiters goes to the head
// waiter, not to the caller.
func (d *Driver) Acquire(ctx context.Context, req *backend.AcquireRequest) (*backend.AcquireResult, error) {
	if err := d.enter(ctx, backend.ValidateAcquire(req, d.caps), func() string { return req.LockID }); err != nil {
		return nil, err
	}
	defer d.leave()
	if req.Wait {
		return d.wait(ctx, req)
	}
	r := d.acquire(ctx, req, modeTry, 0)
	if r.err != nil {
		return nil, d.mapErr(ctx, r.err, req.LockID)
	}
	res, _, err := d.acquireAnswer(req, r, false)
	return res, err
}

// acquireAnswer reads an acquire script's reply. queued reports whether
// the call had already joined the queue before this reply; pttl is the
// holder's remaining lease when the caller (still) waits.
func (d *Driver) acquireAnswer(req *backend.AcquireRequest, r *reply, queued bool) (res *backend.AcquireResult, pttl time.Duration, err error) {
	st := r.status()
	if st == "new" {
		// acquireFast's short reply: the lock was free and nobody waited.
		// Owner, TTL and metadata are the ones this call sent.
		ver, at := r.int(1), r.int(2)
		if r.err != nil {
			return nil, 0, r.err
		}
		return &backend.AcquireResult{Lock: backend.Lock{
			LockID: req.LockID, Owner: req.ClientID, Version: ver,
			AcquiredAt: msTime(at), ExpiresAt: msTime(at + ttlMillis(req.TTL)),
			Metadata: backend.CloneMetadata(req.Metadata),
		}, Waited: queued}, 0, nil
	}
	l := r.lock(req.LockID, 1)
	pttl = time.Duration(r.int(6)) * time.Millisecond
	if r.err != nil {
		return nil, 0, r.err
	}
	switch st {
	case "granted":
		return &backend.AcquireResult{Lock: l, Waited: queued}, 0, nil
	case "promoted":
		return &backend.AcquireResult{Lock: l, Waited: true}, 0, nil
	case "mine":
		// Before the call queued, a grant the caller holds is one it
		// held before it asked; once queued, it is the grant the queue
		// made for this call.
		return &backend.AcquireResult{Lock: l, Waited: queued, AlreadyHeld: !queued}, 0, nil
	case "held":
		return nil, 0, &backend.Error{Code: backend.CodeLockHeld, LockID: req.LockID, Owner: l.Owner}
	case "queued":
		return nil, pttl, nil
	case "full":
		return nil, 0, &backend.Error{Code: backend.CodeWaitQueueFull, LockID: req.LockID,
			Message: "the wait queue is at its limit"}
	case "gone":
		return nil, 0, &backend.Error{Code: backend.CodeCanceled, LockID: req.LockID,
			Message: "the waiter was removed from the queue (CancelWait, or its entry lapsed)"}
	}
	return nil, 0, backend.Errorf(backend.CodeInternal, "acquire script answered %q", st)
}

// wait is Acquire with Wait. The call joins the queue once, then sleeps
// until its driver hears that the lock was handed to it, until the
// holder's lease could have ended (Redis expires the owner key without
// telling anyone, so the call checks then, and its check hands the lock
// to the head of the queue), or until its heartbeat is due. Each check is
// one script that also renews the entry's lifetime, so a process that
// dies while waiting drops out of the queue within the waiter lease.
func (d *Driver) wait(ctx context.Context, req *backend.AcquireRequest) (*backend.AcquireResult, error) {
	if err := d.wake.subscribe(ctx); err != nil {
		return nil, d.mapErr(ctx, err, req.LockID)
	}
	key := waitKey{req.LockID, req.ClientID}
	woken := d.wake.add(key)
	defer d.wake.remove(key, woken)

	var deadline <-chan time.Time
	if req.WaitTimeout > 0 {
		t := time.NewTimer(req.WaitTimeout)
		defer t.Stop()
		deadline = t.C
	}
	heartbeat := d.cfg.waiterLease / 3
	timer := time.NewTimer(heartbeat)
	defer timer.Stop()

	mode := modeWait
	for {
		r := d.acquire(ctx, req, mode, d.cfg.waiterLease)
		if r.err != nil {
			// The script may have run although its answer was lost (a
			// cancelled ctx, a broken connection): leave no waiter and, once
			// queued, no grant made for this call behind.
			return nil, d.giveUp(ctx, req, mode == modePoll, d.mapErr(ctx, r.err, req.LockID))
		}
		res, pttl, err := d.acquireAnswer(req, r, mode == modePoll)
		if res != nil || err != nil {
			return res, err
		}
		mode = modePoll
		timer.Reset(min(max(pttl+time.Millisecond, minPoll), heartbeat))
		select {
		case <-woken:
		case <-timer.C:
		case <-deadline:
			return nil, d.giveUp(ctx, req, true, &backend.Error{Code: backend.CodeTimeout, LockID: req.LockID, Message: "wait timeout passed"})
		case <-ctx.Done():
			return nil, d.giveUp(ctx, req, true, backend.ContextError(ctx, req.LockID))
		case <-d.done:
			return nil, d.giveUp(ctx, req, true, errClosed(req.LockID))
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// giveUp takes a call that stops waiting out of the queue, or, when it
// had queued, releases the grant the queue made for it meanwhile, and
// returns why it stopped. It runs after ctx may have ended, so it has a
// deadline of its own.
func (d *Driver) giveUp(ctx context.Context, req *backend.AcquireRequest, queued bool, why error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	r := d.run(cctx, leaveScript, req.LockID, req.ClientID, boolArg(queued))
	if r.err != nil {
		// The entry lapses within the waiter lease, and a grant within its
		// TTL; nothing is held for ever.
		d.cfg.logger.Warn("redisbackend: a waiter that gave up could not leave the queue",
			"lock", req.LockID, "client", req.ClientID, "err", r.err)
	}
	return why
}
