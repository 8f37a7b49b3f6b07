package backend

import "time"

// Clock is a source of time for code that must be testable with time under
// the test's control: a store's expiries and wait timeouts, a client's
// lease deadlines and renewal schedule. The system clock implements it
// through SystemClock; memory.FakeClock is a clock that only moves when a
// test advances it.
type Clock interface {
	// Now returns the current time. A clock that reads the system's must
	// keep Go's monotonic reading, so that deadlines do not move with
	// changes of the wall clock.
	Now() time.Time
	// AfterFunc calls f in its own goroutine (or, for a fake clock, from
	// whoever moves time forward) once d has passed, and returns a Timer
	// that can stop or re-arm the call. Callers never call AfterFunc, Stop
	// or Reset from inside f.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call made by Clock.AfterFunc. *time.Timer implements it.
type Timer interface {
	// Stop prevents the call if it has not started, and reports whether it
	// did so.
	Stop() bool
	// Reset re-arms the call to run d from now, whether or not it already
	// ran, and reports whether it was still pending.
	Reset(d time.Duration) bool
}

// SystemClock is the process's own clock: time.Now and time.AfterFunc.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
