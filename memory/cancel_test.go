package memory_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// A waiter whose context ends leaves the queue before its call returns, and
// is never granted the lock afterwards.
func TestContextCancelLeavesNoGhost(t *testing.T) {
	for _, tc := range []struct {
		name string
		code backend.Code
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"cancel", backend.CodeCanceled, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}},
		{"deadline", backend.CodeTimeout, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 30*time.Millisecond)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t)
			d := newDriver(t, s)
			l := acquire(t, d, "x", "alice", time.Hour)
			ctx, cancel := tc.ctx()
			defer cancel()
			ch := acquireAsync(t, ctx, d, &backend.AcquireRequest{LockID: "x", ClientID: "bob", TTL: time.Minute})
			enqueue(t, d, backend.EnqueueRequest{LockID: "x", ClientID: "carol", WaitTimeout: time.Hour})
			if tc.code == backend.CodeCanceled {
				cancel()
			} // else the deadline ends the wait
			r := recv(t, ch)
			wantCode(t, r.err, tc.code)
			if !errors.Is(r.err, ctx.Err()) {
				t.Fatalf("%v does not unwrap to the context's error %v", r.err, ctx.Err())
			}
			if got := waiters(t, d, "x"); !slices.Equal(got, []string{"carol"}) {
				t.Fatalf("queue %v after bob gave up, want [carol]", got)
			}
			if res := release(t, d, l); res.NextOwner != "carol" {
				t.Fatalf("lock handed to %q, want carol", res.NextOwner)
			}
		})
	}
}

// Two calls of one client blocked on the same place: one giving up leaves
// the place to the other.
func TestSharedPlaceOutlivesOneCall(t *testing.T) {
	s, _ := newStore(t)
	d := newDriver(t, s)
	l := acquire(t, d, "x", "alice", time.Hour)
	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel1()
	ch1 := acquireAsync(t, ctx1, d, &backend.AcquireRequest{LockID: "x", ClientID: "bob", TTL: time.Minute})
	ch2 := make(chan waitResult, 1)
	go func() {
		res, err := d.Acquire(context.Background(), &backend.AcquireRequest{LockID: "x", ClientID: "bob", TTL: time.Minute, Wait: true})
		ch2 <- waitResult{res, err}
	}()
	// The second call joins bob's place; there is no other sign of it
	// than time.
	time.Sleep(20 * time.Millisecond)
	cancel1()
	wantCode(t, recv(t, ch1).err, backend.CodeCanceled)
	if got := waiters(t, d, "x"); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("queue %v, want bob still waiting for his other call", got)
	}
	release(t, d, l)
	r := recv(t, ch2)
	if r.err != nil || r.res.Lock.Owner != "bob" {
		t.Fatalf("bob's remaining call: %+v, %v", r.res, r.err)
	}
}

// The race of a grant with a cancellation, many times over with real
// timing: whichever wins, the waiter either holds the lock and its call
// says so, or holds nothing and waits for nothing.
func TestCancelRacingRelease(t *testing.T) {
	s, _ := newStore(t)
	d := newDriver(t, s)
	for i := range 100 {
		l := acquire(t, d, "x", "alice", time.Hour)
		ctx, cancel := context.WithCancel(context.Background())
		ch := acquireAsync(t, ctx, d, &backend.AcquireRequest{LockID: "x", ClientID: "bob", TTL: time.Hour})
		done := make(chan struct{})
		go func() {
			defer close(done)
			release(t, d, l)
		}()
		if i%2 == 0 {
			time.Sleep(time.Duration(i%7) * 10 * time.Microsecond)
		}
		cancel()
		<-done
		r := recv(t, ch)
		info := getInfo(t, d, "x")
		if r.err == nil {
			if info == nil || info.Owner != "bob" || info.Version != r.res.Lock.Version {
				t.Fatalf("round %d: bob's call succeeded but the store shows %+v", i, info)
			}
			release(t, d, r.res.Lock)
			continue
		}
		wantCode(t, r.err, backend.CodeCanceled)
		if info != nil {
			t.Fatalf("round %d: bob gave up but the lock is %+v (orphaned grant or ghost waiter)", i, info)
		}
	}
}
