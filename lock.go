package raftlock

import (
	"context"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// The data types are the driver contract's own, so that a request or a lock
// crosses from the client to the driver without a copy. Their fields are
// documented in package backend.
type (
	// Lock is one grant: owner, fencing Version, store timestamps, metadata.
	Lock = backend.Lock
	// Waiter is one entry of a lock's wait queue.
	Waiter = backend.Waiter
	// LockInfo is a lock's current grant and wait queue.
	LockInfo = backend.LockInfo

	// AcquireRequest asks for a lock, trying once or waiting in its queue.
	AcquireRequest = backend.AcquireRequest
	// ReleaseRequest gives a lock up; it needs the owner and the Version.
	ReleaseRequest = backend.ReleaseRequest
	// ReleaseResult names the waiter the lock was handed to, if any.
	ReleaseResult = backend.ReleaseResult
	// RenewRequest extends a held lock; it needs the owner and the Version.
	RenewRequest = backend.RenewRequest
	// GetLockInfoRequest asks for one lock's state.
	GetLockInfoRequest = backend.GetRequest
	// LockFilter selects locks in GetLocks.
	LockFilter = backend.ListFilter
	// GetLocksRequest asks for one page of locks.
	GetLocksRequest = backend.ListRequest
	// GetLocksResult is one page of locks and the cursor to the next.
	GetLocksResult = backend.ListResult
	// EnqueueRequest joins a lock's wait queue without blocking.
	EnqueueRequest = backend.EnqueueRequest
	// EnqueueResult is the caller's place in the queue, or its grant.
	EnqueueResult = backend.EnqueueResult
	// CancelWaitRequest leaves a lock's wait queue.
	CancelWaitRequest = backend.CancelWaitRequest

	// Status describes a store node and its cluster.
	Status = backend.Status
	// PeerStatus is one member of a replicated store.
	PeerStatus = backend.PeerStatus
	// Health is a store's readiness.
	Health = backend.Health
	// BackoffAdvice is the store's suggestion for retrying a contested lock.
	BackoffAdvice = backend.BackoffAdvice
	// Capabilities says what the store behind a client can do.
	Capabilities = backend.Capabilities
	// KeepAlive configures transport keep-alives (network stores only).
	KeepAlive = backend.KeepAlive
	// Code classifies a failure the same way for every store.
	Code = backend.Code
)

// AcquireResult is a granted lock and the client's own view of its lease.
type AcquireResult struct {
	Lock

	// Waited is true when the grant came out of the wait queue. The store
	// made it at some moment after the request was sent, so Deadline may be
	// close, or already past: renew at once, or treat the lease as lost.
	Waited bool

	// Deadline is when the caller must stop relying on the lease, read from
	// the local monotonic clock: the moment the request was first sent, plus
	// TTL, minus the safety margin. The store will not expire the grant
	// before it (see the package documentation). Compare it with time.Now or
	// time.Until, never with ExpiresAt.
	Deadline time.Time
}

// RenewResult is a renewed lock and its new local deadline.
type RenewResult struct {
	Lock

	// Deadline is the renewed lease's end on the local monotonic clock,
	// counted from the moment the Renew was first sent.
	Deadline time.Time
}

// RaftLockClient is what an application uses to take and give back locks.
type RaftLockClient interface {
	// Acquire takes a lock. Without Wait it fails at once with ErrLockHeld
	// when another client holds it; with Wait it queues until granted,
	// until WaitTimeout (ErrTimeout) or until ctx is done, and a caller that
	// gives up leaves the queue holding nothing.
	Acquire(ctx context.Context, req *AcquireRequest) (*AcquireResult, error)
	// Release gives a lock up and hands it to the next waiter, if any.
	Release(ctx context.Context, req *ReleaseRequest) (*ReleaseResult, error)
	// Renew extends a held lock to TTL from now, keeping its Version.
	Renew(ctx context.Context, req *RenewRequest) (*RenewResult, error)
	// GetLockInfo describes one lock; ErrLockNotFound when nobody holds or
	// waits for it.
	GetLockInfo(ctx context.Context, req *GetLockInfoRequest) (*LockInfo, error)
	// GetLocks lists locks matching a filter, ordered by lock ID, one page
	// at a time.
	GetLocks(ctx context.Context, req *GetLocksRequest) (*GetLocksResult, error)
	// Capabilities says what the store can do (TTL range, FIFO, ...).
	Capabilities() Capabilities
	// Close releases the client's resources. Locks it holds are not
	// released: they expire, as they would if the process crashed.
	Close() error
}

// AdminClient is for operators and dashboards.
type AdminClient interface {
	// GetStatus describes the store node the client talks to and its cluster.
	GetStatus(ctx context.Context) (*Status, error)
	// Health reports whether the store serves requests.
	Health(ctx context.Context) (*Health, error)
	// GetBackoffAdvice says how hard to push on a contested lock.
	GetBackoffAdvice(ctx context.Context, lockID string) (*BackoffAdvice, error)
	// Close releases the client's resources.
	Close() error
}

// AdvancedClient gives finer control: an explicit wait queue, the leader,
// the retry policy and the metrics.
type AdvancedClient interface {
	RaftLockClient

	// EnqueueWaiter joins a lock's wait queue without blocking. When the
	// caller reaches the head of the queue the store grants it the lock; it
	// learns so from Acquire (which returns the grant it holds) or
	// GetLockInfo.
	EnqueueWaiter(ctx context.Context, req *EnqueueRequest) (*EnqueueResult, error)
	// CancelWait leaves a lock's wait queue; ErrNotWaiting if not in it.
	CancelWait(ctx context.Context, req *CancelWaitRequest) error
	// GetLeaderAddress is the last known leader's client API address, or ""
	// (always "" for a store without a leader).
	GetLeaderAddress() string
	// IsConnected reports whether the client can reach its store now.
	IsConnected() bool
	// SetRetryPolicy replaces the retry policy for calls that start after it.
	SetRetryPolicy(p RetryPolicy) error
	// GetMetrics returns the client's metrics.
	GetMetrics() Metrics
}

// The one concrete client implements all three interfaces.
var (
	_ RaftLockClient = (*Client)(nil)
	_ AdminClient    = (*Client)(nil)
	_ AdvancedClient = (*Client)(nil)
)
