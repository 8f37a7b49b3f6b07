package raftlock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

func TestErrorIsAndAs(t *testing.T) {
	driverErr := &backend.Error{Code: backend.CodeLockHeld, LockID: "jobs/a", Owner: "worker-2", Message: "held"}
	err := fmt.Errorf("doing work: %w", newError(OpAcquire, "jobs/a", 1, driverErr))

	if !errors.Is(err, ErrLockHeld) {
		t.Fatal("errors.Is(err, ErrLockHeld) = false")
	}
	if errors.Is(err, ErrNotLockOwner) {
		t.Fatal("errors.Is matched the wrong sentinel")
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatal("errors.As(*Error) = false")
	}
	if e.Op != OpAcquire || e.Owner != "worker-2" || e.LockID != "jobs/a" || e.Attempts != 1 {
		t.Fatalf("details = %+v", e)
	}
	var be *backend.Error
	if !errors.As(err, &be) || be.Owner != "worker-2" {
		t.Fatal("the driver's *backend.Error must stay reachable")
	}
	if got, want := e.Error(), `raftlock: acquire: lock held (lock "jobs/a"): held`; got != want {
		t.Fatalf("message = %q, want %q", got, want)
	}
	if CodeOf(err) != backend.CodeLockHeld {
		t.Fatalf("CodeOf = %v", CodeOf(err))
	}
}

func TestErrorFromContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	err := newError(OpRenew, "x", 1, backend.ContextError(ctx, "x"))
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a deadline must read as both ErrTimeout and context.DeadlineExceeded: %v", err)
	}
	err = newError(OpRenew, "x", 1, context.Canceled)
	if !errors.Is(err, ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("a bare context error must read as ErrCanceled too: %v", err)
	}
}

// Errors from outside an operation name what failed, not an operation's
// zero value.
func TestSetupErrorsNameTheirStep(t *testing.T) {
	_, err := Open(context.Background(), "nosuchscheme://x")
	var e *Error
	if !errors.As(err, &e) || e.Op.String() != "open" || !strings.Contains(err.Error(), "open") {
		t.Errorf("Open of an unknown scheme = %v (op %v), want it to say open", err, e)
	}
	cfg := DefaultConfig()
	cfg.URL = "mem://"
	cfg.LeaseSafetyFactor = 2
	_, err = OpenConfig(context.Background(), cfg)
	if !errors.As(err, &e) || e.Op.String() != "configure" {
		t.Errorf("OpenConfig with a bad factor = %v, want op configure", err)
	}
}
