package raftlock

import "github.com/raftlock/raftlock/backend"

// Clock is where a LockHandle, an AutoRenewer and an Election read the time
// and arm their timers: the system clock unless WithClock gives another.
// memory.FakeClock implements it, so a test can drive a store's expiries
// and the client's deadlines with one clock.
type Clock = backend.Clock

// Timer is a pending call made by Clock.AfterFunc.
type Timer = backend.Timer

// WithClock makes a LockHandle, AutoRenewer or Election read time from c
// instead of the system clock. Tests use it with a fake clock; a nil c
// keeps the system clock.
func WithClock(c Clock) ClockOption { return ClockOption{clock: c} }

// ClockOption is the option WithClock returns; it applies to
// NewLockHandle, NewAutoRenewer and NewElection alike.
type ClockOption struct{ clock Clock }

func (o ClockOption) applyHandle(c *handleConfig) {
	if o.clock != nil {
		c.clock = o.clock
	}
}

func (o ClockOption) applyRenewer(c *renewerConfig) {
	if o.clock != nil {
		c.clock = o.clock
	}
}

func (o ClockOption) applyElection(c *electionConfig) {
	if o.clock != nil {
		c.clock = o.clock
	}
}
