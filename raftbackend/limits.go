package raftbackend

import (
	"strconv"

	"google.golang.org/grpc"

	"github.com/raftlock/raftlock/backend"
)

// DefaultMaxRequestBytes is the largest message the client API accepts when
// Config.MaxRequestBytes is zero. The largest request that passes backend's
// validation (three IDs of MaxIDLength bytes and MaxMetadataBytes of
// metadata in MaxMetadataEntries pairs) is just over 5 KiB, so 1 MiB refuses
// nothing a well-behaved client sends while keeping what one message can
// make the node buffer at a quarter of gRPC's own default of 4 MiB.
const DefaultMaxRequestBytes = 1 << 20

// limits are the store-wide bounds the state machine enforces. They are
// replicated state, never a node's own setting: every node must refuse the
// same commands, or their lock tables would part. The leader writes its
// configured limits into its LeaderChange entry, the first of its term,
// and every node applies them from that entry on; snapshots carry them.
type limits struct {
	maxLocks   int64 // lock IDs held (or waited on) at once; 0 for no limit
	maxWaiters int64 // waiters in one lock's queue; 0 for no limit
}

// limits returns the configured limits, which the node writes into its
// LeaderChange entry each time it becomes the leader.
func (c Config) limits() limits {
	return limits{maxLocks: int64(c.MaxLocks), maxWaiters: int64(c.MaxWaiters)}
}

// isZero reports whether no limit is set.
func (l limits) isZero() bool { return l == limits{} }

// roomForLock fails with CodeResourceExhausted when a new lock ID would
// pass the lock limit. A record exists exactly while a lock is held, and a
// lock is waited on only while it is held, so the records are what the
// limit counts. f.mu is held.
func (f *fsm) roomForLock(lockID string) *backend.Error {
	if m := f.limits.maxLocks; m > 0 && int64(len(f.locks)) >= m {
		e := backend.Errorf(backend.CodeResourceExhausted, "the store holds its maximum of %d locks", m)
		e.LockID = lockID
		return e
	}
	return nil
}

// roomForWaiter fails with CodeWaitQueueFull when l's queue is at the
// waiter limit. f.mu is held.
func (f *fsm) roomForWaiter(l *fsmLock) *backend.Error {
	if m := f.limits.maxWaiters; m > 0 && int64(len(l.queue)) >= m {
		e := backend.Errorf(backend.CodeWaitQueueFull, "the wait queue holds its maximum of %d waiters", m)
		e.LockID = l.id
		return e
	}
	return nil
}

// limitDetails adds the limits in force to a status's details, under the
// names the memory store uses, so that tools read them alike. f.mu is held.
func (f *fsm) limitDetails(details map[string]string) {
	details["max_locks"] = strconv.FormatInt(f.limits.maxLocks, 10)
	details["max_waiters"] = strconv.FormatInt(f.limits.maxWaiters, 10)
}

// apiServerOptions are the options of the client API's gRPC server that
// come from the configuration: the request size limit, then ServerOptions,
// which may override it. A message over the limit fails at the node with
// gRPC's ResourceExhausted before any of it is decoded; the client reads
// it as CodeResourceExhausted (see errorFromStatus).
func (c Config) apiServerOptions() []grpc.ServerOption {
	return append([]grpc.ServerOption{grpc.MaxRecvMsgSize(c.MaxRequestBytes)}, c.ServerOptions...)
}
