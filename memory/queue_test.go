package memory_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

func enqueue(t *testing.T, d interface {
	Enqueue(context.Context, *backend.EnqueueRequest) (*backend.EnqueueResult, error)
}, req backend.EnqueueRequest) *backend.EnqueueResult {
	t.Helper()
	if req.TTL == 0 {
		req.TTL = time.Minute
	}
	res, err := d.Enqueue(context.Background(), &req)
	if err != nil {
		t.Fatalf("Enqueue(%s, %s): %v", req.LockID, req.ClientID, err)
	}
	return res
}

// Waiters are granted by priority, higher first, and in arrival order
// within a priority, whether they joined blocked (Acquire with Wait) or not
// (Enqueue).
func TestQueueOrder(t *testing.T) {
	s, _ := newStore(t)
	d := newDriver(t, s)
	l := acquire(t, d, "x", "holder", time.Hour)
	type join struct {
		client   string
		priority int32
		blocked  bool
	}
	joins := []join{
		{"low-1", -1, false},
		{"mid-1", 0, true},
		{"high-1", 5, false},
		{"mid-2", 0, false},
		{"high-2", 5, true},
		{"low-2", -1, true},
		{"mid-3", 0, true},
	}
	want := []string{"high-1", "high-2", "mid-1", "mid-2", "mid-3", "low-1", "low-2"}
	results := map[string]<-chan waitResult{}
	for _, j := range joins {
		if j.blocked {
			results[j.client] = acquireAsync(t, context.Background(), d, &backend.AcquireRequest{LockID: "x", ClientID: j.client, TTL: time.Hour, Priority: j.priority})
		} else {
			enqueue(t, d, backend.EnqueueRequest{LockID: "x", ClientID: j.client, TTL: time.Hour, Priority: j.priority, WaitTimeout: time.Hour})
		}
	}
	if got := waiters(t, d, "x"); !slices.Equal(got, want) {
		t.Fatalf("queue %v, want %v", got, want)
	}
	for _, next := range want {
		res := release(t, d, l)
		if res.NextOwner != next {
			t.Fatalf("Release handed the lock to %q, want %q", res.NextOwner, next)
		}
		if ch, ok := results[next]; ok {
			r := recv(t, ch)
			if r.err != nil {
				t.Fatalf("%s: %v", next, r.err)
			}
			l = r.res.Lock
		} else {
			// An Enqueue'd waiter learns of its grant through Acquire.
			res, err := d.Acquire(context.Background(), &backend.AcquireRequest{LockID: "x", ClientID: next, TTL: time.Hour})
			if err != nil {
				t.Fatalf("%s's Acquire after its grant: %v", next, err)
			}
			l = res.Lock
		}
		if l.Owner != next {
			t.Fatalf("grant %+v, want owner %s", l, next)
		}
	}
	if res := release(t, d, l); res.NextOwner != "" {
		t.Fatalf("NextOwner %q after the queue emptied", res.NextOwner)
	}
}

func TestEnqueue(t *testing.T) {
	s, clk := newStore(t)
	d := newDriver(t, s)
	ctx := context.Background()

	// Free lock, empty queue: granted at once.
	res := enqueue(t, d, backend.EnqueueRequest{LockID: "x", ClientID: "alice", TTL: time.Minute})
	if !res.Granted || res.Lock.Owner != "alice" || res.Lock.Version <= 0 {
		t.Fatalf("Enqueue on a free lock: %+v", res)
	}
	// By the holder: its grant back, unchanged.
	clk.Advance(time.Second)
	again := enqueue(t, d, backend.EnqueueRequest{LockID: "x", ClientID: "alice", TTL: time.Hour})
	if !again.Granted || again.Lock.Version != res.Lock.Version || !again.Lock.ExpiresAt.Equal(res.Lock.ExpiresAt) {
		t.Fatalf("Enqueue by the holder: %+v, want %+v", again.Lock, res.Lock)
	}
	// Others queue, and a repeat changes nothing.
	if r := enqueue(t, d, backend.EnqueueRequest{LockID: "x", ClientID: "bob"}); r.Granted || r.Position != 0 {
		t.Fatalf("bob's Enqueue: %+v", r)
	}
	if r := enqueue(t, d, backend.EnqueueRequest{LockID: "x", ClientID: "carol"}); r.Position != 1 {
		t.Fatalf("carol's Enqueue: %+v", r)
	}
	before := getInfo(t, d, "x")
	if r := enqueue(t, d, backend.EnqueueRequest{LockID: "x", ClientID: "bob", Priority: 100, WaitTimeout: time.Second}); r.Granted || r.Position != 0 {
		t.Fatalf("bob's second Enqueue: %+v", r)
	}
	if after := getInfo(t, d, "x"); !slices.Equal(after.Waiters, before.Waiters) {
		t.Fatalf("repeated Enqueue changed the queue: %+v, was %+v", after.Waiters, before.Waiters)
	}
	// The default wait timeout applies to a zero WaitTimeout.
	if w := before.Waiters[0]; !w.TimeoutAt.Equal(w.EnqueuedAt.Add(time.Minute)) {
		t.Fatalf("Enqueue'd waiter times out at %v, want the default minute after %v", w.TimeoutAt, w.EnqueuedAt)
	}
	// Acquire without Wait by a queued client fails and leaves it queued.
	_, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "x", ClientID: "carol", TTL: time.Minute})
	wantCode(t, err, backend.CodeLockHeld)
	if got := waiters(t, d, "x"); !slices.Equal(got, []string{"bob", "carol"}) {
		t.Fatalf("queue %v after a queued client's Acquire without Wait", got)
	}
	// After the default timeout, both leave.
	clk.Advance(time.Minute)
	if got := waiters(t, d, "x"); len(got) != 0 {
		t.Fatalf("queue %v after the default wait timeout", got)
	}
}

// Acquire with Wait by a client already queued through Enqueue waits in
// the place it has, and the grant carries the Acquire's TTL.
func TestAcquireWaitKeepsQueuedPlace(t *testing.T) {
	s, clk := newStore(t)
	d := newDriver(t, s)
	l := acquire(t, d, "x", "alice", time.Hour)
	enqueue(t, d, backend.EnqueueRequest{LockID: "x", ClientID: "bob", TTL: time.Second, WaitTimeout: time.Hour})
	enqueue(t, d, backend.EnqueueRequest{LockID: "x", ClientID: "carol", WaitTimeout: time.Hour})
	ch := acquireAsync(t, context.Background(), d, &backend.AcquireRequest{LockID: "x", ClientID: "carol", TTL: 7 * time.Second, Priority: 9})
	if got := waiters(t, d, "x"); !slices.Equal(got, []string{"bob", "carol"}) {
		t.Fatalf("queue %v: carol's Acquire with Wait moved her", got)
	}
	release(t, d, l) // to bob
	notYet(t, ch)
	clk.Advance(time.Second) // bob's lease ends: to carol
	r := recv(t, ch)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := r.res.Lock.ExpiresAt.Sub(r.res.Lock.AcquiredAt); got != 7*time.Second {
		t.Fatalf("carol's lease %v, want the 7s of her Acquire", got)
	}
}

func TestCancelWait(t *testing.T) {
	s, _ := newStore(t)
	d := newDriver(t, s)
	ctx := context.Background()
	l := acquire(t, d, "x", "alice", time.Hour)
	enqueue(t, d, backend.EnqueueRequest{LockID: "x", ClientID: "bob", WaitTimeout: time.Hour})
	ch := acquireAsync(t, ctx, d, &backend.AcquireRequest{LockID: "x", ClientID: "carol", TTL: time.Minute})

	for _, c := range []string{"bob", "carol"} {
		if err := d.CancelWait(ctx, &backend.CancelWaitRequest{LockID: "x", ClientID: c}); err != nil {
			t.Fatalf("CancelWait(%s): %v", c, err)
		}
	}
	wantCode(t, recv(t, ch).err, backend.CodeCanceled)
	if got := waiters(t, d, "x"); len(got) != 0 {
		t.Fatalf("queue %v after CancelWait", got)
	}
	tests := []struct{ name, lock, client string }{
		{"again", "x", "bob"},
		{"holder", "x", "alice"},
		{"unknown lock", "y", "bob"},
	}
	for _, tt := range tests {
		err := d.CancelWait(ctx, &backend.CancelWaitRequest{LockID: tt.lock, ClientID: tt.client})
		wantCode(t, err, backend.CodeNotWaiting)
	}
	if info := getInfo(t, d, "x"); info.Owner != "alice" || info.Version != l.Version {
		t.Fatalf("CancelWait by the holder changed the lock: %+v", info)
	}
	if res := release(t, d, l); res.NextOwner != "" {
		t.Fatalf("lock handed to %q after every waiter cancelled", res.NextOwner)
	}
}
