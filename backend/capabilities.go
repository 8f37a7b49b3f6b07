package backend

import "time"

// Capabilities says what a store can do. The client validates requests
// against it and the conformance suite skips exactly the checks a store
// declares it cannot pass.
type Capabilities struct {
	// FIFO: waiters are granted in arrival order (within a priority).
	FIFO bool
	// Priorities: higher AcquireRequest.Priority is served first.
	Priorities bool
	// ServerSideWait: Acquire with Wait blocks in the driver until granted.
	// Without it the client waits by retrying with backoff.
	ServerSideWait bool
	// Metadata: grants carry AcquireRequest.Metadata.
	Metadata bool
	// Replicated: the store survives the loss of a minority of its nodes.
	Replicated bool

	// MinTTL and MaxTTL bound AcquireRequest.TTL and RenewRequest.TTL.
	MinTTL, MaxTTL time.Duration
	// TTLGranularity is the unit the store rounds TTLs up to (a second for
	// etcd leases, a millisecond for Redis PX). Zero means exact.
	TTLGranularity time.Duration
}

// RoundTTL rounds ttl up to the store's granularity.
func (c Capabilities) RoundTTL(ttl time.Duration) time.Duration {
	g := c.TTLGranularity
	if g <= 0 {
		return ttl
	}
	if r := ttl % g; r != 0 {
		ttl += g - r
	}
	return ttl
}
