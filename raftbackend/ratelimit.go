package raftbackend

import (
	"math"
	"sync"
	"time"
)

// The rate limiter's bounds on memory. A bucket that has refilled is the
// same as no bucket, so a sweep, at most once per rateSweepInterval (and
// whenever the table is full), drops those; the table then holds only the
// clients seen within about the last interval. Past rateMaxBuckets clients
// at once, new ones share one overflow bucket until a sweep makes room:
// under such a flood, new keys are limited together rather than memory
// growing without bound.
const (
	rateSweepInterval = time.Minute
	rateMaxBuckets    = 1 << 16
	rateOverflowKey   = "\x00overflow"
)

// rateLimiter is a token bucket per key: each key may make burst calls at
// once and rate calls per second on average. It is safe for concurrent
// use.
type rateLimiter struct {
	rate  float64 // tokens per second, > 0
	burst float64 // bucket size, >= 1
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

// bucket is one key's tokens as of last.
type bucket struct {
	tokens float64
	last   time.Time
}

// newRateLimiter returns a limiter of rate calls per second per key, with
// bursts of burst (at least 1).
func newRateLimiter(rate float64, burst int) *rateLimiter {
	return &rateLimiter{
		rate:    rate,
		burst:   math.Max(float64(burst), 1),
		now:     time.Now,
		buckets: make(map[string]*bucket),
	}
}

// take spends one token of key's bucket. When there is none it spends
// nothing and returns how long until one is available.
func (l *rateLimiter) take(key string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= rateSweepInterval {
		l.sweep(now)
	}
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= rateMaxBuckets {
			l.sweep(now)
		}
		if len(l.buckets) >= rateMaxBuckets {
			key = rateOverflowKey
			b = l.buckets[key]
		}
		if b == nil {
			b = &bucket{tokens: l.burst, last: now}
			l.buckets[key] = b
		}
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration(math.Ceil((1 - b.tokens) / l.rate * float64(time.Second)))
	return false, max(wait, time.Nanosecond)
}

// refill adds the tokens earned since b.last, up to the burst.
func (l *rateLimiter) refill(b *bucket, now time.Time) {
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed.Seconds()*l.rate)
		b.last = now
	}
}

// sweep drops the buckets that have refilled by now.
func (l *rateLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
}
