package conformance

import (
	"context"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// Harness connects the suite to one store. The suite calls MakeDriver once
// per simulated client process: every driver it returns must reach the same
// store, so that a lock taken through one is seen as held through another.
//
// The suite closes every driver it makes. The harness owns the store itself
// and tears it down after Run returns.
//
// A harness may also implement TimingHarness and LimitsHarness; the suite
// finds them by type assertion.
type Harness interface {
	MakeDriver(ctx context.Context) (backend.Driver, error)
}

// Timing tunes the suite's clock-based checks. The zero value of each field
// means "derive it from the store's Capabilities", which suits most stores;
// a harness overrides a field through TimingHarness when its store is slower
// than the defaults assume (a store that expires leases lazily every few
// seconds, a cluster on a distant network).
//
// The suite never asserts that a store is fast. Every timing check is either
// a safety check measured from the client's own monotonic clock (a grant
// never ends before TTL has passed since its request was sent) or a bound on
// eventual progress, and the bounds below are what "eventually" means.
type Timing struct {
	// ShortTTL is the lease of tests that wait for a lock to expire. Keep it
	// short for a fast store so those tests are quick. Default: 200ms, raised
	// to Capabilities.MinTTL and rounded up with Capabilities.RoundTTL.
	ShortTTL time.Duration
	// LongTTL is the lease of locks that must outlive the test that takes
	// them. Default: 30s, bounded by the store's MinTTL and MaxTTL.
	LongTTL time.Duration
	// ExpiryGrace is how late after its TTL a store may expire a grant and
	// still pass. Default: 2s plus two TTLGranularity units.
	ExpiryGrace time.Duration
	// Patience bounds every other "eventually": a waiter waking after a
	// release, a call returning after its context is cancelled, one request
	// to the store. Default: 10s.
	Patience time.Duration
	// StressDuration is how long each mutual-exclusion test of the
	// Concurrency group hammers the store. Default: 750ms.
	StressDuration time.Duration
}

// TimingHarness is a Harness that tunes the suite's timing for its store.
type TimingHarness interface {
	Harness
	// Timing returns the timing to use with a store of these capabilities.
	// Zero fields keep their defaults.
	Timing(caps backend.Capabilities) Timing
}

// Limits are store-wide bounds that a LimitsHarness can set on a fresh store,
// so that the suite can fill them and check the typed errors of promise 7
// (ErrWaitQueueFull, ErrResourceExhausted) without disturbing other tests.
type Limits struct {
	// MaxWaiters is the largest wait queue of one lock; 0 leaves it unset.
	MaxWaiters int
	// MaxLocks is the number of lock IDs (held or waited on) the store
	// keeps; 0 leaves it unset.
	MaxLocks int
}

// LimitsHarness is a Harness that can open a separate, empty store with
// small limits. The suite's limit tests skip when the harness lacks it,
// because filling the limits of a shared store would break the other tests.
type LimitsHarness interface {
	Harness
	// WithLimits opens a fresh store that enforces lim, and returns a
	// harness that makes drivers for it and a function that tears it down.
	// The suite closes the drivers it makes before calling done.
	WithLimits(ctx context.Context, lim Limits) (h Harness, done func(), err error)
}

// withDefaults fills the zero fields of tm for a store with caps and bounds
// the TTLs by the store's range.
func (tm Timing) withDefaults(caps backend.Capabilities) Timing {
	if tm.ShortTTL <= 0 {
		tm.ShortTTL = 200 * time.Millisecond
	}
	tm.ShortTTL = fitTTL(tm.ShortTTL, caps)
	if tm.LongTTL <= 0 {
		tm.LongTTL = 30 * time.Second
	}
	tm.LongTTL = fitTTL(tm.LongTTL, caps)
	if tm.ExpiryGrace <= 0 {
		tm.ExpiryGrace = 2*time.Second + 2*caps.TTLGranularity
	}
	if tm.Patience <= 0 {
		tm.Patience = 10 * time.Second
	}
	if tm.StressDuration <= 0 {
		tm.StressDuration = 750 * time.Millisecond
	}
	return tm
}

// fitTTL raises ttl to the store's minimum, rounds it up to the store's
// granularity and bounds it by the store's maximum, so that every TTL the
// suite sends is valid.
func fitTTL(ttl time.Duration, caps backend.Capabilities) time.Duration {
	ttl = max(ttl, caps.MinTTL)
	ttl = caps.RoundTTL(ttl)
	if caps.MaxTTL > 0 && ttl > caps.MaxTTL {
		ttl = caps.MaxTTL
	}
	return ttl
}
