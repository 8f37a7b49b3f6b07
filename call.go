package raftlock

import (
	"context"
	"log/slog"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// spec describes one client operation to call.
type spec struct {
	op      Op
	lockID  string
	timeout time.Duration // per attempt; 0 for none
	// waiting marks an Acquire that queues: its ErrTimeout means the wait
	// ran out, which no retry policy should turn into a second wait.
	waiting bool
	// quiet leaves failures out of the metrics, for the tries of a polled
	// wait, whose outcome is recorded once, at its end.
	quiet bool
}

// call sends req through fn under the retry policy: each attempt bounded
// by s.timeout, transient failures sent again (with the same request, so
// the same RequestID) after a backoff that honours ctx. It returns the
// moment the first attempt was sent, from which the caller counts a lease.
// A failure is returned as an *Error and recorded in the metrics; a
// success is left for the caller to record.
//
// fn is a method value on the driver; it does not escape, so calling
// through it costs no allocation.
func call[Req, Res any](c *Client, ctx context.Context, s spec, req *Req, fn func(context.Context, *Req) (Res, error)) (Res, time.Time, error) {
	return callIn(c, ctx, s, req, nil, fn)
}

// frame holds a call's private copy of its request and the context of its
// first attempt in one allocation: on the memory store the client's own
// allocations are a good part of an operation's cost.
type frame[Req any] struct {
	req Req
	ctx attemptContext
}

// callIn is call with the first attempt's context taken from first, a zero
// attemptContext, when first is not nil.
func callIn[Req, Res any](c *Client, ctx context.Context, s spec, req *Req, first *attemptContext, fn func(context.Context, *Req) (Res, error)) (Res, time.Time, error) {
	sent := time.Now()
	policy := c.policy.Load()
	now := sent
	for attempt := 1; ; attempt++ {
		actx := ctx
		var ac *attemptContext
		if attempt == 1 && first != nil {
			if first.init(ctx, now, s.timeout) {
				ac = first
			}
		} else {
			ac = newAttemptContext(ctx, now, s.timeout)
		}
		if ac != nil {
			actx = ac
		}
		res, err := fn(actx, req)
		if ac != nil {
			ac.end()
		}
		if err == nil {
			return res, sent, nil
		}
		if ctx.Err() != nil {
			// The caller gave up; whatever the driver made of that, the
			// caller's reason is the answer.
			err = backend.ContextError(ctx, s.lockID)
		}
		code := backend.CodeOf(err)
		if attempt > policy.MaxRetries || !policy.Retryable(code) || (s.waiting && code == backend.CodeTimeout) {
			var zero Res
			if attempt > 1 && policy.Retryable(code) && c.log.Enabled(ctx, slog.LevelWarn) {
				c.log.LogAttrs(ctx, slog.LevelWarn, "raftlock: giving up after retries",
					slog.String("op", s.op.String()), slog.String("lock", s.lockID),
					slog.Int("attempts", attempt), slog.String("err", err.Error()))
			}
			if s.quiet {
				return zero, sent, newError(s.op, s.lockID, attempt, err)
			}
			return zero, sent, c.fail(s.op, s.lockID, sent, attempt, err)
		}
		wait := policy.Backoff(attempt - 1)
		if ra := retryAfter(err); ra > wait {
			wait = ra
		}
		c.metrics.IncrRetry(s.op)
		if c.log.Enabled(ctx, slog.LevelDebug) {
			c.log.LogAttrs(ctx, slog.LevelDebug, "raftlock: retrying",
				slog.String("op", s.op.String()), slog.String("lock", s.lockID),
				slog.Int("attempt", attempt), slog.Duration("backoff", wait), slog.String("err", err.Error()))
		}
		ok := sleep(ctx, wait)
		now = time.Now()
		if !ok {
			var zero Res
			err = backend.ContextError(ctx, s.lockID)
			if s.quiet {
				return zero, sent, newError(s.op, s.lockID, attempt, err)
			}
			return zero, sent, c.fail(s.op, s.lockID, sent, attempt, err)
		}
	}
}

// retryAfter is the store's hint for the next attempt, if it gave one.
func retryAfter(err error) time.Duration {
	if e, ok := err.(*backend.Error); ok {
		return e.RetryAfter
	}
	return 0
}

// succeed records a success of op that started at start.
func (c *Client) succeed(op Op, start time.Time) {
	c.metrics.IncrSuccess(op)
	c.observe(op, nil, time.Since(start))
}

// observe records an operation's latency, with its outcome when the
// metrics take it.
func (c *Client) observe(op Op, err error, d time.Duration) {
	if o, ok := c.metrics.(OutcomeObserver); ok {
		o.ObserveOutcome(op, err, d)
		return
	}
	c.metrics.ObserveLatency(op, d)
}

// record records the outcome of op, which failed with err if err is not nil.
func (c *Client) record(op Op, start time.Time, err error) {
	if err == nil {
		c.succeed(op, start)
		return
	}
	c.metrics.IncrFailure(op, backend.CodeOf(err))
	c.observe(op, err, time.Since(start))
}

// reject records a request refused before it was sent (bad input, a
// closed client, a missing capability) and returns it as an *Error.
func (c *Client) reject(op Op, lockID string, err error) error {
	e := newError(op, lockID, 0, err)
	c.metrics.IncrFailure(op, e.Code)
	return e
}

// fail records a failure of op and returns it as an *Error.
func (c *Client) fail(op Op, lockID string, start time.Time, attempts int, err error) error {
	e := newError(op, lockID, attempts, err)
	c.record(op, start, e)
	return e
}
