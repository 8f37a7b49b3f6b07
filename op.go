package raftlock

import "strconv"

// Op names a client operation, in errors, metrics and logs.
type Op uint8

// The operations. Metrics keep one set of counters per Op.
const (
	OpAcquire Op = iota
	OpRelease
	OpRenew
	OpGetLockInfo
	OpGetLocks
	OpEnqueueWaiter
	OpCancelWait
	OpGetStatus
	OpHealth
	OpGetBackoffAdvice
	numOps
)

var opNames = [numOps]string{
	OpAcquire:          "acquire",
	OpRelease:          "release",
	OpRenew:            "renew",
	OpGetLockInfo:      "get_lock_info",
	OpGetLocks:         "get_locks",
	OpEnqueueWaiter:    "enqueue_waiter",
	OpCancelWait:       "cancel_wait",
	OpGetStatus:        "get_status",
	OpHealth:           "health",
	OpGetBackoffAdvice: "get_backoff_advice",
}

// String returns the operation's snake_case name, as used in metric labels.
func (o Op) String() string {
	switch {
	case o < numOps:
		return opNames[o]
	case o == opClose:
		return "close"
	case o == opOpen:
		return "open"
	case o == opConfigure:
		return "configure"
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Ops lists every operation, in a stable order.
func Ops() []Op {
	out := make([]Op, numOps)
	for i := range out {
		out[i] = Op(i)
	}
	return out
}
