package raftlock

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/faultdriver"
)

// startRenewer acquires lockID through a handle on r and starts a renewer
// every interval with lease ttl.
func (r *faultRig) startRenewer(t *testing.T, lockID string, interval, ttl time.Duration) (*LockHandle, *AutoRenewer, context.Context) {
	t.Helper()
	h, _ := NewLockHandle(r.client, lockID, "", WithClock(r.clock))
	if err := h.Acquire(context.Background(), ttl, false); err != nil {
		t.Fatal(err)
	}
	ar, err := NewAutoRenewer(h, interval, ttl)
	if err != nil {
		t.Fatal(err)
	}
	r.timers = r.clock.PendingTimers()
	ctx, err := ar.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ar.Stop)
	r.armed(t)
	return h, ar, ctx
}

// armed waits until the renewer is pausing: its timer is set on the fake
// clock, so that advancing the clock fires it.
func (r *faultRig) armed(t *testing.T) {
	t.Helper()
	waitFor(t, "the renewer to pause", func() bool { return r.clock.PendingTimers() == r.timers+1 })
}

// advance moves the fake clock d forward in steps, letting the goroutines
// under test act between steps.
func (r *faultRig) advance(t *testing.T, d time.Duration, step time.Duration) {
	t.Helper()
	for moved := time.Duration(0); moved < d; moved += step {
		r.clock.Advance(step)
		time.Sleep(time.Millisecond)
	}
}

// The renewer keeps the lock for many TTLs.
func TestAutoRenewerKeepsTheLock(t *testing.T) {
	r := newFaultRig(t)
	h, ar, ctx := r.startRenewer(t, "renew/a", time.Second, 3*time.Second)
	token := h.Token()
	for i := range 10 {
		waitFor(t, "renewal", func() bool { return r.faults.Calls(faultdriver.Renew) == i })
		r.armed(t)
		r.clock.Advance(time.Second)
	}
	waitFor(t, "ten renewals", func() bool { return r.faults.Calls(faultdriver.Renew) >= 10 })
	if !h.IsHeld() || h.Token() != token || ctx.Err() != nil || isClosed(ar.Done()) {
		t.Fatalf("after 10s of 3s leases: held %v, token %d (was %d), ctx %v", h.IsHeld(), h.Token(), token, ctx.Err())
	}
	if got := r.holder(t, "renew/a"); got != h.ClientID() {
		t.Fatalf("store holder %q, want %q", got, h.ClientID())
	}
	ar.Stop()
	if ar.Err() != nil || !errors.Is(context.Cause(ctx), ErrRenewerStopped) {
		t.Fatalf("after Stop: Err %v, ctx cause %v", ar.Err(), context.Cause(ctx))
	}
	if !h.IsHeld() {
		t.Fatal("Stop gave the lock up")
	}
}

// A renewal that fails for a transient reason inside the lease is retried
// and the lock is kept.
func TestAutoRenewerRetriesTransientFailures(t *testing.T) {
	r := newFaultRig(t)
	h, ar, ctx := r.startRenewer(t, "renew/b", time.Second, 3*time.Second)
	r.faults.Fail(faultdriver.Renew, errUnavailable, 3)
	r.clock.Advance(time.Second) // the first renewal fails
	// Backoff 50ms, 100ms, 200ms: three failures, then a success.
	for i := 1; i <= 3; i++ {
		waitFor(t, "a failed attempt", func() bool { return r.faults.Calls(faultdriver.Renew) == i })
		r.armed(t)
		r.clock.Advance(50 * time.Millisecond << (i - 1))
	}
	waitFor(t, "the fourth attempt", func() bool { return r.faults.Calls(faultdriver.Renew) >= 4 })
	waitFor(t, "the renewed deadline", func() bool { return h.RemainingLease() > 2500*time.Millisecond })
	if !h.IsHeld() || ctx.Err() != nil || ar.Err() != nil {
		t.Fatalf("transient failures lost the lock: held %v, ctx %v, err %v", h.IsHeld(), ctx.Err(), ar.Err())
	}
}

// With the store unreachable, the renewer gives up at the local deadline:
// Done closes, Err wraps ErrLockLost, the handed-out context is cancelled,
// all before the store expires the grant.
func TestAutoRenewerGivesUpAtTheLocalDeadline(t *testing.T) {
	r := newFaultRig(t)
	h, ar, ctx := r.startRenewer(t, "renew/c", time.Second, 3*time.Second)
	r.faults.Fail(faultdriver.Any, errUnavailable, -1)
	r.advance(t, 2940*time.Millisecond, 10*time.Millisecond) // local deadline: 3s - 2%
	waitFor(t, "the renewer to give up", func() bool { return isClosed(ar.Done()) })
	if ctx.Err() == nil || !errors.Is(ar.Err(), ErrLockLost) || !errors.Is(context.Cause(ctx), ErrLockLost) || h.IsHeld() {
		t.Fatalf("after the deadline: ctx %v (cause %v), Err %v, held %v", ctx.Err(), context.Cause(ctx), ar.Err(), h.IsHeld())
	}
	r.faults.Clear()
	if got := r.holder(t, "renew/c"); got != h.ClientID() {
		t.Fatalf("the store had expired the grant (holder %q) by the time the renewer gave up", got)
	}
}

// The store says the grant is gone: the renewer stops at once.
func TestAutoRenewerStopsOnDefiniteLoss(t *testing.T) {
	r := newFaultRig(t)
	_, ar, ctx := r.startRenewer(t, "renew/d", time.Second, 3*time.Second)
	r.faults.Fail(faultdriver.Renew, &backend.Error{Code: backend.CodeNotLockOwner, Message: "injected"}, -1)
	r.clock.Advance(time.Second)
	waitFor(t, "the renewer to stop", func() bool { return isClosed(ar.Done()) })
	if !errors.Is(ar.Err(), ErrLockLost) || !errors.Is(ar.Err(), ErrNotLockOwner) || ctx.Err() == nil {
		t.Fatalf("Err = %v, ctx %v; want ErrLockLost wrapping ErrNotLockOwner", ar.Err(), ctx.Err())
	}
	if n := r.faults.Calls(faultdriver.Renew); n != 1 {
		t.Fatalf("%d renewals after a definite loss, want 1 (no retries)", n)
	}
}

// Stop during a renewal that hangs returns at once.
func TestAutoRenewerStopDuringHungRenewal(t *testing.T) {
	r := newFaultRig(t)
	h, ar, _ := r.startRenewer(t, "renew/e", time.Second, 3*time.Second)
	r.faults.Hang(faultdriver.Renew)
	r.clock.Advance(time.Second)
	waitFor(t, "the renewal to hang", func() bool { return r.faults.Blocked(faultdriver.Renew) == 1 })
	stopped := make(chan struct{})
	go func() { ar.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return while a renewal hung")
	}
	if r.faults.Blocked(faultdriver.Renew) != 0 || ar.Err() != nil || !h.IsHeld() {
		t.Fatalf("after Stop: %d renewals blocked, Err %v, held %v", r.faults.Blocked(faultdriver.Renew), ar.Err(), h.IsHeld())
	}
}

func TestAutoRenewerBadInput(t *testing.T) {
	r := newFaultRig(t)
	h, _ := NewLockHandle(r.client, "renew/f", "", WithClock(r.clock))
	for _, c := range []struct {
		h             *LockHandle
		interval, ttl time.Duration
		want          error
	}{
		{nil, time.Second, 3 * time.Second, ErrInvalidArgument},
		{h, 0, 3 * time.Second, ErrInvalidArgument},
		{h, 3 * time.Second, 3 * time.Second, ErrInvalidArgument},
		{h, time.Second, 100 * 365 * 24 * time.Hour, ErrInvalidTTL},
	} {
		if _, err := NewAutoRenewer(c.h, c.interval, c.ttl); !errors.Is(err, c.want) {
			t.Errorf("NewAutoRenewer(%v, %v) = %v, want %v", c.interval, c.ttl, err, c.want)
		}
	}
	ar, _ := NewAutoRenewer(h, time.Second, 3*time.Second)
	if _, err := ar.Start(context.Background()); !errors.Is(err, ErrNotHeld) {
		t.Errorf("Start without the lock = %v, want ErrNotHeld", err)
	}
}

// RunWithLock: fn's context is cancelled when the lease is lost, before
// the store expires the grant; the lock is released when fn returns, even
// after the caller's context ended; the loss shows in the error.
func TestRunWithLockCancelsOnLoss(t *testing.T) {
	r := newFaultRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	h, _ := NewLockHandle(r.client, "run/a", "", WithClock(r.clock))
	errc := make(chan error, 1)
	cancelledWhileStoreHeld := make(chan bool, 1)
	go func() {
		errc <- DoWithLock(ctx, h, 3*time.Second, func(fctx context.Context) error {
			r.faults.Fail(faultdriver.Renew, errUnavailable, -1)
			<-fctx.Done()
			cancelledWhileStoreHeld <- r.holder(t, "run/a") == h.ClientID()
			cancel() // the caller gives up too: the release must still be sent
			return fctx.Err()
		})
	}()
	waitFor(t, "the lock", func() bool { return r.faults.Calls(faultdriver.Renew) == 0 && h.IsHeld() })
	r.advance(t, 2940*time.Millisecond, 20*time.Millisecond)
	var err error
	select {
	case err = <-errc:
	case <-time.After(10 * time.Second):
		t.Fatal("DoWithLock did not return after the lease was lost")
	}
	if !<-cancelledWhileStoreHeld {
		t.Fatal("fn's context was cancelled only after the store had expired the grant")
	}
	if !errors.Is(err, ErrLockLost) || !errors.Is(err, context.Canceled) {
		t.Fatalf("DoWithLock = %v, want ErrLockLost and fn's error", err)
	}
	if got := r.holder(t, "run/a"); got != "" {
		t.Fatalf("the lock is still held by %q after DoWithLock returned", got)
	}
}

// RunWithLock returns fn's result and releases the lock; two calls on one
// lock run one after the other.
func TestRunWithLockSerialises(t *testing.T) {
	c, _ := newTestClient(t, DefaultConfig())
	ctx := context.Background()
	var inside, overlaps int
	done := make(chan error, 2)
	for range 2 {
		go func() {
			done <- RunWithLock(ctx, c, "run/b", time.Minute, func(context.Context) error {
				inside++
				if inside > 1 {
					overlaps++
				}
				time.Sleep(20 * time.Millisecond)
				inside--
				return nil
			})
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if overlaps != 0 {
		t.Fatalf("%d overlaps", overlaps)
	}
	want := errors.New("job failed")
	if err := RunWithLock(ctx, c, "run/b", time.Minute, func(context.Context) error { return want }); err != want {
		t.Fatalf("RunWithLock = %v, want fn's error", err)
	}
	if _, err := c.GetLockInfo(ctx, &GetLockInfoRequest{LockID: "run/b"}); !errors.Is(err, ErrLockNotFound) {
		t.Fatalf("the lock is still there after RunWithLock: %v", err)
	}
}
