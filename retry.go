package raftlock

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// RetryPolicy says which failures the client sends again and how long it
// waits in between: exponential backoff with jitter, bounded by MaxBackoff
// and always by the caller's context.
//
// A retried request carries the same RequestID as the first attempt, so a
// store that did apply the first (whose answer was lost) does not apply it
// twice.
type RetryPolicy struct {
	// MaxRetries is how many times a failed request is sent again; 0 never
	// retries.
	MaxRetries int
	// InitialBackoff is the wait before the first retry.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait between two attempts.
	MaxBackoff time.Duration
	// BackoffMultiplier grows the wait after each retry (at least 1 when
	// MaxRetries is set).
	BackoffMultiplier float64
	// JitterFactor spreads each wait uniformly over ±JitterFactor of it, in
	// [0, 1], so that clients that failed together do not retry together.
	JitterFactor float64
	// RetryableErrors lists the codes worth retrying. Empty means the
	// codes whose Retryable method is true: no leader, unavailable, rate
	// limited, not leader. A definite answer (held, not owner, bad input)
	// is never worth retrying, whatever this list says, because the same
	// request would get the same answer.
	RetryableErrors []Code
}

// DefaultRetryPolicy retries transient failures three times, waiting 50 ms,
// then 100 ms, then 200 ms, each ±20%.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxRetries:        3,
		InitialBackoff:    50 * time.Millisecond,
		MaxBackoff:        2 * time.Second,
		BackoffMultiplier: 2,
		JitterFactor:      0.2,
	}
}

// maxRetries bounds MaxRetries so that a misconfiguration cannot turn one
// call into an unbounded loop.
const maxRetries = 1000

// Validate reports a policy that cannot work, as an ErrInvalidArgument.
func (p RetryPolicy) Validate() error {
	bad := func(format string, args ...any) error {
		return &Error{Op: opConfigure, Code: backend.CodeInvalidArgument, Err: backend.Errorf(backend.CodeInvalidArgument, "retry policy: "+format, args...)}
	}
	switch {
	case p.MaxRetries < 0 || p.MaxRetries > maxRetries:
		return bad("MaxRetries %d is outside [0, %d]", p.MaxRetries, maxRetries)
	case p.InitialBackoff < 0:
		return bad("InitialBackoff %v is negative", p.InitialBackoff)
	case p.MaxBackoff < p.InitialBackoff:
		return bad("MaxBackoff %v is below InitialBackoff %v", p.MaxBackoff, p.InitialBackoff)
	case p.MaxRetries > 0 && !(p.BackoffMultiplier >= 1 && !math.IsInf(p.BackoffMultiplier, 0)):
		return bad("BackoffMultiplier %v is not a finite number of at least 1", p.BackoffMultiplier)
	case !(p.JitterFactor >= 0 && p.JitterFactor <= 1):
		return bad("JitterFactor %v is outside [0, 1]", p.JitterFactor)
	}
	for _, c := range p.RetryableErrors {
		if c.Sentinel() == nil {
			return bad("RetryableErrors holds %v, which is not a known code", c)
		}
	}
	return nil
}

// definite lists the codes that are answers, not failures to answer:
// sending the same request again cannot change them.
var definite = [...]Code{
	backend.CodeLockHeld, backend.CodeNotLockOwner, backend.CodeVersionMismatch,
	backend.CodeNotFound, backend.CodeInvalidTTL, backend.CodeInvalidArgument,
	backend.CodeWaitQueueFull, backend.CodeNotWaiting, backend.CodeClosed,
	backend.CodeNotSupported, backend.CodeCanceled,
}

// Retryable reports whether the policy sends a request that failed with code
// again.
func (p RetryPolicy) Retryable(code Code) bool {
	if slices.Contains(definite[:], code) {
		return false
	}
	if len(p.RetryableErrors) == 0 {
		return code.Retryable()
	}
	return slices.Contains(p.RetryableErrors, code)
}

// Backoff returns the wait before retry number n (0 for the first), with
// jitter drawn from the process's random source.
func (p RetryPolicy) Backoff(n int) time.Duration {
	d := float64(p.InitialBackoff) * math.Pow(max(p.BackoffMultiplier, 1), float64(n))
	if d > float64(p.MaxBackoff) || math.IsInf(d, 0) || math.IsNaN(d) {
		d = float64(p.MaxBackoff)
	}
	if p.JitterFactor > 0 {
		d *= 1 + p.JitterFactor*(2*rand.Float64()-1)
	}
	return time.Duration(d)
}

// String summarises the policy for logs.
func (p RetryPolicy) String() string {
	return fmt.Sprintf("retries=%d backoff=%v..%v x%g jitter=%g", p.MaxRetries, p.InitialBackoff, p.MaxBackoff, p.BackoffMultiplier, p.JitterFactor)
}

// sleep waits d or until ctx is done, whichever comes first, and reports
// whether the full wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
