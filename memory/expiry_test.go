package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/memory"
)

func TestExpiry(t *testing.T) {
	s, clk := newStore(t)
	d := newDriver(t, s)
	l := acquire(t, d, "x", "alice", 10*time.Second)

	clk.Advance(10*time.Second - 1)
	if info := getInfo(t, d, "x"); info == nil || info.Owner != "alice" {
		t.Fatalf("lock gone before its TTL: %+v", info)
	}
	clk.Advance(1)
	if info := getInfo(t, d, "x"); info != nil {
		t.Fatalf("lock still there at its expiry: %+v", info)
	}
	ctx := context.Background()
	_, err := d.Renew(ctx, &backend.RenewRequest{LockID: "x", ClientID: "alice", Version: l.Version, TTL: time.Minute})
	wantCode(t, err, backend.CodeNotFound)
	_, err = d.Release(ctx, &backend.ReleaseRequest{LockID: "x", ClientID: "alice", Version: l.Version})
	wantCode(t, err, backend.CodeNotFound)

	// The former owner's next Acquire is a new grant.
	l2 := acquire(t, d, "x", "alice", 10*time.Second)
	if l2.Version <= l.Version || !l2.AcquiredAt.Equal(epoch.Add(10*time.Second)) {
		t.Fatalf("grant after expiry %+v: want a greater version than %d, acquired now", l2, l.Version)
	}
	st, err := d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Locks != 1 || st.HeldLocks != 1 {
		t.Fatalf("Status after expiry and re-grant: %+v", st)
	}
}

// An expired lock is handed to the head waiter by the expiry timer itself,
// without anybody touching the lock, and the waiter's TTL starts then.
func TestExpiryHandsToWaiter(t *testing.T) {
	s, clk := newStore(t)
	a, b := newDriver(t, s), newDriver(t, s)
	la := acquire(t, a, "x", "alice", 10*time.Second)
	ch := acquireAsync(t, context.Background(), b, &backend.AcquireRequest{LockID: "x", ClientID: "bob", TTL: 5 * time.Second})
	clk.Advance(3 * time.Second)
	notYet(t, ch)
	clk.Advance(7 * time.Second)
	r := recv(t, ch)
	if r.err != nil {
		t.Fatal(r.err)
	}
	lb := r.res.Lock
	if !r.res.Waited || lb.Owner != "bob" || lb.Version <= la.Version {
		t.Fatalf("waiter got %+v (waited %v): want bob, Waited, version above %d", lb, r.res.Waited, la.Version)
	}
	if at := epoch.Add(10 * time.Second); !lb.AcquiredAt.Equal(at) || !lb.ExpiresAt.Equal(at.Add(5*time.Second)) {
		t.Fatalf("waiter's grant %v..%v, want %v..%v", lb.AcquiredAt, lb.ExpiresAt, at, at.Add(5*time.Second))
	}
	// The expired holder can no longer touch it.
	_, err := a.Release(context.Background(), &backend.ReleaseRequest{LockID: "x", ClientID: "alice", Version: la.Version})
	wantCode(t, err, backend.CodeNotLockOwner)
}

// One Advance that covers several leases plays them out in order: each
// waiter in turn is granted the lock and loses it when its own TTL ends.
func TestExpiryChainInOneAdvance(t *testing.T) {
	s, clk := newStore(t)
	d := newDriver(t, s)
	acquire(t, d, "x", "a", time.Second)
	for _, c := range []string{"b", "c", "d"} {
		if _, err := d.Enqueue(context.Background(), &backend.EnqueueRequest{LockID: "x", ClientID: c, TTL: time.Second, WaitTimeout: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(2500 * time.Millisecond) // a expires at 1s, b at 2s; c holds from 2s
	info := getInfo(t, d, "x")
	if info == nil || info.Owner != "c" || !info.AcquiredAt.Equal(epoch.Add(2*time.Second)) || info.WaiterCount != 1 {
		t.Fatalf("after 2.5s: %+v, want c holding since 2s with d waiting", info)
	}
	clk.Advance(2 * time.Second)
	if info := getInfo(t, d, "x"); info != nil {
		t.Fatalf("after 4.5s: %+v, want the lock free", info)
	}
}

// With the system clock, a waiter is woken by the expiry timer promptly.
func TestExpiryWakesWaiterInRealTime(t *testing.T) {
	s := memory.NewStore()
	defer s.Close()
	a, b := s.NewDriver(), s.NewDriver()
	defer a.Close()
	defer b.Close()
	ttl := 50 * time.Millisecond
	acquire(t, a, "x", "alice", ttl)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := b.Acquire(ctx, &backend.AcquireRequest{LockID: "x", ClientID: "bob", TTL: time.Minute, Wait: true})
	if err != nil {
		t.Fatalf("waiter not woken by the expiry: %v", err)
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("waiter woken %v after a %v lease", waited, ttl)
	}
	if res.Lock.Owner != "bob" || !res.Waited {
		t.Fatalf("waiter got %+v", res)
	}
}

func TestWaitTimeout(t *testing.T) {
	s, clk := newStore(t)
	a, b := newDriver(t, s), newDriver(t, s)
	acquire(t, a, "x", "alice", time.Hour)
	ch := acquireAsync(t, context.Background(), b, &backend.AcquireRequest{LockID: "x", ClientID: "bob", TTL: time.Minute, WaitTimeout: 5 * time.Second})
	if info := getInfo(t, a, "x"); !info.Waiters[0].TimeoutAt.Equal(epoch.Add(5 * time.Second)) {
		t.Fatalf("waiter's TimeoutAt %v, want %v", info.Waiters[0].TimeoutAt, epoch.Add(5*time.Second))
	}
	clk.Advance(5*time.Second - 1)
	notYet(t, ch)
	clk.Advance(1)
	r := recv(t, ch)
	wantCode(t, r.err, backend.CodeTimeout)
	if w := waiters(t, a, "x"); len(w) != 0 {
		t.Fatalf("timed-out waiter still queued: %v", w)
	}
}

// A waiter whose wait timeout has passed is never granted the lock.
func TestTimedOutWaiterIsSkipped(t *testing.T) {
	s, clk := newStore(t)
	d := newDriver(t, s)
	l := acquire(t, d, "x", "alice", time.Hour)
	ctx := context.Background()
	if _, err := d.Enqueue(ctx, &backend.EnqueueRequest{LockID: "x", ClientID: "bob", TTL: time.Minute, WaitTimeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Enqueue(ctx, &backend.EnqueueRequest{LockID: "x", ClientID: "carol", TTL: time.Minute, WaitTimeout: time.Hour}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if res := release(t, d, l); res.NextOwner != "carol" {
		t.Fatalf("NextOwner %q, want carol (bob's wait had ended)", res.NextOwner)
	}
}
