package raftlock

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

func TestRetryPolicyValidate(t *testing.T) {
	ok := DefaultRetryPolicy()
	if err := ok.Validate(); err != nil {
		t.Fatalf("default policy: %v", err)
	}
	if err := (RetryPolicy{}).Validate(); err != nil {
		t.Fatalf("zero policy (no retries) must be valid: %v", err)
	}
	bad := map[string]func(p *RetryPolicy){
		"negative retries":     func(p *RetryPolicy) { p.MaxRetries = -1 },
		"huge retries":         func(p *RetryPolicy) { p.MaxRetries = 1 << 30 },
		"negative backoff":     func(p *RetryPolicy) { p.InitialBackoff = -time.Second },
		"max below initial":    func(p *RetryPolicy) { p.MaxBackoff = p.InitialBackoff / 2 },
		"multiplier below one": func(p *RetryPolicy) { p.BackoffMultiplier = 0.5 },
		"multiplier NaN":       func(p *RetryPolicy) { p.BackoffMultiplier = math.NaN() },
		"multiplier Inf":       func(p *RetryPolicy) { p.BackoffMultiplier = math.Inf(1) },
		"jitter above one":     func(p *RetryPolicy) { p.JitterFactor = 1.5 },
		"jitter NaN":           func(p *RetryPolicy) { p.JitterFactor = math.NaN() },
		"unknown code":         func(p *RetryPolicy) { p.RetryableErrors = []Code{200} },
	}
	for name, mutate := range bad {
		p := DefaultRetryPolicy()
		mutate(&p)
		err := p.Validate()
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: Validate = %v, want ErrInvalidArgument", name, err)
		}
	}
}

func TestRetryPolicyRetryable(t *testing.T) {
	p := DefaultRetryPolicy()
	for _, c := range []Code{backend.CodeUnavailable, backend.CodeLeaderUnavailable, backend.CodeRateLimit, backend.CodeNotLeader} {
		if !p.Retryable(c) {
			t.Errorf("default policy should retry %v", c)
		}
	}
	for _, c := range []Code{backend.CodeLockHeld, backend.CodeNotLockOwner, backend.CodeInvalidArgument, backend.CodeTimeout, backend.CodeUnknown} {
		if p.Retryable(c) {
			t.Errorf("default policy should not retry %v", c)
		}
	}
	p.RetryableErrors = []Code{backend.CodeTimeout, backend.CodeLockHeld}
	if !p.Retryable(backend.CodeTimeout) {
		t.Error("a listed code should be retried")
	}
	if p.Retryable(backend.CodeUnavailable) {
		t.Error("a list replaces the default set")
	}
	if p.Retryable(backend.CodeLockHeld) {
		t.Error("a definite answer is never retried, even when listed")
	}
}

func TestRetryPolicyBackoff(t *testing.T) {
	p := RetryPolicy{MaxRetries: 10, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, BackoffMultiplier: 2}
	want := []time.Duration{10, 20, 40, 80, 100, 100}
	for n, w := range want {
		if got := p.Backoff(n); got != w*time.Millisecond {
			t.Errorf("Backoff(%d) = %v, want %v", n, got, w*time.Millisecond)
		}
	}
	p.JitterFactor = 0.5
	for range 1000 {
		if d := p.Backoff(1); d < 10*time.Millisecond || d > 30*time.Millisecond {
			t.Fatalf("Backoff(1) with 50%% jitter = %v, want within [10ms, 30ms]", d)
		}
	}
	if d := p.Backoff(1 << 20); d > 150*time.Millisecond || d < 0 {
		t.Fatalf("Backoff of a huge attempt = %v, want capped by MaxBackoff", d)
	}
}

func TestSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if sleep(ctx, time.Hour) {
		t.Fatal("sleep on a cancelled context reported a full wait")
	}
	if !sleep(context.Background(), time.Millisecond) {
		t.Fatal("a short sleep should complete")
	}
}
