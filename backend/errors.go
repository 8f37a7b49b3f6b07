package backend

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Code classifies a failure the same way for every store. Drivers map their
// store's failures onto a Code; the portable client decides from the Code
// alone whether to retry, and callers test for it with errors.Is against the
// sentinel errors below (re-exported by the root package).
type Code uint8

// The codes. Their numeric values travel over the wire (the Raft store's gRPC
// service), so they are never renumbered: new codes are appended.
const (
	CodeUnknown           Code = iota // not classified; not retried
	CodeLockHeld                      // another client holds the lock
	CodeNotLockOwner                  // the caller does not hold the lock
	CodeVersionMismatch               // the caller holds the lock, but not at that version
	CodeNotFound                      // no such lock (never granted, released or expired)
	CodeInvalidTTL                    // TTL outside the store's range
	CodeInvalidArgument               // malformed request
	CodeWaitQueueFull                 // the lock's wait queue is at its limit
	CodeNotWaiting                    // the client is not in the lock's wait queue
	CodeTimeout                       // the operation or the wait ran out of time
	CodeLeaderUnavailable             // replicated store without a leader; retryable
	CodeUnavailable                   // store unreachable; retryable
	CodeRateLimit                     // caller is over its rate; retryable after RetryAfter
	CodeClosed                        // the driver or store was closed
	CodeNotSupported                  // the store lacks the capability
	CodeResourceExhausted             // store-wide limit reached (locks, memory)
	CodeNotLeader                     // a follower answered; Leader names the leader; retryable
	CodeCanceled                      // the caller's context was cancelled
	CodeInternal                      // a bug or corruption in the store
	numCodes
)

var codeNames = [numCodes]string{
	CodeUnknown:           "unknown",
	CodeLockHeld:          "lock held",
	CodeNotLockOwner:      "not lock owner",
	CodeVersionMismatch:   "version mismatch",
	CodeNotFound:          "lock not found",
	CodeInvalidTTL:        "invalid ttl",
	CodeInvalidArgument:   "invalid argument",
	CodeWaitQueueFull:     "wait queue full",
	CodeNotWaiting:        "not waiting",
	CodeTimeout:           "timeout",
	CodeLeaderUnavailable: "leader unavailable",
	CodeUnavailable:       "unavailable",
	CodeRateLimit:         "rate limited",
	CodeClosed:            "client closed",
	CodeNotSupported:      "not supported",
	CodeResourceExhausted: "resource exhausted",
	CodeNotLeader:         "not leader",
	CodeCanceled:          "canceled",
	CodeInternal:          "internal error",
}

// String returns the code's human name, as used in error messages.
func (c Code) String() string {
	if c < numCodes {
		return codeNames[c]
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}

// Retryable reports whether an operation that failed with this code may
// succeed if sent again unchanged. It is the default set of the client's
// retry policy; a policy may narrow or widen it.
func (c Code) Retryable() bool {
	switch c {
	case CodeLeaderUnavailable, CodeUnavailable, CodeRateLimit, CodeNotLeader:
		return true
	}
	return false
}

// Sentinel returns the sentinel error for the code (nil for CodeUnknown).
func (c Code) Sentinel() error {
	if c == CodeUnknown || c >= numCodes {
		return nil
	}
	return sentinels[c]
}

// sentinel is the type of the package-level Err values. A distinct type keeps
// them comparable by identity and lets (*Error).Is map a code to one of them.
type sentinel struct {
	code Code
}

func (s *sentinel) Error() string { return "raftlock: " + s.code.String() }

// Code returns the code the sentinel stands for.
func (s *sentinel) Code() Code { return s.code }

// The sentinel errors. Every *Error with the matching Code satisfies
// errors.Is(err, ErrX), whichever driver produced it and however it was
// wrapped. The root package re-exports them under the same names.
var (
	ErrLockHeld          error = &sentinel{CodeLockHeld}
	ErrNotLockOwner      error = &sentinel{CodeNotLockOwner}
	ErrVersionMismatch   error = &sentinel{CodeVersionMismatch}
	ErrLockNotFound      error = &sentinel{CodeNotFound}
	ErrInvalidTTL        error = &sentinel{CodeInvalidTTL}
	ErrInvalidArgument   error = &sentinel{CodeInvalidArgument}
	ErrWaitQueueFull     error = &sentinel{CodeWaitQueueFull}
	ErrNotWaiting        error = &sentinel{CodeNotWaiting}
	ErrTimeout           error = &sentinel{CodeTimeout}
	ErrLeaderUnavailable error = &sentinel{CodeLeaderUnavailable}
	ErrUnavailable       error = &sentinel{CodeUnavailable}
	ErrRateLimit         error = &sentinel{CodeRateLimit}
	ErrClientClosed      error = &sentinel{CodeClosed}
	ErrNotSupported      error = &sentinel{CodeNotSupported}
	ErrResourceExhausted error = &sentinel{CodeResourceExhausted}
	ErrNotLeader         error = &sentinel{CodeNotLeader}
	ErrCanceled          error = &sentinel{CodeCanceled}
	ErrInternal          error = &sentinel{CodeInternal}
)

var sentinels = [numCodes]error{
	CodeLockHeld:          ErrLockHeld,
	CodeNotLockOwner:      ErrNotLockOwner,
	CodeVersionMismatch:   ErrVersionMismatch,
	CodeNotFound:          ErrLockNotFound,
	CodeInvalidTTL:        ErrInvalidTTL,
	CodeInvalidArgument:   ErrInvalidArgument,
	CodeWaitQueueFull:     ErrWaitQueueFull,
	CodeNotWaiting:        ErrNotWaiting,
	CodeTimeout:           ErrTimeout,
	CodeLeaderUnavailable: ErrLeaderUnavailable,
	CodeUnavailable:       ErrUnavailable,
	CodeRateLimit:         ErrRateLimit,
	CodeClosed:            ErrClientClosed,
	CodeNotSupported:      ErrNotSupported,
	CodeResourceExhausted: ErrResourceExhausted,
	CodeNotLeader:         ErrNotLeader,
	CodeCanceled:          ErrCanceled,
	CodeInternal:          ErrInternal,
}

// Error is the error every driver returns. Code drives errors.Is and the
// retry decision; the other fields are details for errors.As and logs.
type Error struct {
	Code    Code
	Message string // what went wrong, for people; may be empty

	LockID     string        // the lock concerned, when there is one
	Owner      string        // the current holder, with CodeLockHeld when the store knows it
	Leader     string        // the leader's client API address, with CodeNotLeader / CodeLeaderUnavailable
	RetryAfter time.Duration // a hint, with CodeRateLimit / CodeUnavailable

	Err error // the underlying cause, if any (a context error, an I/O error)
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error formats the code, the lock and the message.
func (e *Error) Error() string {
	msg := "raftlock: " + e.Code.String()
	if e.LockID != "" {
		msg += fmt.Sprintf(" (lock %q)", e.LockID)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil && e.Message == "" {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports whether target is the sentinel for e.Code, so that
// errors.Is(err, ErrLockHeld) works for every driver.
func (e *Error) Is(target error) bool {
	if s, ok := target.(*sentinel); ok {
		return s.code == e.Code
	}
	return false
}

// Unwrap returns the cause, so errors.Is(err, context.DeadlineExceeded)
// still works on a timeout.
func (e *Error) Unwrap() error { return e.Err }

// CodeOf returns the Code of err: the Code of the first *Error in its chain,
// else that of the first sentinel, else CodeTimeout / CodeCanceled for the
// context errors, CodeUnknown otherwise (and for nil).
func CodeOf(err error) Code {
	if err == nil {
		return CodeUnknown
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var s *sentinel
	if errors.As(err, &s) {
		return s.code
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return CodeTimeout
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	}
	return CodeUnknown
}

// ContextError turns a done context's error into an *Error (CodeTimeout for a
// deadline, CodeCanceled for a cancellation) that still unwraps to the
// context error. Drivers return it when they stop waiting because ctx is done.
func ContextError(ctx context.Context, lockID string) *Error {
	err := ctx.Err()
	code := CodeCanceled
	if errors.Is(err, context.DeadlineExceeded) {
		code = CodeTimeout
	}
	if cause := context.Cause(ctx); cause != nil && cause != err {
		// Keep both: callers test for context.Canceled and for their own cause.
		err = fmt.Errorf("%w: %w", err, cause)
	}
	return &Error{Code: code, LockID: lockID, Err: err}
}
