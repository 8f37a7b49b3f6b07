package raftlock

import (
	"errors"
	"fmt"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// The sentinel errors. Test for them with errors.Is; every error the client
// returns matches exactly one of them (or none, for an unclassified failure),
// whichever store produced it.
var (
	ErrLockHeld          = backend.ErrLockHeld          // another client holds the lock
	ErrNotLockOwner      = backend.ErrNotLockOwner      // the caller does not hold the lock
	ErrVersionMismatch   = backend.ErrVersionMismatch   // the caller holds the lock at another version
	ErrLockNotFound      = backend.ErrLockNotFound      // nobody holds or waits for the lock
	ErrInvalidTTL        = backend.ErrInvalidTTL        // TTL outside the store's range
	ErrInvalidArgument   = backend.ErrInvalidArgument   // malformed request or configuration
	ErrWaitQueueFull     = backend.ErrWaitQueueFull     // the lock's wait queue is at its limit
	ErrNotWaiting        = backend.ErrNotWaiting        // CancelWait by a client not in the queue
	ErrTimeout           = backend.ErrTimeout           // the call, or the wait, ran out of time
	ErrLeaderUnavailable = backend.ErrLeaderUnavailable // replicated store without a leader
	ErrUnavailable       = backend.ErrUnavailable       // the store cannot be reached
	ErrRateLimit         = backend.ErrRateLimit         // the caller is over its rate
	ErrClientClosed      = backend.ErrClientClosed      // the client or its store was closed
	ErrNotSupported      = backend.ErrNotSupported      // the store lacks the capability
	ErrResourceExhausted = backend.ErrResourceExhausted // a store-wide limit was reached
	ErrNotLeader         = backend.ErrNotLeader         // a follower answered
	ErrCanceled          = backend.ErrCanceled          // the caller's context was cancelled
	ErrInternal          = backend.ErrInternal          // a bug or corruption in the store
)

// Error is the detailed form of every error the client returns. Use
// errors.As to read it:
//
//	var e *raftlock.Error
//	if errors.As(err, &e) && e.Owner != "" {
//		log.Printf("%s is held by %s", e.LockID, e.Owner)
//	}
type Error struct {
	Op       Op     // the client operation that failed
	Code     Code   // the failure's class; errors.Is compares it with the sentinels
	LockID   string // the lock concerned, when there is one
	Owner    string // the current holder, with ErrLockHeld, when the store knows it
	Leader   string // the leader's client API address, when the store named one
	Attempts int    // how many times the request was sent (0 if it never was)

	// RetryAfter is the store's hint for when to try again, if it gave one.
	RetryAfter time.Duration

	// Err is the driver's error (a *backend.Error) or a context error.
	Err error
}

// Error formats the operation, the class and the driver's message.
func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("raftlock: %s: %s", e.Op, e.Code)
	}
	return fmt.Sprintf("raftlock: %s: %s", e.Op, trimPrefix(e.Err.Error()))
}

// trimPrefix drops the driver error's own "raftlock: " so that the message
// names the package once.
func trimPrefix(s string) string {
	const p = "raftlock: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// Is reports whether target is the sentinel error for e.Code, so that
// errors.Is(err, ErrTimeout) holds even when the cause is a context error.
func (e *Error) Is(target error) bool {
	s := e.Code.Sentinel()
	return s != nil && s == target
}

// Unwrap returns the driver's error or the context error.
func (e *Error) Unwrap() error { return e.Err }

// CodeOf returns the Code of any error the client or a driver returned:
// backend.CodeUnknown for nil and for unclassified errors.
func CodeOf(err error) Code { return backend.CodeOf(err) }

// newError wraps a failure of op in an *Error, copying the driver's details.
func newError(op Op, lockID string, attempts int, err error) *Error {
	e := &Error{Op: op, Code: backend.CodeOf(err), LockID: lockID, Attempts: attempts, Err: err}
	var be *backend.Error
	if errors.As(err, &be) {
		e.Owner = be.Owner
		e.Leader = be.Leader
		e.RetryAfter = be.RetryAfter
		if be.LockID != "" {
			e.LockID = be.LockID
		}
	}
	return e
}
