package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

func TestStatus(t *testing.T) {
	s, clk := newStore(t)
	d := newDriver(t, s)
	ctx := context.Background()
	acquire(t, d, "a", "alice", time.Minute)
	acquire(t, d, "b", "alice", time.Hour)
	enqueue(t, d, backend.EnqueueRequest{LockID: "a", ClientID: "bob", WaitTimeout: time.Hour})
	enqueue(t, d, backend.EnqueueRequest{LockID: "a", ClientID: "carol", WaitTimeout: time.Hour})
	enqueue(t, d, backend.EnqueueRequest{LockID: "b", ClientID: "dave", WaitTimeout: time.Hour})

	st, err := d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Store != "memory" || st.Role != "standalone" || st.Locks != 2 || st.HeldLocks != 2 || st.Waiters != 3 {
		t.Fatalf("Status %+v", st)
	}
	clk.Advance(time.Minute) // a passes to bob
	st, err = d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Locks != 2 || st.HeldLocks != 2 || st.Waiters != 2 {
		t.Fatalf("Status after a hand-off %+v", st)
	}
	h, err := d.Health(ctx)
	if err != nil || !h.Serving {
		t.Fatalf("Health: %+v, %v", h, err)
	}
}

func TestBackoffAdviceGrowsWithContention(t *testing.T) {
	s, _ := newStore(t)
	d := newDriver(t, s)
	ctx := context.Background()
	advice := func() *backend.BackoffAdvice {
		t.Helper()
		a, err := d.BackoffAdvice(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		if a.InitialBackoff <= 0 || a.MaxBackoff < a.InitialBackoff || a.Multiplier < 1 || a.JitterFactor < 0 || a.JitterFactor > 1 {
			t.Fatalf("malformed advice %+v", a)
		}
		return a
	}
	prev := advice()
	acquire(t, d, "x", "alice", time.Hour)
	for i := range 5 {
		next := advice()
		if next.InitialBackoff <= prev.InitialBackoff || next.MaxBackoff < prev.MaxBackoff {
			t.Fatalf("advice with %d waiters %+v is not above %+v", i, next, prev)
		}
		prev = next
		enqueue(t, d, backend.EnqueueRequest{LockID: "x", ClientID: "w" + string(rune('0'+i)), WaitTimeout: time.Hour})
	}
}
