package raftbackend

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/backend"
)

// fakeNow is a clock the test moves.
type fakeNow struct{ t time.Time }

func (c *fakeNow) now() time.Time          { return c.t }
func (c *fakeNow) advance(d time.Duration) { c.t = c.t.Add(d) }
func newLimiterAt(rate float64, burst int) (*rateLimiter, *fakeNow) {
	clock := &fakeNow{t: time.Unix(1_000_000, 0)}
	l := newRateLimiter(rate, burst)
	l.now = clock.now
	return l, clock
}

func TestRateLimiterBurstAndRefill(t *testing.T) {
	l, clock := newLimiterAt(10, 3) // a token every 100ms
	for i := range 3 {
		if ok, _ := l.take("a"); !ok {
			t.Fatalf("call %d of the burst refused", i+1)
		}
	}
	ok, wait := l.take("a")
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("after the burst: ok %v, wait %v; want a refusal for 100ms", ok, wait)
	}
	if ok, _ := l.take("b"); !ok {
		t.Fatal("another key shares the first one's bucket")
	}
	clock.advance(60 * time.Millisecond)
	if ok, wait := l.take("a"); ok || wait != 40*time.Millisecond {
		t.Fatalf("60ms later: ok %v, wait %v; want a refusal for 40ms", ok, wait)
	}
	clock.advance(40 * time.Millisecond)
	if ok, _ := l.take("a"); !ok {
		t.Fatal("refused once the wait it gave had passed")
	}
	clock.advance(time.Hour)
	for i := range 3 {
		if ok, _ := l.take("a"); !ok {
			t.Fatalf("after an idle hour, call %d refused: the bucket must hold a whole burst, no more", i+1)
		}
	}
	if ok, _ := l.take("a"); ok {
		t.Fatal("an idle hour gave more than a burst")
	}
}

// Buckets that have refilled are dropped, and a flood of new keys is
// capped: memory stays bounded.
func TestRateLimiterForgetsIdleClients(t *testing.T) {
	l, clock := newLimiterAt(100, 1)
	for i := range 1000 {
		l.take(fmt.Sprint("client-", i))
	}
	if n := len(l.buckets); n != 1000 {
		t.Fatalf("%d buckets, want 1000", n)
	}
	clock.advance(rateSweepInterval)
	l.take("late")
	if n := len(l.buckets); n != 1 {
		t.Fatalf("%d buckets after a sweep, want only the late client's", n)
	}

	for i := range rateMaxBuckets + 10 {
		l.take(fmt.Sprint("flood-", i))
	}
	if n := len(l.buckets); n > rateMaxBuckets+1 {
		t.Fatalf("%d buckets, want at most %d", n, rateMaxBuckets+1)
	}
	if ok, _ := l.take("one-more"); ok {
		t.Fatal("a new key past the cap got a token: the overflow bucket is spent")
	}
}

// Over the limit, a call fails with CodeRateLimit and the time until the
// next token; the portable client waits that long and succeeds.
func TestRateLimitOverGRPC(t *testing.T) {
	c := startCluster(t, 1, func(c *Config) { c.RateLimit, c.RateBurst = 20, 3 })
	ctx := testCtx(t)
	d := dialTest(t, c.endpoints(0)...) // GetCapabilities is not counted
	req := &backend.AcquireRequest{LockID: "rl", ClientID: "eager", TTL: time.Minute}
	var err error
	for i := 0; i < 4 && err == nil; i++ {
		_, err = d.Acquire(ctx, req) // a holder's Acquire answers the same grant
	}
	var e *backend.Error
	if !errors.As(err, &e) || e.Code != backend.CodeRateLimit || e.RetryAfter <= 0 || e.RetryAfter > 50*time.Millisecond {
		t.Fatalf("the call after a burst of 3: %v (%+v), want CodeRateLimit with a RetryAfter in (0, 50ms]", err, e)
	}
	// Another client has its own budget.
	if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "rl2", ClientID: "patient", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}

	cfg := raftlock.DefaultConfig()
	cfg.RetryPolicy = raftlock.RetryPolicy{MaxRetries: 50, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond, BackoffMultiplier: 1}
	metrics := raftlock.NewInMemoryMetrics()
	cfg.Metrics = metrics
	cl, err := raftlock.NewClient(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	start := time.Now()
	const calls = 12
	for i := range calls {
		lock := fmt.Sprint("rl-client-", i)
		res, err := cl.Acquire(ctx, &raftlock.AcquireRequest{LockID: lock, ClientID: "eager", TTL: time.Minute})
		if err != nil {
			t.Fatalf("acquire %d through the client: %v", i, err)
		}
		if _, err := cl.Release(ctx, &raftlock.ReleaseRequest{LockID: lock, ClientID: "eager", Version: res.Lock.Version}); err != nil {
			t.Fatalf("release %d through the client: %v", i, err)
		}
	}
	// 24 calls at 20/s with an empty bucket take over a second; the
	// client's own backoff (1ms) would have given up long before.
	if elapsed := time.Since(start); elapsed < time.Second {
		t.Errorf("%d calls took %v: faster than the limit allows", 2*calls, elapsed)
	}
	var retries int64
	for _, m := range metrics.Snapshot().Ops {
		retries += m.Retries
	}
	if retries == 0 {
		t.Error("the client never retried: the limit was not applied")
	}
}

// Under mutual TLS the limit follows the certificate: a client cannot
// escape it by changing client IDs.
func TestRateLimitFollowsCertificate(t *testing.T) {
	p := newTestPKI(t)
	c := startSecureCluster(t, p, 1, func(c *Config) { c.RateLimit, c.RateBurst = 1, 2 })
	d := dialTestWith(t, c.endpoints(0), p.client(p.clientCA, "alice"))
	ctx := testCtx(t)
	var err error
	for i := 0; i < 3 && err == nil; i++ {
		// The third waits, so goes as a stream: streams are counted too.
		_, err = d.Acquire(ctx, &backend.AcquireRequest{LockID: fmt.Sprint("cert-rl-", i), ClientID: fmt.Sprint("alice/", i),
			TTL: time.Minute, Wait: i == 2, WaitTimeout: time.Second})
	}
	if backend.CodeOf(err) != backend.CodeRateLimit {
		t.Fatalf("third call with a new client ID: %v, want CodeRateLimit", err)
	}
}
