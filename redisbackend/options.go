package redisbackend

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// Defaults of the driver's settings.
const (
	// DefaultWaiterLease is how long a blocked Acquire's queue entry lives
	// without a heartbeat. The driver renews it every third of that while
	// the call waits, so only a process that died (or stalled that long)
	// loses its place.
	DefaultWaiterLease = 10 * time.Second
	// DefaultWaitTimeout is how long a waiter that joined through Enqueue
	// with no WaitTimeout stays in the queue.
	DefaultWaitTimeout = time.Minute
	// DefaultDialTimeout bounds connecting to Redis in Open.
	DefaultDialTimeout = 5 * time.Second
	// minWaiterLease keeps the heartbeat from becoming a busy poll.
	minWaiterLease = 30 * time.Millisecond
)

// Options configures Open: where Redis is, how to reach it, and the
// driver's own settings. The zero value connects to localhost:6379,
// database 0, under DefaultPrefix.
type Options struct {
	// Addrs are host:port addresses. One address is a single Redis (or a
	// cluster, with Cluster); several are the seeds of a Redis Cluster.
	Addrs []string
	// Cluster treats a single address as the entry point of a Redis
	// Cluster.
	Cluster bool
	// DB is the database number; a cluster only has 0.
	DB int
	// Username and Password authenticate (ACL user, or the legacy
	// requirepass password with an empty Username).
	Username, Password string
	// TLSConfig, when set, makes every connection use TLS (rediss://).
	TLSConfig *tls.Config
	// DialTimeout bounds each connection attempt; DefaultDialTimeout if 0.
	DialTimeout time.Duration

	// Prefix, MaxWaiters, WaiterLease, DefaultWaitTimeout and Logger are
	// the driver settings of the Option functions of the same names.
	Prefix             string
	MaxWaiters         int
	WaiterLease        time.Duration
	DefaultWaitTimeout time.Duration
	Logger             *slog.Logger
}

// config is the driver's settings after the options are applied.
type config struct {
	prefix             string
	maxWaiters         int
	waiterLease        time.Duration
	defaultWaitTimeout time.Duration
	logger             *slog.Logger
}

func defaultConfig() config {
	return config{
		prefix:             DefaultPrefix,
		waiterLease:        DefaultWaiterLease,
		defaultWaitTimeout: DefaultWaitTimeout,
		logger:             slog.New(slog.DiscardHandler),
	}
}

// Option changes a setting of NewDriver.
type Option func(*config)

// WithPrefix puts every key of the driver under prefix (DefaultPrefix
// otherwise). Drivers with different prefixes never see each other's
// locks. A prefix is a non-empty ID without "{" or "}" (NewDriver fails
// with CodeInvalidArgument otherwise).
func WithPrefix(prefix string) Option { return func(c *config) { c.prefix = prefix } }

// WithMaxWaiters limits each lock's wait queue to n entries; a request
// that would join a full queue fails with CodeWaitQueueFull. 0 (the
// default) is no limit. Every driver of one store should use the same n.
func WithMaxWaiters(n int) Option { return func(c *config) { c.maxWaiters = max(n, 0) } }

// WithWaiterLease sets how long a blocked Acquire's queue entry outlives
// its last heartbeat (DefaultWaiterLease if d <= 0). A shorter lease lets
// the queue skip the entry of a crashed process sooner, at the cost of more
// heartbeats while waiting.
func WithWaiterLease(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			d = DefaultWaiterLease
		}
		c.waiterLease = max(d, minWaiterLease)
	}
}

// WithDefaultWaitTimeout sets how long a waiter that joined through
// Enqueue without a WaitTimeout stays queued (DefaultWaitTimeout if
// d <= 0; at most backend.MaxWaitTimeout).
func WithDefaultWaitTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			d = DefaultWaitTimeout
		}
		c.defaultWaitTimeout = min(d, backend.MaxWaitTimeout)
	}
}

// WithLogger sets where the driver reports what it cannot return as an
// error: a failed clean-up after a wait gave up, a lost subscription.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// driverOptions turns the driver settings of o into Options.
func (o *Options) driverOptions() []Option {
	opts := []Option{WithMaxWaiters(o.MaxWaiters), WithWaiterLease(o.WaiterLease),
		WithDefaultWaitTimeout(o.DefaultWaitTimeout), WithLogger(o.Logger)}
	if o.Prefix != "" {
		opts = append(opts, WithPrefix(o.Prefix))
	}
	return opts
}
