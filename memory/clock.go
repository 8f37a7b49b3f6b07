package memory

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// Clock is the store's source of time. Every expiry, grant timestamp and wait
// timeout is read from it, so a test that injects a FakeClock controls all of
// them. The default is the system clock. It is backend.Clock, so one
// FakeClock can drive a store and the client above it alike.
type Clock = backend.Clock

// Timer is a pending call made by Clock.AfterFunc. *time.Timer implements it.
type Timer = backend.Timer

// systemClock is the default Clock: the process's own time, with Go's
// monotonic reading, so that store deadlines do not move with changes of the
// wall clock.
//
// Reading the wall clock costs about twice as much as reading the monotonic
// one, and the store reads the time on every call. So Now reads only the
// monotonic clock and adds the elapsed time to a base that it refreshes from
// time.Now once a second. Every comparison the store makes uses the
// monotonic readings, which stay exact; only the wall time shown in
// AcquiredAt and ExpiresAt may trail a step of the system clock by up to a
// second.
type systemClock struct {
	base atomic.Pointer[time.Time]
}

// rebaseEvery is how often systemClock re-reads the wall clock.
const rebaseEvery = time.Second

// sysClock is the one system clock that every store shares.
var sysClock = newSystemClock()

func newSystemClock() *systemClock {
	c := &systemClock{}
	now := time.Now()
	c.base.Store(&now)
	return c
}

func (c *systemClock) Now() time.Time {
	base := c.base.Load()
	if d := time.Since(*base); d < rebaseEvery {
		return base.Add(d)
	}
	now := time.Now()
	c.base.Store(&now)
	return now
}

func (*systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// FakeClock is a Clock that moves only when told to, for tests. Its timers
// run from Advance, in deadline order, each seeing Now equal to its own
// deadline, so a chain of events (a lock expires, the next waiter is granted
// it, its own lease then expires) plays out exactly as it would in real
// time. A timer never runs inside AfterFunc or Reset, even with d <= 0: it
// waits for the next Advance.
//
// A FakeClock is safe for concurrent use. The zero value is not usable; call
// NewFakeClock.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64 // orders timers with equal deadlines by arming order
	timers map[*fakeTimer]struct{}
}

// NewFakeClock returns a FakeClock that reads start until advanced. The
// monotonic reading of start, if any, is dropped.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start.Round(0), timers: make(map[*fakeTimer]struct{})}
}

// Now returns the clock's current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arms a timer that calls f when the clock is advanced to at least
// d from now.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) Timer {
	t := &fakeTimer{clock: c, f: f}
	c.mu.Lock()
	c.arm(t, d)
	c.mu.Unlock()
	return t
}

// Advance moves the clock forward by d, running every timer that falls due on
// the way, in deadline order, from the calling goroutine. Timers armed by
// those calls run too if they fall due within d. A d of zero or less only
// runs the timers already due.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now
	if d > 0 {
		target = target.Add(d)
	}
	for {
		t := c.nextDue(target)
		if t == nil {
			break
		}
		delete(c.timers, t)
		if t.when.After(c.now) {
			c.now = t.when
		}
		f := t.f
		// Run f without the clock's lock: f reads the clock and may arm
		// timers.
		c.mu.Unlock()
		f()
		c.mu.Lock()
	}
	// Another Advance running at the same time may have gone further;
	// time never goes back.
	if target.After(c.now) {
		c.now = target
	}
	c.mu.Unlock()
}

// PendingTimers reports how many timers are armed and not yet run. Tests use
// it to wait until a blocked call has armed its wait timeout before they
// advance the clock past it.
func (c *FakeClock) PendingTimers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// nextDue returns the earliest timer due at or before target, or nil. Equal
// deadlines run in the order they were armed.
func (c *FakeClock) nextDue(target time.Time) *fakeTimer {
	var next *fakeTimer
	for t := range c.timers {
		if t.when.After(target) {
			continue
		}
		if next == nil || t.when.Before(next.when) || (t.when.Equal(next.when) && t.seq < next.seq) {
			next = t
		}
	}
	return next
}

// arm schedules t at now+d; c.mu must be held.
func (c *FakeClock) arm(t *fakeTimer, d time.Duration) {
	if d < 0 {
		d = 0
	}
	c.seq++
	t.seq = c.seq
	t.when = c.now.Add(d)
	c.timers[t] = struct{}{}
}

// fakeTimer is one AfterFunc call of a FakeClock.
type fakeTimer struct {
	clock *FakeClock
	f     func()
	when  time.Time
	seq   uint64
}

func (t *fakeTimer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	_, pending := c.timers[t]
	delete(c.timers, t)
	return pending
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	_, pending := c.timers[t]
	c.arm(t, d)
	return pending
}
