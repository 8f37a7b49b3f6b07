package memory

import (
	"sync"
	"sync/atomic"
)

// gate tracks the calls blocked in a driver or a store, so that closing it
// can wake them all and wait until they have left their queues: once Close
// returns, no waiter of a woken call is left behind.
type gate struct {
	closed atomic.Bool   // read without the mutex on every call's fast path
	done   chan struct{} // closed by close, to wake the blocked calls

	mu     sync.Mutex
	active int // calls inside
	idle   sync.Cond
}

func (g *gate) init() {
	g.done = make(chan struct{})
	g.idle.L = &g.mu
}

// enter registers a call that is about to block; false if the gate is
// closed, in which case the call must not block.
func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed.Load() {
		return false
	}
	g.active++
	return true
}

// leave unregisters a call that entered.
func (g *gate) leave() {
	g.mu.Lock()
	g.active--
	if g.active == 0 && g.closed.Load() {
		g.idle.Broadcast()
	}
	g.mu.Unlock()
}

// close wakes the calls inside and waits for them to leave. It reports
// whether this was the first close.
func (g *gate) close() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed.Load() {
		return false
	}
	g.closed.Store(true)
	close(g.done)
	for g.active > 0 {
		g.idle.Wait()
	}
	return true
}
