package raftlock

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/memory"
)

func TestConfigValidate(t *testing.T) {
	if err := (&Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	def := DefaultConfig()
	if err := def.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	bad := map[string]func(c *Config){
		"negative dial":      func(c *Config) { c.DialTimeout = -1 },
		"negative request":   func(c *Config) { c.RequestTimeout = -1 },
		"negative keepalive": func(c *Config) { c.KeepAlive.Time = -time.Second },
		"huge message":       func(c *Config) { c.MaxMessageSize = 1 << 40 },
		"negative message":   func(c *Config) { c.MaxMessageSize = -1 },
		"safety above half":  func(c *Config) { c.LeaseSafetyFactor = 0.9 },
		"safety NaN":         func(c *Config) { c.LeaseSafetyFactor = math.NaN() },
		"bad endpoint":       func(c *Config) { c.Endpoints = []string{"a:1,b:2"} },
		"empty endpoint":     func(c *Config) { c.Endpoints = []string{""} },
		"bad retry policy":   func(c *Config) { c.RetryPolicy.JitterFactor = 2 },
	}
	for name, mutate := range bad {
		c := DefaultConfig()
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: Validate = %v, want ErrInvalidArgument", name, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := OpenConfig(ctx, Config{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("no URL, no endpoints: %v, want ErrInvalidArgument", err)
	}
	if _, err := Open(ctx, "nosuchstore://x"); !errors.Is(err, ErrNotSupported) {
		t.Errorf("unknown scheme: %v, want ErrNotSupported", err)
	}
	if _, err := Open(ctx, "::not a url"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("malformed URL: %v, want ErrInvalidArgument", err)
	}
	// Endpoints alone mean the Raft store.
	_, err := NewRaftLockClientBuilder([]string{"127.0.0.1:1"}).Build()
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrNotSupported) && !errors.Is(err, ErrUnavailable) {
		t.Errorf("raft endpoints without the raft driver linked: %v", err)
	}
	if _, err := NewClient(nil, Config{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil driver: %v", err)
	}
}

func TestBuilderSetsEveryField(t *testing.T) {
	m := NewInMemoryMetrics()
	p := RetryPolicy{MaxRetries: 7, InitialBackoff: time.Millisecond, MaxBackoff: time.Second, BackoffMultiplier: 3, JitterFactor: 0.1}
	b := NewRaftLockClientBuilder([]string{"a:1"}).
		WithEndpoints("b:2", "c:3").
		WithURL("mem://x").
		WithTimeouts(time.Second, 2*time.Second).
		WithKeepAlive(KeepAlive{Time: 3 * time.Second, Timeout: 4 * time.Second, PermitWithoutStream: true}).
		WithRetryPolicy(p).
		WithRetryOptions(5, 2*time.Millisecond, 3*time.Second).
		WithRetryableErrors(CodeOf(ErrUnavailable)).
		WithMetrics(false).
		WithMetricsCollector(m).
		WithMaxMessageSize(1 << 20).
		WithLeaseSafetyFactor(0.1)
	c := b.Config()
	switch {
	case c.URL != "mem://x", len(c.Endpoints) != 2 || c.Endpoints[1] != "c:3",
		c.DialTimeout != time.Second, c.RequestTimeout != 2*time.Second,
		!c.KeepAlive.PermitWithoutStream, c.KeepAlive.Timeout != 4*time.Second,
		c.RetryPolicy.MaxRetries != 5, c.RetryPolicy.InitialBackoff != 2*time.Millisecond, c.RetryPolicy.MaxBackoff != 3*time.Second,
		c.RetryPolicy.BackoffMultiplier != 3, len(c.RetryPolicy.RetryableErrors) != 1,
		c.EnableMetrics, c.Metrics != m, c.MaxMessageSize != 1<<20, c.LeaseSafetyFactor != 0.1:
		t.Fatalf("builder config = %+v", c)
	}
}

// openerSaw is what the "clienttest" opener was called with last.
var openerSaw struct {
	sync.Mutex
	url         string
	opts        backend.OpenOptions
	hadDeadline bool
	store       *memory.Store
}

// registerTestScheme registers "clienttest" once per process, however many
// times the tests run.
var registerTestScheme = sync.OnceFunc(func() {
	openerSaw.store = memory.NewStore()
	backend.Register("clienttest", func(ctx context.Context, u *url.URL, opts backend.OpenOptions) (backend.Driver, error) {
		openerSaw.Lock()
		defer openerSaw.Unlock()
		openerSaw.url, openerSaw.opts = u.String(), opts
		_, openerSaw.hadDeadline = ctx.Deadline()
		return openerSaw.store.NewDriver(), nil
	})
})

// Every Config field that a driver needs reaches its opener.
func TestOpenPassesConfigToDriver(t *testing.T) {
	registerTestScheme()
	cfg := DefaultConfig()
	cfg.URL = "clienttest://a:1"
	cfg.Endpoints = []string{"b:2", "c:3"}
	cfg.DialTimeout = 3 * time.Second
	cfg.KeepAlive = KeepAlive{Time: time.Minute, Timeout: 5 * time.Second, PermitWithoutStream: true}
	cfg.MaxMessageSize = 1 << 20
	cfg.Logger = slog.New(slog.DiscardHandler)
	c, err := OpenConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	openerSaw.Lock()
	defer openerSaw.Unlock()
	got := openerSaw.opts
	if openerSaw.url != cfg.URL || !slices.Equal(got.Endpoints, cfg.Endpoints) || got.DialTimeout != cfg.DialTimeout ||
		got.KeepAlive != cfg.KeepAlive || got.MaxMessageSize != cfg.MaxMessageSize || got.Logger != cfg.Logger || !openerSaw.hadDeadline {
		t.Fatalf("opener saw %s %+v (deadline %v); want the config's values", openerSaw.url, got, openerSaw.hadDeadline)
	}
}
