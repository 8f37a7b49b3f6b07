package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/memory"
)

// everyCall makes one call of each method on d and returns the errors.
func everyCall(d *memory.Driver) map[string]error {
	ctx := context.Background()
	errs := map[string]error{}
	_, errs["Acquire"] = d.Acquire(ctx, &backend.AcquireRequest{LockID: "new", ClientID: "z", TTL: time.Minute})
	_, errs["Release"] = d.Release(ctx, &backend.ReleaseRequest{LockID: "x", ClientID: "alice", Version: 1})
	_, errs["Renew"] = d.Renew(ctx, &backend.RenewRequest{LockID: "x", ClientID: "alice", Version: 1, TTL: time.Minute})
	_, errs["Get"] = d.Get(ctx, &backend.GetRequest{LockID: "x"})
	_, errs["List"] = d.List(ctx, &backend.ListRequest{})
	_, errs["Enqueue"] = d.Enqueue(ctx, &backend.EnqueueRequest{LockID: "x", ClientID: "z", TTL: time.Minute})
	errs["CancelWait"] = d.CancelWait(ctx, &backend.CancelWaitRequest{LockID: "x", ClientID: "z"})
	_, errs["Status"] = d.Status(ctx)
	_, errs["Health"] = d.Health(ctx)
	_, errs["BackoffAdvice"] = d.BackoffAdvice(ctx, "x")
	// A closed driver answers CodeClosed even to malformed requests.
	_, errs["Acquire(nil)"] = d.Acquire(ctx, nil)
	return errs
}

func TestDriverClose(t *testing.T) {
	s, clk := newStore(t)
	a, b, c := s.NewDriver(), newDriver(t, s), newDriver(t, s)
	l := acquire(t, a, "x", "alice", 10*time.Second)
	acquire(t, c, "y", "carol", time.Hour)
	chA := acquireAsync(t, context.Background(), a, &backend.AcquireRequest{LockID: "y", ClientID: "alice", TTL: time.Minute})
	chB := acquireAsync(t, context.Background(), b, &backend.AcquireRequest{LockID: "y", ClientID: "bob", TTL: time.Minute})

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// Close returned only after a's blocked call left the queue.
	if got := waiters(t, b, "y"); len(got) != 1 || got[0] != "bob" {
		t.Fatalf("queue %v right after a closed, want [bob]", got)
	}
	wantCode(t, recv(t, chA).err, backend.CodeClosed)
	notYet(t, chB)

	for name, err := range everyCall(a) {
		t.Run(name, func(t *testing.T) { wantCode(t, err, backend.CodeClosed) })
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// The closed driver's lock stays held until it expires.
	if info := getInfo(t, b, "x"); info == nil || info.Owner != "alice" || info.Version != l.Version {
		t.Fatalf("lock of a closed driver: %+v, want still held", info)
	}
	clk.Advance(10 * time.Second)
	if info := getInfo(t, b, "x"); info != nil {
		t.Fatalf("lock of a closed driver after its TTL: %+v", info)
	}
	// The other drivers work on.
	if info := getInfo(t, c, "y"); info == nil || info.Owner != "carol" {
		t.Fatalf("y: %+v", info)
	}
}

func TestStoreClose(t *testing.T) {
	s, _ := newStore(t)
	a, b := newDriver(t, s), newDriver(t, s)
	acquire(t, a, "x", "alice", time.Hour)
	chA := acquireAsync(t, context.Background(), a, &backend.AcquireRequest{LockID: "x", ClientID: "anna", TTL: time.Minute})
	chB := acquireAsync(t, context.Background(), b, &backend.AcquireRequest{LockID: "x", ClientID: "bob", TTL: time.Minute, WaitTimeout: time.Hour})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, recv(t, chA).err, backend.CodeClosed)
	wantCode(t, recv(t, chB).err, backend.CodeClosed)
	for _, d := range []*memory.Driver{a, b, s.NewDriver()} {
		for name, err := range everyCall(d) {
			t.Run(name, func(t *testing.T) { wantCode(t, err, backend.CodeClosed) })
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Capabilities stay readable.
	if !a.Capabilities().FIFO {
		t.Fatal("Capabilities after Close lost FIFO")
	}
}
