// Package raftlock is one client API for distributed locks and leader
// election, with pluggable lock stores behind it.
//
// A Client is opened on a store URL; the scheme picks the driver, which the
// program links in with a blank import, as database/sql does:
//
//	import (
//		"github.com/raftlock/raftlock"
//		_ "github.com/raftlock/raftlock/memory" // mem://
//	)
//
//	client, err := raftlock.Open(ctx, "mem://demo")
//
// Changing the URL (mem://, raft://, raft+embed://, etcd://, redis://)
// changes the store and nothing else: every store keeps the same promises,
// and package conformance checks them.
//
// # The promises
//
// At most one client holds a lock ID at a time, as judged by the store. Every
// grant carries a fencing token (Lock.Version) strictly greater than every
// earlier grant of the same lock ID; give it to the systems the lock protects
// and have them refuse writes with an older token. The token, not the lease,
// is the real safety mechanism: a process can pause (GC, swap, a stopped VM)
// past its lease and wake up believing it still holds the lock.
//
// The client never trusts the store's clock. It computes each lease's
// Deadline from its own monotonic clock, counting from the moment it sent the
// request, minus a safety margin (Config.LeaseSafetyFactor); the store never
// expires a grant sooner than TTL after it made it. As long as the two
// clocks run at about the same rate, a holder whose Deadline has not passed
// still holds the lock. Lock.AcquiredAt and Lock.ExpiresAt are the store's
// timestamps and are for display only.
//
// Release and Renew need the owner's client ID and the grant's Version, so a
// stale caller can never release or renew a newer grant. A client ID names
// one holder: Acquire by the client ID that already holds the lock returns
// the current grant unchanged (a retried Acquire is harmless), so two callers
// that must exclude each other need two client IDs (see NewClientID).
//
// # Errors
//
// Every failure is a *Error that errors.Is matches against the sentinel
// errors (ErrLockHeld, ErrNotLockOwner, ...) whichever store produced it, and
// that errors.As exposes with its operation, lock ID, current owner and
// leader hint.
//
// # Layout
//
// The root package holds the portable client: input validation, per-request
// timeouts, retries with backoff and jitter, metrics and logging, around a
// backend.Driver. Package backend is the driver contract; memory,
// raftbackend, etcdbackend and redisbackend are the stores; conformance is
// the suite every driver passes. The root package imports backend and never
// a driver.
package raftlock
