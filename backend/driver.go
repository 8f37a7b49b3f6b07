package backend

import "context"

// Driver is the contract between the portable client and one store.
//
// A driver is small and literal. It does not retry, back off or record
// metrics: the client does all of that around it. It does check each request
// with the matching Validate function of this package (ValidateAcquire, ...)
// and its own Capabilities before touching its store, because a driver is
// also called directly (by a server that takes requests off the network, by
// tests): a malformed request fails with CodeInvalidArgument or
// CodeInvalidTTL, changes nothing, and never panics.
// Every method must be safe for concurrent use. Every failure is an *Error
// (see CodeOf); a driver maps its store's failures onto Codes and marks the
// transient ones with a retryable code.
//
// The promises each method must keep are checked by package conformance:
//
//   - Acquire grants the lock when it is free and returns a Version strictly
//     greater than every earlier grant of that lock ID. If the lock is held by
//     another client it fails with CodeLockHeld, or, with Wait, queues the
//     caller (see AcquireRequest.Wait). If req.ClientID already holds the lock
//     it returns the current grant unchanged (same Version, same expiry) with
//     AlreadyHeld set: a retried Acquire is harmless. The store must not
//     expire the grant before TTL has passed from the moment it made it.
//   - Release and Renew need both the owner's ClientID and the grant's
//     Version. Another owner gives CodeNotLockOwner, the right owner at another
//     version CodeVersionMismatch, a lock nobody holds CodeNotFound. Release
//     hands the lock to the head waiter, if any, in the same step.
//   - Renew keeps the Version and sets the expiry to now + TTL.
//   - Get answers CodeNotFound for a lock that is neither held nor waited on.
//   - List orders by lock ID and paginates stably.
//   - Close releases the driver's resources and wakes every call blocked in
//     it with CodeClosed; calls after Close fail with CodeClosed. A driver's
//     Close does not release the locks it holds (they expire), so that a
//     crashed process and a closed one look the same to the others. Waiters
//     whose calls Close woke leave their queues. Closing twice is harmless:
//     the second Close returns nil.
//
// The finer points, which the conformance suite also checks:
//
//   - An expired grant is gone: the store treats it as released (handing the
//     lock to the head waiter), Get no longer reports it, and an Acquire by
//     the former owner is a new grant with a new, greater Version.
//   - Versions are positive. A store may share one counter between lock IDs;
//     only the per-ID order is promised.
//   - Acquire with Wait on a store without Capabilities.ServerSideWait fails
//     at once with CodeLockHeld, as without Wait; the client then waits by
//     polling with backoff. Such a store declares neither FIFO nor Priorities.
//   - A waiter that gives up (ctx done, WaitTimeout passed, driver closed)
//     leaves the queue before the call returns. If the store granted it the
//     lock at the same moment, the driver releases that grant (handing it on)
//     before returning the error, so no grant is orphaned.
//   - A waiting client that reaches the head of the queue is granted the lock
//     with its own TTL counted from the moment of the grant.
//   - With Queuer: Enqueue by the current holder answers Granted with the
//     current grant; Enqueue by a client already queued answers its position
//     and changes nothing. Acquire without Wait by a queued client fails with
//     CodeLockHeld and leaves it queued; Acquire with Wait by a queued client
//     waits in the place it already has.
//   - Priorities (when declared): a higher Priority is granted first; equal
//     priorities are granted in arrival order.
//   - A call that stops because its ctx is done fails with the error
//     ContextError builds: CodeTimeout for a deadline, CodeCanceled for a
//     cancellation. An Acquire blocked in the queue whose waiter CancelWait
//     removed fails with CodeCanceled too.
//   - EnqueueResult.Position is exact on a FIFO store and an estimate
//     elsewhere.
//   - A List cursor the store did not issue fails with CodeInvalidArgument
//     (DecodeCursor) or is read as "resume after this lock ID"; it never
//     panics.
//   - RequestID: a store that can lose an answer (any store behind a
//     network) must not apply a request twice when the client sends it
//     again with the same RequestID after a retryable failure. A store with
//     a deduplication table answers the repeat as it answered the first; a
//     store whose operations are idempotent per client ID may instead
//     answer with the state the first attempt left (Acquire: AlreadyHeld;
//     Release: CodeNotFound or CodeNotLockOwner).
type Driver interface {
	Acquire(ctx context.Context, req *AcquireRequest) (*AcquireResult, error)
	Release(ctx context.Context, req *ReleaseRequest) (*ReleaseResult, error)
	Renew(ctx context.Context, req *RenewRequest) (*Lock, error)
	Get(ctx context.Context, req *GetRequest) (*LockInfo, error)
	List(ctx context.Context, req *ListRequest) (*ListResult, error)
	Capabilities() Capabilities
	Close() error
}

// Queuer is implemented by drivers with an explicit wait queue that a client
// can join without blocking (see EnqueueRequest).
type Queuer interface {
	Enqueue(ctx context.Context, req *EnqueueRequest) (*EnqueueResult, error)
	// CancelWait removes the client from the queue; CodeNotWaiting if it was
	// not in it. It never releases a lock the client already holds.
	CancelWait(ctx context.Context, req *CancelWaitRequest) error
}

// Admin is implemented by drivers that can describe their store.
type Admin interface {
	Status(ctx context.Context) (*Status, error)
	Health(ctx context.Context) (*Health, error)
	BackoffAdvice(ctx context.Context, lockID string) (*BackoffAdvice, error)
}

// Router is implemented by drivers that talk to a replicated store through a
// leader.
type Router interface {
	// LeaderAddress is the last known leader's client API address, "" if none.
	LeaderAddress() string
	// Connected reports whether the driver has a usable connection now.
	Connected() bool
}

// Observer receives events that only the driver sees, for the client's
// metrics. Its methods must be cheap and must not block.
type Observer interface {
	// LeaderRedirect is called each time the driver follows a NOT_LEADER
	// answer to another node.
	LeaderRedirect(from, to string)
	// Connections is called when the number of open connections changes.
	Connections(n int)
}

// Observable is implemented by drivers that report events to an Observer.
// The client calls SetObserver once, before any other call.
type Observable interface {
	SetObserver(Observer)
}
