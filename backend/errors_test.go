package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// codeTable lists every code with its name, sentinel and retryability. Its
// length is checked against numCodes, so a new code must be added here.
var codeTable = []struct {
	code      Code
	name      string
	sentinel  error
	retryable bool
}{
	{CodeUnknown, "unknown", nil, false},
	{CodeLockHeld, "lock held", ErrLockHeld, false},
	{CodeNotLockOwner, "not lock owner", ErrNotLockOwner, false},
	{CodeVersionMismatch, "version mismatch", ErrVersionMismatch, false},
	{CodeNotFound, "lock not found", ErrLockNotFound, false},
	{CodeInvalidTTL, "invalid ttl", ErrInvalidTTL, false},
	{CodeInvalidArgument, "invalid argument", ErrInvalidArgument, false},
	{CodeWaitQueueFull, "wait queue full", ErrWaitQueueFull, false},
	{CodeNotWaiting, "not waiting", ErrNotWaiting, false},
	{CodeTimeout, "timeout", ErrTimeout, false},
	{CodeLeaderUnavailable, "leader unavailable", ErrLeaderUnavailable, true},
	{CodeUnavailable, "unavailable", ErrUnavailable, true},
	{CodeRateLimit, "rate limited", ErrRateLimit, true},
	{CodeClosed, "client closed", ErrClientClosed, false},
	{CodeNotSupported, "not supported", ErrNotSupported, false},
	{CodeResourceExhausted, "resource exhausted", ErrResourceExhausted, false},
	{CodeNotLeader, "not leader", ErrNotLeader, true},
	{CodeCanceled, "canceled", ErrCanceled, false},
	{CodeInternal, "internal error", ErrInternal, false},
}

func TestCodeTableComplete(t *testing.T) {
	if len(codeTable) != int(numCodes) {
		t.Fatalf("codeTable has %d codes, the package %d", len(codeTable), numCodes)
	}
	for i, c := range codeTable {
		// The numeric values travel over the wire: they must not move.
		if int(c.code) != i {
			t.Errorf("%s = %d, want %d", c.name, c.code, i)
		}
	}
}

func TestCodeString(t *testing.T) {
	seen := map[string]Code{}
	for _, c := range codeTable {
		if got := c.code.String(); got != c.name {
			t.Errorf("Code(%d).String() = %q, want %q", c.code, got, c.name)
		}
		if prev, dup := seen[c.name]; dup {
			t.Errorf("codes %d and %d share the name %q", prev, c.code, c.name)
		}
		seen[c.name] = c.code
	}
	for _, tt := range []struct {
		code Code
		want string
	}{
		{numCodes, fmt.Sprintf("code(%d)", uint8(numCodes))},
		{200, "code(200)"},
		{255, "code(255)"},
	} {
		if got := tt.code.String(); got != tt.want {
			t.Errorf("Code(%d).String() = %q, want %q", tt.code, got, tt.want)
		}
	}
}

func TestCodeRetryable(t *testing.T) {
	for _, c := range codeTable {
		if got := c.code.Retryable(); got != c.retryable {
			t.Errorf("%q.Retryable() = %v, want %v", c.code, got, c.retryable)
		}
	}
	for _, c := range []Code{numCodes, 255} {
		if c.Retryable() {
			t.Errorf("Code(%d).Retryable() = true for an unknown code", c)
		}
	}
}

func TestCodeSentinel(t *testing.T) {
	seen := map[error]Code{}
	for _, c := range codeTable {
		got := c.code.Sentinel()
		if got != c.sentinel {
			t.Errorf("%q.Sentinel() = %v, want %v", c.code, got, c.sentinel)
		}
		if got == nil {
			continue
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("codes %q and %q share a sentinel", prev, c.code)
		}
		seen[got] = c.code
		if want := "raftlock: " + c.name; got.Error() != want {
			t.Errorf("%q sentinel Error() = %q, want %q", c.code, got.Error(), want)
		}
		if CodeOf(got) != c.code {
			t.Errorf("CodeOf(%q.Sentinel()) = %q", c.code, CodeOf(got))
		}
	}
	if len(seen) != int(numCodes)-1 {
		t.Errorf("%d distinct sentinels, want %d", len(seen), numCodes-1)
	}
	for _, c := range []Code{CodeUnknown, numCodes, 255} {
		if s := c.Sentinel(); s != nil {
			t.Errorf("Code(%d).Sentinel() = %v, want nil", c, s)
		}
	}
}

func TestErrorIs(t *testing.T) {
	for _, c := range codeTable {
		e := &Error{Code: c.code, LockID: "a", Message: "m"}
		wrapped := fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", e))
		for _, s := range codeTable {
			if s.sentinel == nil {
				continue
			}
			want := s.code == c.code
			if got := errors.Is(e, s.sentinel); got != want {
				t.Errorf("errors.Is(*Error{%q}, %v) = %v, want %v", c.code, s.sentinel, got, want)
			}
			if got := errors.Is(wrapped, s.sentinel); got != want {
				t.Errorf("errors.Is(wrapped *Error{%q}, %v) = %v, want %v", c.code, s.sentinel, got, want)
			}
		}
		// Only sentinels match: not other errors, not another *Error of
		// the same code.
		if errors.Is(e, io.EOF) {
			t.Errorf("*Error{%q} matches io.EOF", c.code)
		}
		if e.Is(&Error{Code: c.code}) {
			t.Errorf("*Error{%q}.Is(another *Error of that code) = true", c.code)
		}
	}
}

func TestErrorUnwrap(t *testing.T) {
	e := &Error{Code: CodeTimeout, Err: context.DeadlineExceeded}
	if e.Unwrap() != context.DeadlineExceeded {
		t.Errorf("Unwrap() = %v, want context.DeadlineExceeded", e.Unwrap())
	}
	wrapped := fmt.Errorf("acquire: %w", e)
	if !errors.Is(wrapped, context.DeadlineExceeded) {
		t.Error("wrapped *Error does not reach context.DeadlineExceeded")
	}
	if !errors.Is(wrapped, ErrTimeout) {
		t.Error("wrapped *Error does not match ErrTimeout")
	}
	if errors.Is(wrapped, context.Canceled) {
		t.Error("wrapped *Error matches context.Canceled")
	}
	var got *Error
	if !errors.As(wrapped, &got) || got != e {
		t.Errorf("errors.As did not find the *Error")
	}
	if (&Error{Code: CodeInternal}).Unwrap() != nil {
		t.Error("Unwrap() of an *Error without cause is not nil")
	}
}

func TestErrorMessage(t *testing.T) {
	cause := errors.New("connection reset")
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"code only", &Error{Code: CodeLockHeld}, "raftlock: lock held"},
		{"with lock", &Error{Code: CodeLockHeld, LockID: "jobs/a"}, `raftlock: lock held (lock "jobs/a")`},
		{"with message", &Error{Code: CodeNotFound, Message: "gone"}, "raftlock: lock not found: gone"},
		{"cause without message", &Error{Code: CodeUnavailable, Err: cause}, "raftlock: unavailable: connection reset"},
		{"message hides cause", &Error{Code: CodeUnavailable, Message: "dial", Err: cause}, "raftlock: unavailable: dial"},
		{"everything", &Error{Code: CodeNotLockOwner, LockID: "x", Message: "m"}, `raftlock: not lock owner (lock "x"): m`},
		{"Errorf", Errorf(CodeInvalidTTL, "TTL %v", time.Second), "raftlock: invalid ttl: TTL 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCodeOf(t *testing.T) {
	inner := &Error{Code: CodeUnavailable, Err: context.DeadlineExceeded}
	tests := []struct {
		name string
		err  error
		want Code
	}{
		{"nil", nil, CodeUnknown},
		{"*Error", &Error{Code: CodeLockHeld}, CodeLockHeld},
		{"*Error with unknown code", &Error{Code: CodeUnknown}, CodeUnknown},
		{"sentinel", ErrNotLeader, CodeNotLeader},
		{"wrapped *Error", fmt.Errorf("a: %w", fmt.Errorf("b: %w", &Error{Code: CodeVersionMismatch})), CodeVersionMismatch},
		{"wrapped sentinel", fmt.Errorf("a: %w", ErrWaitQueueFull), CodeWaitQueueFull},
		{"*Error wins over its context cause", inner, CodeUnavailable},
		{"*Error wins over its sentinel cause", &Error{Code: CodeInternal, Err: ErrLockHeld}, CodeInternal},
		{"deadline exceeded", context.DeadlineExceeded, CodeTimeout},
		{"canceled", context.Canceled, CodeCanceled},
		{"wrapped deadline exceeded", fmt.Errorf("rpc: %w", context.DeadlineExceeded), CodeTimeout},
		{"wrapped canceled", fmt.Errorf("rpc: %w", context.Canceled), CodeCanceled},
		{"plain error", errors.New("boom"), CodeUnknown},
		{"wrapped plain error", fmt.Errorf("x: %w", io.EOF), CodeUnknown},
		{"unwrapped text only", fmt.Errorf("x: %v", ErrLockHeld), CodeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CodeOf(tt.err); got != tt.want {
				t.Errorf("CodeOf(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestContextError(t *testing.T) {
	deadline := func() context.Context {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		t.Cleanup(cancel)
		return ctx
	}
	canceled := func() context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}
	tests := []struct {
		name    string
		ctx     context.Context
		want    Code
		ctxErr  error
		notErr  error
		sentErr error
	}{
		{"deadline", deadline(), CodeTimeout, context.DeadlineExceeded, context.Canceled, ErrTimeout},
		{"cancellation", canceled(), CodeCanceled, context.Canceled, context.DeadlineExceeded, ErrCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ContextError(tt.ctx, "jobs/a")
			if e.Code != tt.want {
				t.Errorf("Code = %q, want %q", e.Code, tt.want)
			}
			if e.LockID != "jobs/a" {
				t.Errorf("LockID = %q, want %q", e.LockID, "jobs/a")
			}
			var err error = e
			if !errors.Is(err, tt.ctxErr) {
				t.Errorf("%v does not unwrap to %v", err, tt.ctxErr)
			}
			if errors.Is(err, tt.notErr) {
				t.Errorf("%v unwraps to %v", err, tt.notErr)
			}
			if !errors.Is(err, tt.sentErr) {
				t.Errorf("%v does not match %v", err, tt.sentErr)
			}
			if got := CodeOf(fmt.Errorf("wait: %w", err)); got != tt.want {
				t.Errorf("CodeOf(wrapped) = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestContextErrorWithCause checks that a context ended with a cause gives
// an error that reaches both the cause and the context error: callers test
// for context.DeadlineExceeded / context.Canceled whatever the cause.
func TestContextErrorWithCause(t *testing.T) {
	cause := errors.New("shutting down")
	deadline := func() context.Context {
		ctx, cancel := context.WithDeadlineCause(context.Background(), time.Now().Add(-time.Second), cause)
		t.Cleanup(cancel)
		return ctx
	}
	canceled := func() context.Context {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(cause)
		return ctx
	}
	tests := []struct {
		name   string
		ctx    context.Context
		want   Code
		ctxErr error
	}{
		{"deadline", deadline(), CodeTimeout, context.DeadlineExceeded},
		{"cancellation", canceled(), CodeCanceled, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ContextError(tt.ctx, "jobs/a")
			if e.Code != tt.want {
				t.Errorf("Code = %q, want %q", e.Code, tt.want)
			}
			var err error = e
			if !errors.Is(err, cause) {
				t.Errorf("%v does not unwrap to the cause", err)
			}
			if CodeOf(err) != tt.want {
				t.Errorf("CodeOf = %q, want %q", CodeOf(err), tt.want)
			}
			if !errors.Is(err, tt.ctxErr) {
				t.Errorf("%v does not unwrap to %v", err, tt.ctxErr)
			}
		})
	}
}
