package backend

import "time"

// Lock is one grant of a lock: who holds it, at which fencing version, and
// the store's view of when it was granted and when it expires.
//
// AcquiredAt and ExpiresAt are the store's timestamps, for display only: a
// client never compares them with its own clock (see promise 3 in
// docs/promises.md). Version is the fencing token.
type Lock struct {
	LockID     string
	Owner      string // the holder's client ID
	Version    int64  // fencing token: strictly increasing per lock ID across grants; kept by Renew
	AcquiredAt time.Time
	ExpiresAt  time.Time
	Metadata   map[string]string // nil when none
}

// Waiter is one entry of a lock's wait queue.
type Waiter struct {
	ClientID   string
	Priority   int32     // higher is served first when the store supports priorities
	EnqueuedAt time.Time // store time, for display
	TimeoutAt  time.Time // store time at which the waiter gives up; zero for "never"
	Position   int       // 0 is next in line
}

// LockInfo describes a lock ID: its current grant (if any) and its queue.
// A lock ID that is neither held nor waited on does not exist: Get answers
// CodeNotFound for it.
type LockInfo struct {
	Lock             // the current grant; zero Owner and Version when free
	Held        bool // someone holds it now
	WaiterCount int
	Waiters     []Waiter // in grant order; filled only when asked for
}

// AcquireRequest asks for a lock.
type AcquireRequest struct {
	LockID   string
	ClientID string
	TTL      time.Duration

	// Wait makes a held lock queue the caller instead of failing with
	// CodeLockHeld. The call returns when the lock is granted, when
	// WaitTimeout passes (CodeTimeout), or when ctx is done; in the last two
	// cases the caller leaves the queue and holds nothing.
	Wait        bool
	WaitTimeout time.Duration // 0: wait as long as ctx allows
	Priority    int32         // queue priority, higher first (stores with Capabilities.Priorities)

	Metadata map[string]string

	// RequestID identifies the request across retries: a store that sees the
	// same RequestID twice must not apply it twice. The client fills it in.
	RequestID string
}

// AcquireResult is a successful Acquire.
type AcquireResult struct {
	Lock Lock
	// Waited is true when the grant came out of the wait queue rather than
	// straight away. The grant was then made at some moment after the request
	// was sent, so the caller's local deadline (sendTime + TTL) may already be
	// short.
	Waited bool
	// AlreadyHeld is true when ClientID held the lock before this request
	// arrived, so the answer is the existing grant, unchanged: its lease
	// started before this request was sent and may end sooner than
	// sendTime + TTL. A client that needs a lease it can count must renew
	// (see Driver). A retried request that the store recognises by its
	// RequestID answers as the first attempt did instead.
	AlreadyHeld bool
}

// ReleaseRequest gives a lock up. Only the owner at that version may release.
type ReleaseRequest struct {
	LockID    string
	ClientID  string
	Version   int64
	RequestID string
}

// ReleaseResult is a successful Release.
type ReleaseResult struct {
	// NextOwner is the waiter the lock was handed to in the same step, if any.
	NextOwner string
}

// RenewRequest extends a held lock to now + TTL. The version is kept.
type RenewRequest struct {
	LockID    string
	ClientID  string
	Version   int64
	TTL       time.Duration
	RequestID string
}

// GetRequest asks for one lock's state.
type GetRequest struct {
	LockID         string
	IncludeWaiters bool
	// Stale allows a replicated store to answer from a possibly out-of-date
	// replica instead of confirming with its leader.
	Stale bool
}

// ListFilter selects locks in List. The zero value selects every lock. All
// set fields must match.
type ListFilter struct {
	Pattern       string            // glob on the lock ID, path.Match syntax ("jobs/*"); "" matches all
	Owner         string            // held by this client ID
	OnlyHeld      bool              // held right now
	OnlyContested bool              // with at least one waiter
	ExpiresBefore time.Time         // held and expiring before this store time
	ExpiresAfter  time.Time         // held and expiring after this store time
	Metadata      map[string]string // every pair present in the grant's metadata
}

// ListRequest asks for a page of locks, ordered by lock ID (byte order).
// Use either Cursor (the NextCursor of the previous page) or Offset, not both.
type ListRequest struct {
	Filter         ListFilter
	Limit          int    // page size, 1..MaxPageSize; 0 means DefaultPageSize
	Cursor         string // opaque; "" starts at the beginning
	Offset         int    // skip this many matches
	IncludeWaiters bool
	Stale          bool
}

// ListResult is one page of locks.
type ListResult struct {
	Locks      []LockInfo
	NextCursor string // "" when this is the last page
	Total      int    // matches in all pages, or -1 when the store cannot count cheaply
}

// EnqueueRequest puts a client in a lock's wait queue without blocking. When
// the client reaches the head and the lock is free, the store grants it the
// lock with TTL; the client learns of it through Acquire (which returns the
// grant it already holds) or Get. A waiter that is not granted within
// WaitTimeout leaves the queue.
type EnqueueRequest struct {
	LockID      string
	ClientID    string
	TTL         time.Duration
	WaitTimeout time.Duration // 0: the store's default
	Priority    int32
	Metadata    map[string]string
	RequestID   string
}

// EnqueueResult says where the client stands.
type EnqueueResult struct {
	// Granted is true when the lock was free and the queue empty, so the
	// store granted it at once; Lock is then the grant.
	Granted  bool
	Lock     Lock
	Position int // 0 is next in line (when not Granted)
}

// CancelWaitRequest removes a client from a lock's wait queue.
type CancelWaitRequest struct {
	LockID    string
	ClientID  string
	RequestID string
}

// Status describes a store node and, for replicated stores, its cluster.
type Status struct {
	Store        string // driver name, e.g. "memory", "raft"
	NodeID       string
	Role         string // "leader", "follower", "candidate", "standalone", ...
	Leader       string // leader's client API address, if any
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64
	Peers        []PeerStatus
	Locks        int // lock IDs known (held or waited on)
	HeldLocks    int
	Waiters      int
	Details      map[string]string // store-specific extras, for display
}

// PeerStatus is one member of a replicated store as the answering node sees it.
type PeerStatus struct {
	ID          string
	Address     string
	Voter       bool
	MatchIndex  uint64
	LastContact time.Duration // since the leader last heard from it; 0 if unknown
}

// Health is a store's readiness.
type Health struct {
	Serving bool
	Message string
}

// BackoffAdvice tells clients how hard to push on a contested lock.
type BackoffAdvice struct {
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	Multiplier     float64
	JitterFactor   float64
}

// CloneMetadata returns a copy of md that its receiver may own, nil when md
// is empty. Stores keep their own copy of a request's metadata and hand out
// copies of it, so that no caller can change a grant through a map it
// passed in or got back.
func CloneMetadata(md map[string]string) map[string]string {
	if len(md) == 0 {
		return nil
	}
	out := make(map[string]string, len(md))
	for k, v := range md {
		out[k] = v
	}
	return out
}
