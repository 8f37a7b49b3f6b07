package raftbackend

import (
	"sync"
	"time"
)

// leaderClock is the time a leader stamps on its entries: the wall clock
// read once when the node became leader (never below the state machine's
// time), advanced by the monotonic clock from then on. A wall clock stepped
// backwards or forwards during a term therefore moves no deadline; only a
// new term re-reads it, and cmdLeaderChange makes that safe.
type leaderClock struct {
	mu    sync.Mutex
	base  int64
	start time.Time
}

// reset starts a term's clock at the wall clock or floor, whichever is
// later.
func (c *leaderClock) reset(floor int64) {
	now := time.Now()
	base := now.UnixNano()
	if base < floor {
		base = floor
	}
	c.mu.Lock()
	c.base, c.start = base, now
	c.mu.Unlock()
}

// now is the current reading in unix nanoseconds.
func (c *leaderClock) now() int64 {
	c.mu.Lock()
	base, start := c.base, c.start
	c.mu.Unlock()
	if start.IsZero() {
		return time.Now().UnixNano()
	}
	return base + int64(time.Since(start))
}
