package raftlock

import (
	"context"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// Config is everything a Client is built from. Start from DefaultConfig and
// change what you need; NewRaftLockClientBuilder does the same fluently.
type Config struct {
	// URL names the store: mem://name, raft://host:port,host:port,
	// raft+embed:///data/dir, etcd://host:2379, redis://host:6379/0. When it
	// is empty, the client talks to the Raft store at Endpoints.
	URL string
	// Endpoints are the store's addresses. With an empty URL they make a
	// raft:// URL; with a URL they replace its hosts.
	Endpoints []string

	// DialTimeout bounds opening the store (connecting, the first handshake).
	DialTimeout time.Duration
	// RequestTimeout bounds each attempt of a request, and each attempt of
	// an Acquire that waits beyond its WaitTimeout. Zero leaves requests
	// bounded by their context alone.
	RequestTimeout time.Duration
	// KeepAlive configures transport keep-alives (network stores).
	KeepAlive KeepAlive
	// MaxMessageSize caps a message to or from the store, in bytes (network
	// stores); 0 keeps the transport's default.
	MaxMessageSize int

	// RetryPolicy says which failures are sent again, and when.
	RetryPolicy RetryPolicy

	// EnableMetrics records metrics in memory when Metrics is nil; with
	// both unset, the client records nothing.
	EnableMetrics bool
	// Metrics receives the client's metrics (a Prometheus adapter, say).
	// It takes precedence over EnableMetrics.
	Metrics Metrics

	// Logger receives the client's logs: retries at Debug, failures that
	// exhausted their retries at Warn. Nil discards them.
	Logger *slog.Logger

	// LeaseSafetyFactor is the share of the TTL kept back from each local
	// deadline (AcquireResult.Deadline = send time + TTL × (1 −
	// LeaseSafetyFactor)). It covers the difference between the client's
	// and the store's clock rates and the time from the deadline to the
	// holder noticing it. In [0, 0.5].
	LeaseSafetyFactor float64
}

// DefaultConfig returns the settings a client gets when it is not told
// otherwise: 5 s to dial, 5 s per request attempt, keep-alive pings after
// 30 s idle, DefaultRetryPolicy, in-memory metrics and a 2% lease margin.
func DefaultConfig() Config {
	return Config{
		DialTimeout:       5 * time.Second,
		RequestTimeout:    5 * time.Second,
		KeepAlive:         KeepAlive{Time: 30 * time.Second, Timeout: 10 * time.Second},
		RetryPolicy:       DefaultRetryPolicy(),
		EnableMetrics:     true,
		LeaseSafetyFactor: 0.02,
	}
}

// maxMessageSize bounds Config.MaxMessageSize (1 GiB), beyond which a
// setting is a mistake rather than a choice.
const maxMessageSize = 1 << 30

// Validate reports a configuration that cannot work, as ErrInvalidArgument.
// It does not check the URL, which only the store's driver can judge.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return &Error{Op: opConfigure, Code: backend.CodeInvalidArgument, Err: backend.Errorf(backend.CodeInvalidArgument, "config: "+format, args...)}
	}
	switch {
	case c.DialTimeout < 0:
		return bad("DialTimeout %v is negative", c.DialTimeout)
	case c.RequestTimeout < 0:
		return bad("RequestTimeout %v is negative", c.RequestTimeout)
	case c.KeepAlive.Time < 0 || c.KeepAlive.Timeout < 0:
		return bad("KeepAlive durations must not be negative")
	case c.MaxMessageSize < 0 || c.MaxMessageSize > maxMessageSize:
		return bad("MaxMessageSize %d is outside [0, %d]", c.MaxMessageSize, maxMessageSize)
	case !(c.LeaseSafetyFactor >= 0 && c.LeaseSafetyFactor <= 0.5) || math.IsNaN(c.LeaseSafetyFactor):
		return bad("LeaseSafetyFactor %v is outside [0, 0.5]", c.LeaseSafetyFactor)
	}
	for _, e := range c.Endpoints {
		if e == "" || strings.ContainsAny(e, ",/ ") {
			return bad("endpoint %q is not host:port", e)
		}
	}
	return c.RetryPolicy.Validate()
}

// storeURL is the URL to open: URL as given, or raft:// with Endpoints.
func (c *Config) storeURL() (string, error) {
	if c.URL != "" {
		return c.URL, nil
	}
	if len(c.Endpoints) == 0 {
		return "", &Error{Op: opConfigure, Code: backend.CodeInvalidArgument, Err: backend.Errorf(backend.CodeInvalidArgument, "config: no store: set URL or Endpoints")}
	}
	return "raft://" + strings.Join(c.Endpoints, ","), nil
}

// Open opens a client on the store at storeURL with DefaultConfig. The
// URL's driver must be linked in (a blank import of its package).
func Open(ctx context.Context, storeURL string) (*Client, error) {
	cfg := DefaultConfig()
	cfg.URL = storeURL
	return OpenConfig(ctx, cfg)
}

// OpenConfig opens a client on the store cfg names.
func OpenConfig(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, err := cfg.storeURL()
	if err != nil {
		return nil, err
	}
	if cfg.DialTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.DialTimeout)
		defer cancel()
	}
	d, err := backend.Open(ctx, u, backend.OpenOptions{
		Endpoints:      cfg.Endpoints,
		DialTimeout:    cfg.DialTimeout,
		KeepAlive:      cfg.KeepAlive,
		MaxMessageSize: cfg.MaxMessageSize,
		Logger:         cfg.logger(),
	})
	if err != nil {
		return nil, &Error{Op: opOpen, Code: backend.CodeOf(err), Err: err}
	}
	c, err := NewClient(d, cfg)
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	return c, nil
}

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (c *Config) metrics() Metrics {
	switch {
	case c.Metrics != nil:
		return c.Metrics
	case c.EnableMetrics:
		return NewInMemoryMetrics()
	}
	return NoopMetrics{}
}

// RaftLockClientBuilder builds a client fluently. Each With method returns
// the builder; a bad setting is reported by Build, not by the With call.
//
//	client, err := raftlock.NewRaftLockClientBuilder(nil).
//		WithURL("mem://demo").
//		WithTimeouts(5*time.Second, 2*time.Second).
//		Build()
type RaftLockClientBuilder struct {
	cfg    Config
	driver backend.Driver
}

// NewRaftLockClientBuilder starts from DefaultConfig with the Raft store at
// endpoints (host:port of each node's client API). Pass nil and call
// WithURL or WithDriver for another store.
func NewRaftLockClientBuilder(endpoints []string) *RaftLockClientBuilder {
	cfg := DefaultConfig()
	cfg.Endpoints = endpoints
	return &RaftLockClientBuilder{cfg: cfg}
}

// WithEndpoints replaces the store's addresses.
func (b *RaftLockClientBuilder) WithEndpoints(endpoints ...string) *RaftLockClientBuilder {
	b.cfg.Endpoints = endpoints
	return b
}

// WithURL picks the store by URL (mem://, raft://, etcd://, redis://, ...).
func (b *RaftLockClientBuilder) WithURL(storeURL string) *RaftLockClientBuilder {
	b.cfg.URL = storeURL
	return b
}

// WithDriver uses an open driver instead of opening one from a URL. The
// client owns it from then on and closes it on Close.
func (b *RaftLockClientBuilder) WithDriver(d backend.Driver) *RaftLockClientBuilder {
	b.driver = d
	return b
}

// WithTimeouts sets the dial timeout and the per-attempt request timeout.
func (b *RaftLockClientBuilder) WithTimeouts(dial, request time.Duration) *RaftLockClientBuilder {
	b.cfg.DialTimeout = dial
	b.cfg.RequestTimeout = request
	return b
}

// WithKeepAlive sets the transport keep-alives.
func (b *RaftLockClientBuilder) WithKeepAlive(ka KeepAlive) *RaftLockClientBuilder {
	b.cfg.KeepAlive = ka
	return b
}

// WithRetryPolicy replaces the whole retry policy.
func (b *RaftLockClientBuilder) WithRetryPolicy(p RetryPolicy) *RaftLockClientBuilder {
	b.cfg.RetryPolicy = p
	return b
}

// WithRetryOptions sets the number of retries and the backoff bounds,
// keeping the rest of the policy.
func (b *RaftLockClientBuilder) WithRetryOptions(maxRetries int, initialBackoff, maxBackoff time.Duration) *RaftLockClientBuilder {
	b.cfg.RetryPolicy.MaxRetries = maxRetries
	b.cfg.RetryPolicy.InitialBackoff = initialBackoff
	b.cfg.RetryPolicy.MaxBackoff = maxBackoff
	return b
}

// WithRetryableErrors sets the codes worth retrying (see
// RetryPolicy.RetryableErrors).
func (b *RaftLockClientBuilder) WithRetryableErrors(codes ...Code) *RaftLockClientBuilder {
	b.cfg.RetryPolicy.RetryableErrors = codes
	return b
}

// WithMetrics turns the in-memory metrics on or off.
func (b *RaftLockClientBuilder) WithMetrics(enabled bool) *RaftLockClientBuilder {
	b.cfg.EnableMetrics = enabled
	return b
}

// WithMetricsCollector sends the metrics to m (a Prometheus adapter, say).
func (b *RaftLockClientBuilder) WithMetricsCollector(m Metrics) *RaftLockClientBuilder {
	b.cfg.Metrics = m
	return b
}

// WithMaxMessageSize caps a message to or from the store, in bytes.
func (b *RaftLockClientBuilder) WithMaxMessageSize(n int) *RaftLockClientBuilder {
	b.cfg.MaxMessageSize = n
	return b
}

// WithLogger sends the client's logs to l.
func (b *RaftLockClientBuilder) WithLogger(l *slog.Logger) *RaftLockClientBuilder {
	b.cfg.Logger = l
	return b
}

// WithLeaseSafetyFactor sets the share of each TTL kept back from the local
// deadline (see Config.LeaseSafetyFactor).
func (b *RaftLockClientBuilder) WithLeaseSafetyFactor(f float64) *RaftLockClientBuilder {
	b.cfg.LeaseSafetyFactor = f
	return b
}

// Config returns the configuration built so far.
func (b *RaftLockClientBuilder) Config() Config { return b.cfg }

// BuildClient opens the store (within ctx and the dial timeout) and returns
// the concrete client, which implements all three client interfaces.
func (b *RaftLockClientBuilder) BuildClient(ctx context.Context) (*Client, error) {
	if b.driver != nil {
		return NewClient(b.driver, b.cfg)
	}
	return OpenConfig(ctx, b.cfg)
}

// Build returns the client for lock operations.
func (b *RaftLockClientBuilder) Build() (RaftLockClient, error) {
	c, err := b.BuildClient(context.Background())
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return c, nil
}

// BuildAdmin returns the client for status and health.
func (b *RaftLockClientBuilder) BuildAdmin() (AdminClient, error) {
	c, err := b.BuildClient(context.Background())
	if err != nil {
		return nil, err
	}
	return c, nil
}

// BuildAdvanced returns the client with the explicit wait queue, leader,
// retry policy and metrics.
func (b *RaftLockClientBuilder) BuildAdvanced() (AdvancedClient, error) {
	c, err := b.BuildClient(context.Background())
	if err != nil {
		return nil, err
	}
	return c, nil
}
