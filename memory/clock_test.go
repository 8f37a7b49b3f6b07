package memory_test

import (
	"slices"
	"testing"
	"time"

	"github.com/raftlock/raftlock/memory"
)

func TestFakeClock(t *testing.T) {
	start := time.Now() // has a monotonic reading, which the clock drops
	clk := memory.NewFakeClock(start)
	if !clk.Now().Equal(start) || clk.Now() != start.Round(0) {
		t.Fatalf("Now() = %v, want %v without monotonic reading", clk.Now(), start)
	}
	var got []string
	at := map[string]time.Time{}
	mark := func(name string) func() {
		return func() {
			got = append(got, name)
			at[name] = clk.Now()
		}
	}
	clk.AfterFunc(3*time.Second, mark("3s"))
	clk.AfterFunc(time.Second, mark("1s-first"))
	clk.AfterFunc(time.Second, mark("1s-second"))
	stopped := clk.AfterFunc(2*time.Second, mark("stopped"))
	moved := clk.AfterFunc(time.Hour, mark("moved"))
	// A timer armed from a timer runs in the same Advance when it falls due.
	clk.AfterFunc(1500*time.Millisecond, func() {
		got = append(got, "1.5s")
		clk.AfterFunc(time.Second, mark("2.5s-nested"))
	})
	clk.AfterFunc(0, mark("now"))

	if n := clk.PendingTimers(); n != 7 {
		t.Fatalf("PendingTimers() = %d, want 7", n)
	}
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop reports wrongly whether the timer was pending")
	}
	if !moved.Reset(2750 * time.Millisecond) {
		t.Fatal("Reset of a pending timer reports it was not pending")
	}
	if len(got) != 0 {
		t.Fatalf("timers ran before Advance: %v", got)
	}
	clk.Advance(0)
	if !slices.Equal(got, []string{"now"}) {
		t.Fatalf("Advance(0) ran %v, want [now]", got)
	}
	clk.Advance(3 * time.Second)
	want := []string{"now", "1s-first", "1s-second", "1.5s", "2.5s-nested", "moved", "3s"}
	if !slices.Equal(got, want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
	if d := at["2.5s-nested"].Sub(start); d != 2500*time.Millisecond {
		t.Fatalf("nested timer saw Now at +%v, want +2.5s", d)
	}
	if d := clk.Now().Sub(start); d != 3*time.Second {
		t.Fatalf("after Advance, Now is +%v", d)
	}
	if clk.PendingTimers() != 0 {
		t.Fatalf("%d timers left", clk.PendingTimers())
	}
	// A timer that ran can be re-armed.
	if moved.Reset(time.Second) {
		t.Fatal("Reset of a timer that ran reports it was pending")
	}
	clk.Advance(-time.Hour) // no-op, time never goes back
	clk.Advance(time.Second)
	if got[len(got)-1] != "moved" || clk.Now().Sub(start) != 4*time.Second {
		t.Fatalf("re-armed timer: %v at +%v", got, clk.Now().Sub(start))
	}
}

// The system clock's readings keep Go's monotonic reading and never go back.
func TestSystemClockIsMonotonic(t *testing.T) {
	s := memory.NewStore()
	defer s.Close()
	d := s.NewDriver()
	defer d.Close()
	var prev time.Time
	for i := range 100 {
		l := acquire(t, d, "x", "c", time.Minute)
		if l.AcquiredAt.Before(prev) {
			t.Fatalf("grant %d at %v, before the previous at %v", i, l.AcquiredAt, prev)
		}
		if wall := time.Since(l.AcquiredAt); wall < -time.Second || wall > time.Minute {
			t.Fatalf("grant time %v is %v away from the wall clock", l.AcquiredAt, wall)
		}
		prev = l.AcquiredAt
		release(t, d, l)
	}
}
