// Package memory is raftlock's in-process lock store: the reference
// implementation of the backend driver contract, and the store to use in
// tests.
//
// A Store holds the locks; each Driver made by Store.NewDriver is one client
// of it, so several drivers of one store simulate several client processes.
// The store keeps every promise of backend.Driver, with a FIFO wait queue,
// priorities, server-side waiting and metadata, but nothing is replicated or
// persisted. Time comes from a Clock; NewFakeClock gives tests one that moves
// only when advanced, and drives expiries and wait timeouts.
//
// Fencing versions are unique within a store and strictly increasing per lock
// ID; they are not ordered across lock IDs. Request IDs are not kept: calls
// within one process are never resent, and the calls a retry could repeat are
// idempotent per client ID anyway.
//
// # URL
//
// Importing the package registers the scheme "mem":
//
//	mem://                 a new private store, closed with its driver
//	mem://NAME             one store per NAME in the process, shared by every
//	                       driver opened with that NAME, closed with the last
//	                       of them
//	mem://NAME?max_locks=1000&max_waiters=64&min_ttl=10ms&max_ttl=1h&default_wait_timeout=30s
//
// Parameters: max_locks and max_waiters are whole numbers, 0 for no limit
// (see WithMaxLocks, WithMaxWaiters); min_ttl, max_ttl and
// default_wait_timeout are positive Go durations (see WithTTLRange,
// WithDefaultWaitTimeout). An unknown, repeated or malformed parameter fails
// with CodeInvalidArgument, and so does a URL that gives an open NAME other
// options than it was opened with (a URL without parameters joins it as it
// is). Stores opened by URL use the system clock.
//
// Imports: package backend and the standard library only.
package memory
