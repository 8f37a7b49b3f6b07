package conformance

import (
	"errors"
	"testing"
	"time"
)

// The resource is the suite's judge of mutual exclusion, so it is tested
// on its own: it must flag every overlap and regression, and nothing else.

func TestFencedResourceAcceptsOrderlyHolders(t *testing.T) {
	r := NewFencedResource()
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	if err := r.Hold("l", "a", 1, at(0), at(100)); err != nil {
		t.Fatal(err)
	}
	if err := r.Write("l", "a", 1); err != nil {
		t.Fatal(err)
	}
	r.Drop("l", "a", 1, at(50))
	if err := r.Hold("l", "b", 2, at(50), at(150)); err != nil {
		t.Fatalf("lease starting when the previous one was dropped: %v", err)
	}
	// A renewal widens the holder's own lease.
	if err := r.Hold("l", "b", 2, at(120), at(220)); err != nil {
		t.Fatal(err)
	}
	if err := r.Write("l", "b", 2); err != nil {
		t.Fatal(err)
	}
	// Another lock is independent.
	if err := r.Hold("m", "c", 1, at(0), at(500)); err != nil {
		t.Fatal(err)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("violations: %v", err)
	}
	if r.Writes() != 2 || r.Grants() != 3 {
		t.Fatalf("Writes %d, Grants %d, want 2 and 3", r.Writes(), r.Grants())
	}
}

func TestFencedResourceFlagsOverlap(t *testing.T) {
	r := NewFencedResource()
	t0 := time.Now()
	if err := r.Hold("l", "a", 1, t0, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	err := r.Hold("l", "b", 2, t0.Add(500*time.Millisecond), t0.Add(2*time.Second))
	if !errors.Is(err, ErrLeaseOverlap) || !errors.Is(r.Err(), ErrLeaseOverlap) {
		t.Fatalf("overlapping leases: got %v, want ErrLeaseOverlap", err)
	}
}

func TestFencedResourceFlagsSharedToken(t *testing.T) {
	r := NewFencedResource()
	t0 := time.Now()
	_ = r.Hold("l", "a", 7, t0, t0.Add(time.Millisecond))
	err := r.Hold("l", "b", 7, t0.Add(time.Second), t0.Add(2*time.Second))
	if !errors.Is(err, ErrLeaseOverlap) {
		t.Fatalf("two owners with one token: got %v, want ErrLeaseOverlap", err)
	}
}

func TestFencedResourceFlagsTokenOrder(t *testing.T) {
	r := NewFencedResource()
	t0 := time.Now()
	_ = r.Hold("l", "a", 5, t0, t0.Add(time.Millisecond))
	err := r.Hold("l", "b", 4, t0.Add(time.Second), t0.Add(2*time.Second))
	if !errors.Is(err, ErrTokenOrder) {
		t.Fatalf("later lease with a smaller token: got %v, want ErrTokenOrder", err)
	}
}

func TestFencedResourceStaleWrites(t *testing.T) {
	r := NewFencedResource()
	t0 := time.Now()
	// a's lease is long over: its late write is refused, which is fencing
	// doing its job, not a violation.
	_ = r.Hold("l", "a", 1, t0.Add(-time.Hour), t0.Add(-time.Minute))
	_ = r.Hold("l", "b", 2, t0.Add(-time.Second), t0.Add(time.Hour))
	if err := r.Write("l", "b", 2); err != nil {
		t.Fatal(err)
	}
	if err := r.Write("l", "a", 1); !errors.Is(err, ErrStaleToken) {
		t.Fatalf("late write with an old token: got %v, want ErrStaleToken", err)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("a refused write outside its lease counted as a violation: %v", err)
	}
	// c believes its lease runs (the store told it so) yet a newer token
	// has written: that is the store's fault.
	_ = r.Hold("m", "c", 1, t0.Add(-time.Second), t0.Add(time.Hour))
	_ = r.Write("m", "d", 2)
	if err := r.Write("m", "c", 1); !errors.Is(err, ErrStaleToken) || !errors.Is(r.Err(), ErrStaleToken) {
		t.Fatalf("stale write inside a running lease: got %v, violations %v", err, r.Err())
	}
	if r.Refused() != 2 {
		t.Fatalf("Refused %d, want 2", r.Refused())
	}
}
