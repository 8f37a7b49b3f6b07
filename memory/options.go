package memory

import (
	"time"

	"github.com/raftlock/raftlock/backend"
)

// Defaults of a Store made without options.
const (
	// DefaultMinTTL and DefaultMaxTTL bound the TTL of a grant
	// (Capabilities.MinTTL and MaxTTL).
	DefaultMinTTL = time.Millisecond
	DefaultMaxTTL = 24 * time.Hour

	// DefaultWaitTimeout is how long a waiter that joined through Enqueue
	// with a zero WaitTimeout stays in the queue. Such a waiter has no call
	// blocked on it, so without a bound an abandoned one would hold its place
	// for ever.
	DefaultWaitTimeout = time.Minute
)

// config is what the options set. It is comparable, so that a named store
// reached again through a URL can be checked against the options it was made
// with.
type config struct {
	clock              Clock
	maxLocks           int
	maxWaiters         int
	minTTL, maxTTL     time.Duration
	defaultWaitTimeout time.Duration
}

func defaultConfig() config {
	return config{
		clock:              sysClock,
		minTTL:             DefaultMinTTL,
		maxTTL:             DefaultMaxTTL,
		defaultWaitTimeout: DefaultWaitTimeout,
	}
}

// Option configures a Store made by NewStore.
//
// Options never fail: a value outside its range falls back to the default,
// as each option says, so that NewStore can stay error-free. The URL form
// (see the package documentation) is strict instead and rejects such values
// with CodeInvalidArgument.
type Option func(*config)

// WithClock makes the store read time from c, typically a FakeClock in
// tests. A nil c means the system clock.
func WithClock(c Clock) Option {
	return func(cfg *config) {
		if c == nil {
			c = sysClock
		}
		cfg.clock = c
	}
}

// WithMaxLocks bounds the number of lock IDs the store knows at once (held or
// waited on). An Acquire or Enqueue that would add one more fails with
// CodeResourceExhausted. Zero or less means no limit, the default.
//
// A limit costs one shared atomic counter update each time a lock ID appears
// or disappears, so leave it off where raw throughput matters more.
func WithMaxLocks(n int) Option {
	return func(cfg *config) { cfg.maxLocks = max(n, 0) }
}

// WithMaxWaiters bounds the wait queue of each lock. A client that would
// join a full queue fails with CodeWaitQueueFull. Zero or less means no
// limit, the default.
func WithMaxWaiters(n int) Option {
	return func(cfg *config) { cfg.maxWaiters = max(n, 0) }
}

// WithTTLRange sets the TTLs the store accepts (Capabilities.MinTTL and
// MaxTTL); a TTL outside them fails with CodeInvalidTTL. A bound of zero or
// less keeps its default; a max below min is raised to min.
func WithTTLRange(minTTL, maxTTL time.Duration) Option {
	return func(cfg *config) {
		if minTTL <= 0 {
			minTTL = DefaultMinTTL
		}
		if maxTTL <= 0 {
			maxTTL = DefaultMaxTTL
		}
		cfg.minTTL, cfg.maxTTL = minTTL, max(maxTTL, minTTL)
	}
}

// WithDefaultWaitTimeout sets how long a waiter that joined through Enqueue
// with a zero WaitTimeout stays queued. Zero or less keeps
// DefaultWaitTimeout; more than backend.MaxWaitTimeout is cut to it.
func WithDefaultWaitTimeout(d time.Duration) Option {
	return func(cfg *config) {
		if d <= 0 {
			d = DefaultWaitTimeout
		}
		cfg.defaultWaitTimeout = min(d, backend.MaxWaitTimeout)
	}
}
