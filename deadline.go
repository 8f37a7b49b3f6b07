package raftlock

import (
	"context"
	"sync"
	"time"
)

// attemptContext bounds one attempt of a request by the client's request
// timeout.
//
// context.WithTimeout arms a timer and allocates four objects for every
// call, which is more than an in-memory lock operation costs in total. Most
// drivers never watch Done for a short call: they check Err, or hand the
// context to a transport that reads Deadline. So this context keeps the
// deadline as a value and arms a timer only when somebody asks for Done.
// Err compares the deadline with the clock, so an attempt that overran is
// still told so.
type attemptContext struct {
	context.Context           // the caller's context
	start           time.Time // carries a monotonic reading
	timeout         time.Duration
	deadline        time.Time // start + timeout

	mu         sync.Mutex
	done       chan struct{} // made on the first call to Done
	err        error
	timer      *time.Timer
	stopParent func() bool
}

// newAttemptContext returns ctx bounded by timeout, or nil when there is
// nothing to bound: timeout is not positive, or ctx already ends sooner. The
// caller calls end when the attempt is over. now is the caller's reading of
// the clock, which spares a second one.
func newAttemptContext(ctx context.Context, now time.Time, timeout time.Duration) *attemptContext {
	c := new(attemptContext)
	if !c.init(ctx, now, timeout) {
		return nil
	}
	return c
}

// init sets up a zero attemptContext in place (one that is part of a
// larger allocation) and reports whether it is needed, as newAttemptContext
// does.
func (c *attemptContext) init(ctx context.Context, now time.Time, timeout time.Duration) bool {
	if timeout <= 0 {
		return false
	}
	deadline := now.Add(timeout)
	if d, ok := ctx.Deadline(); ok && !d.After(deadline) {
		return false
	}
	c.Context, c.start, c.timeout, c.deadline = ctx, now, timeout, deadline
	return true
}

// Deadline implements context.Context.
func (c *attemptContext) Deadline() (time.Time, bool) { return c.deadline, true }

// Done implements context.Context: the first call arms the timer.
func (c *attemptContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return c.done
	}
	c.done = make(chan struct{})
	if c.checkLocked() != nil {
		close(c.done)
		return c.done
	}
	c.timer = time.AfterFunc(time.Until(c.deadline), func() { c.cancel(context.DeadlineExceeded) })
	if c.Context.Done() != nil {
		c.stopParent = context.AfterFunc(c.Context, func() { c.cancel(c.Context.Err()) })
	}
	return c.done
}

// Err implements context.Context.
func (c *attemptContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && c.checkLocked() != nil && c.done != nil {
		c.stopLocked()
		close(c.done)
	}
	return c.err
}

// checkLocked sets c.err if the parent is done or the deadline has passed.
func (c *attemptContext) checkLocked() error {
	if c.err != nil {
		return c.err
	}
	if err := c.Context.Err(); err != nil {
		c.err = err
	} else if time.Since(c.start) >= c.timeout { // reads only the monotonic clock
		c.err = context.DeadlineExceeded
	}
	return c.err
}

func (c *attemptContext) cancel(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	c.stopLocked()
	if c.done != nil {
		close(c.done)
	}
}

func (c *attemptContext) stopLocked() {
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.stopParent != nil {
		c.stopParent()
	}
}

// end is called when the attempt is over: it frees the timer, if any, and
// cancels the context, as the cancel function of context.WithTimeout does.
func (c *attemptContext) end() { c.cancel(context.Canceled) }

// String names the context in panics and logs, as the standard ones do.
func (c *attemptContext) String() string { return "raftlock.attemptContext" }
