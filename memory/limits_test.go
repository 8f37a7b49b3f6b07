package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/memory"
)

func TestMaxLocks(t *testing.T) {
	s, clk := newStore(t, memory.WithMaxLocks(3))
	d := newDriver(t, s)
	ctx := context.Background()
	var held []backend.Lock
	for _, id := range []string{"a", "b", "c"} {
		held = append(held, acquire(t, d, id, "alice", time.Minute))
	}
	_, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "d", ClientID: "alice", TTL: time.Minute})
	wantCode(t, err, backend.CodeResourceExhausted)
	_, err = d.Enqueue(ctx, &backend.EnqueueRequest{LockID: "d", ClientID: "alice", TTL: time.Minute})
	wantCode(t, err, backend.CodeResourceExhausted)
	if info := getInfo(t, d, "d"); info != nil {
		t.Fatalf("refused lock exists: %+v", info)
	}
	// Known IDs still work: re-acquire, and waiting on a held one.
	acquire(t, d, "a", "alice", time.Minute)
	enqueue(t, d, backend.EnqueueRequest{LockID: "a", ClientID: "bob", WaitTimeout: time.Hour})

	// A release and an expiry each make room.
	release(t, d, held[1])
	acquire(t, d, "d", "alice", time.Minute)
	_, err = d.Acquire(ctx, &backend.AcquireRequest{LockID: "e", ClientID: "alice", TTL: time.Minute})
	wantCode(t, err, backend.CodeResourceExhausted)
	clk.Advance(time.Minute) // a goes to bob; c and d expire
	acquire(t, d, "e", "alice", time.Minute)
	acquire(t, d, "f", "alice", time.Minute)
	_, err = d.Acquire(ctx, &backend.AcquireRequest{LockID: "g", ClientID: "alice", TTL: time.Minute})
	wantCode(t, err, backend.CodeResourceExhausted)
}

func TestMaxWaiters(t *testing.T) {
	s, _ := newStore(t, memory.WithMaxWaiters(2))
	d := newDriver(t, s)
	ctx := context.Background()
	acquire(t, d, "x", "alice", time.Hour)
	enqueue(t, d, backend.EnqueueRequest{LockID: "x", ClientID: "w1"})
	acquireAsync(t, ctx, d, &backend.AcquireRequest{LockID: "x", ClientID: "w2", TTL: time.Minute, WaitTimeout: time.Hour})

	_, err := d.Enqueue(ctx, &backend.EnqueueRequest{LockID: "x", ClientID: "w3", TTL: time.Minute})
	wantCode(t, err, backend.CodeWaitQueueFull)
	_, err = d.Acquire(ctx, &backend.AcquireRequest{LockID: "x", ClientID: "w3", TTL: time.Minute, Wait: true})
	wantCode(t, err, backend.CodeWaitQueueFull)
	// Already queued clients and the holder are not turned away.
	enqueue(t, d, backend.EnqueueRequest{LockID: "x", ClientID: "w1"})
	acquire(t, d, "x", "alice", time.Hour)
	// Without Wait, a full queue does not matter: the answer is LockHeld.
	_, err = d.Acquire(ctx, &backend.AcquireRequest{LockID: "x", ClientID: "w3", TTL: time.Minute})
	wantCode(t, err, backend.CodeLockHeld)
	if got := waiters(t, d, "x"); len(got) != 2 {
		t.Fatalf("queue %v, want the two admitted waiters", got)
	}
	// The blocked w2 is woken by the store's Close in the test's cleanup.
}

func TestTTLRange(t *testing.T) {
	s, _ := newStore(t, memory.WithTTLRange(time.Second, time.Minute))
	d := newDriver(t, s)
	ctx := context.Background()
	l := acquire(t, d, "x", "alice", time.Second)
	acquire(t, d, "y", "alice", time.Minute)
	for _, ttl := range []time.Duration{time.Second - 1, time.Minute + 1, 0, -time.Second} {
		_, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "z", ClientID: "alice", TTL: ttl})
		wantCode(t, err, backend.CodeInvalidTTL)
		_, err = d.Renew(ctx, &backend.RenewRequest{LockID: "x", ClientID: "alice", Version: l.Version, TTL: ttl})
		wantCode(t, err, backend.CodeInvalidTTL)
		_, err = d.Enqueue(ctx, &backend.EnqueueRequest{LockID: "x", ClientID: "bob", TTL: ttl})
		wantCode(t, err, backend.CodeInvalidTTL)
	}
}

// Options out of range fall back as documented instead of failing.
func TestOptionFallbacks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opt      memory.Option
		min, max time.Duration
	}{
		{"defaults", nil, memory.DefaultMinTTL, memory.DefaultMaxTTL},
		{"zero bounds", memory.WithTTLRange(0, 0), memory.DefaultMinTTL, memory.DefaultMaxTTL},
		{"max below min", memory.WithTTLRange(time.Minute, time.Second), time.Minute, time.Minute},
		{"negative", memory.WithTTLRange(-1, -1), memory.DefaultMinTTL, memory.DefaultMaxTTL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := memory.NewStore(tc.opt, memory.WithClock(nil), memory.WithMaxLocks(-1), memory.WithMaxWaiters(-5), memory.WithDefaultWaitTimeout(-1))
			defer s.Close()
			caps := s.Capabilities()
			if caps.MinTTL != tc.min || caps.MaxTTL != tc.max {
				t.Fatalf("TTL range %v..%v, want %v..%v", caps.MinTTL, caps.MaxTTL, tc.min, tc.max)
			}
			d := s.NewDriver()
			defer d.Close()
			acquire(t, d, "x", "alice", tc.min)
		})
	}
}
