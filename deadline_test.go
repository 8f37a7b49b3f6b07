package raftlock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestAttemptContextNotNeeded(t *testing.T) {
	if newAttemptContext(context.Background(), time.Now(), 0) != nil {
		t.Error("no timeout should need no context")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if newAttemptContext(ctx, time.Now(), time.Hour) != nil {
		t.Error("a parent that ends sooner should be used as it is")
	}
}

func TestAttemptContextDeadlineWithoutDone(t *testing.T) {
	ac := newAttemptContext(context.Background(), time.Now(), 20*time.Millisecond)
	defer ac.end()
	if ac.Err() != nil {
		t.Fatal("fresh context already done")
	}
	if d, ok := ac.Deadline(); !ok || time.Until(d) > 20*time.Millisecond {
		t.Fatalf("Deadline = %v, %v", d, ok)
	}
	time.Sleep(30 * time.Millisecond)
	if !errors.Is(ac.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err after the deadline = %v, want DeadlineExceeded", ac.Err())
	}
	select {
	case <-ac.Done():
	default:
		t.Fatal("Done must be closed once Err is not nil")
	}
	if !errors.Is(context.Cause(ac), context.DeadlineExceeded) {
		t.Fatalf("Cause = %v", context.Cause(ac))
	}
}

func TestAttemptContextDoneFires(t *testing.T) {
	ac := newAttemptContext(context.Background(), time.Now(), 10*time.Millisecond)
	defer ac.end()
	select {
	case <-ac.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done never closed after the deadline")
	}
	if !errors.Is(ac.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err = %v", ac.Err())
	}
}

func TestAttemptContextParentCancel(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	ac := newAttemptContext(parent, time.Now(), time.Hour)
	defer ac.end()
	done := ac.Done()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("parent's cancellation did not reach Done")
	}
	if !errors.Is(ac.Err(), context.Canceled) {
		t.Fatalf("Err = %v, want Canceled", ac.Err())
	}
}

func TestAttemptContextEnd(t *testing.T) {
	ac := newAttemptContext(context.Background(), time.Now(), time.Hour)
	done := ac.Done()
	ac.end()
	select {
	case <-done:
	default:
		t.Fatal("end must close Done")
	}
	ac.end() // twice is harmless
	if !errors.Is(ac.Err(), context.Canceled) {
		t.Fatalf("Err after end = %v", ac.Err())
	}
}

func TestAttemptContextValue(t *testing.T) {
	type key struct{}
	parent := context.WithValue(context.Background(), key{}, "v")
	ac := newAttemptContext(parent, time.Now(), time.Hour)
	defer ac.end()
	if ac.Value(key{}) != "v" {
		t.Fatal("values of the parent must be visible")
	}
}
