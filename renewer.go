package raftlock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// ErrRenewerStopped is the cause of the cancellation of an AutoRenewer's
// context after Stop (read it with context.Cause).
var ErrRenewerStopped = errors.New("raftlock: auto-renewer stopped")

// RenewerOption configures an AutoRenewer. WithClock is one.
type RenewerOption interface{ applyRenewer(*renewerConfig) }

type renewerConfig struct {
	clock      Clock
	minBackoff time.Duration
}

// WithRetryBackoff sets the first pause between two attempts of a renewal
// that failed with a transient error (default 50ms, or a tenth of the
// interval if that is shorter); each further pause doubles, up to the
// interval, and none reaches past the lease's deadline.
func WithRetryBackoff(d time.Duration) RenewerOption { return retryBackoffOption(d) }

type retryBackoffOption time.Duration

func (o retryBackoffOption) applyRenewer(c *renewerConfig) {
	if o > 0 {
		c.minBackoff = time.Duration(o)
	}
}

// AutoRenewer keeps a LockHandle's lease alive: it renews every interval,
// retries a renewal that failed for a transient reason (the store
// unreachable, a leader election) with backoff for as long as the lease
// still runs, and gives up only when the lease is lost: the store says the
// grant is gone, or the local deadline passes before a renewal is
// confirmed. It then closes Done, sets Err (which wraps ErrLockLost and the
// cause) and cancels the context Start handed out, before the store could
// have expired the lock.
//
// An AutoRenewer is safe for concurrent use and runs once: after it stops,
// make a new one.
type AutoRenewer struct {
	h          *LockHandle
	interval   time.Duration
	ttl        time.Duration
	clock      Clock
	minBackoff time.Duration

	mu      sync.Mutex
	started bool
	cancel  context.CancelCauseFunc // of the context Start handed out
	quit    chan struct{}           // closed by Stop
	done    chan struct{}           // closed when the loop has ended
	err     error
}

// NewAutoRenewer returns a renewer that extends h's lease to ttl every
// interval once started. interval must be positive and shorter than ttl
// (a third of it is a good choice: two retries fit in a lease); otherwise,
// or for a nil handle, it fails with ErrInvalidArgument.
func NewAutoRenewer(h *LockHandle, interval, ttl time.Duration, opts ...RenewerOption) (*AutoRenewer, error) {
	switch {
	case h == nil:
		return nil, invalid("NewAutoRenewer: nil lock handle")
	case interval <= 0:
		return nil, invalid("NewAutoRenewer: renewal interval %v is not positive", interval)
	case interval >= ttl:
		return nil, invalid("NewAutoRenewer: renewal interval %v is not shorter than the TTL %v", interval, ttl)
	}
	if e := backend.ValidateTTL(h.lockID, ttl, h.client.Capabilities()); e != nil {
		return nil, e
	}
	cfg := renewerConfig{clock: h.clock, minBackoff: min(50*time.Millisecond, interval/10)}
	for _, o := range opts {
		if o != nil {
			o.applyRenewer(&cfg)
		}
	}
	return &AutoRenewer{
		h: h, interval: interval, ttl: ttl, clock: cfg.clock, minBackoff: cfg.minBackoff,
		quit: make(chan struct{}), done: make(chan struct{}),
	}, nil
}

// Start begins renewing and returns a context, derived from ctx, that is
// cancelled when the lease is lost (its cause, from context.Cause, is the
// same error as Err) or the renewer stops. It fails with ErrNotHeld when
// the handle holds no trusted lease, and with ErrInvalidArgument when the
// renewer was started before. The renewer also stops when ctx ends.
func (r *AutoRenewer) Start(ctx context.Context) (context.Context, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return nil, invalid("AutoRenewer.Start: already started")
	}
	g := r.h.current()
	if g == nil {
		return nil, r.h.notHeld()
	}
	r.started = true
	lctx, cancel := context.WithCancelCause(ctx)
	r.cancel = cancel
	go r.loop(lctx, g)
	return lctx, nil
}

// Stop stops renewing and returns once no renewal is in flight; an
// attempt under way is abandoned. The lock stays held until its lease runs
// out or the handle releases it. Stop cancels the context Start handed out
// (with cause ErrRenewerStopped) and leaves Err as it was: nil unless the
// lease was lost first. Stop may be called more than once, and before
// Start.
func (r *AutoRenewer) Stop() {
	r.mu.Lock()
	select {
	case <-r.quit:
	default:
		close(r.quit)
	}
	started := r.started
	r.started = true // a later Start would find nothing to renew
	if !started {
		r.finishLocked(nil, ErrRenewerStopped)
	}
	if r.cancel != nil {
		// Abandons an attempt in flight, so that the loop ends now.
		r.cancel(ErrRenewerStopped)
	}
	r.mu.Unlock()
	<-r.done
}

// Done is closed when the renewer has stopped: lease lost, Stop, or the
// context given to Start ended.
func (r *AutoRenewer) Done() <-chan struct{} { return r.done }

// Err is why the renewer stopped: an error wrapping ErrLockLost and its
// cause when the lease was lost, nil when it was stopped or still runs.
func (r *AutoRenewer) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// finishLocked records how the renewer ended, once.
func (r *AutoRenewer) finishLocked(err, cause error) {
	select {
	case <-r.done:
		return
	default:
	}
	r.err = err
	if r.cancel != nil {
		r.cancel(cause)
	}
	close(r.done)
}

func (r *AutoRenewer) finish(err, cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finishLocked(err, cause)
}

// lost is the error of a renewer whose grant g was lost.
func (r *AutoRenewer) lost(g *grant) error {
	r.h.mu.Lock()
	cause := g.cause
	r.h.mu.Unlock()
	return fmt.Errorf("%w: %s: %w", ErrLockLost, r.h.lockID, cause)
}

func (r *AutoRenewer) loop(ctx context.Context, g *grant) {
	for {
		if !r.pause(ctx, g, r.interval) {
			r.end(ctx, g)
			return
		}
		if !r.renew(ctx, g) {
			r.end(ctx, g)
			return
		}
	}
}

// end finishes the loop: lost if g's lease was, stopped otherwise.
func (r *AutoRenewer) end(ctx context.Context, g *grant) {
	select {
	case <-g.lost:
		err := r.lost(g)
		r.finish(err, err)
		return
	default:
	}
	cause := context.Cause(ctx)
	select {
	case <-r.quit:
		cause = ErrRenewerStopped
	default:
	}
	r.finish(nil, cause)
}

// renew renews g until one attempt succeeds, pausing between attempts
// that fail for a transient reason. It reports false when the loop must
// end: the lease was lost, or the renewer was stopped.
func (r *AutoRenewer) renew(ctx context.Context, g *grant) bool {
	backoff := r.minBackoff
	for {
		// An attempt never outlives the lease: when the lease is lost
		// (its deadline passed), the attempt is abandoned.
		actx, cancel := context.WithCancel(ctx)
		stop := afterClose(g.lost, cancel)
		err := r.h.renew(actx, g, r.ttl)
		stop()
		cancel()
		if err == nil {
			return true
		}
		select {
		case <-g.lost:
			return false
		default:
		}
		if errors.Is(err, ErrLockLost) {
			return false
		}
		if !r.pause(ctx, g, backoff) {
			return false
		}
		backoff = min(2*backoff, r.interval)
	}
}

// pause waits d on the renewer's clock; it reports false if the lease was
// lost, the renewer stopped, or ctx ended first.
func (r *AutoRenewer) pause(ctx context.Context, g *grant, d time.Duration) bool {
	fired := make(chan struct{})
	t := r.clock.AfterFunc(d, func() { close(fired) })
	defer t.Stop()
	select {
	case <-fired:
		return true
	case <-g.lost:
	case <-r.quit:
	case <-ctx.Done():
	}
	return false
}

// afterClose calls f when ch is closed, unless the returned stop is called
// first.
func afterClose(ch <-chan struct{}, f func()) (stop func()) {
	quit := make(chan struct{})
	go func() {
		select {
		case <-ch:
			f()
		case <-quit:
		}
	}()
	return func() { close(quit) }
}
