package raftbackend

import "sync"

// waitKey names a client's place in a lock's queue.
type waitKey struct{ lockID, clientID string }

// waitSlot is where the calls blocked on one place in a queue learn its
// fate. The state machine fills ev and closes fired (through
// waitRegistry.deliver) in the same step that grants, times out or cancels
// the waiter; that step runs on every node, so the node holding the calls
// hears of it whether or not it leads.
type waitSlot struct {
	fired chan struct{}
	ev    waitEvent // set before fired is closed

	// Guarded by waitRegistry.mu: refs counts the calls blocked on the
	// slot; claimed says one of them returned the grant, so a call that
	// gives up later must not release it.
	refs    int
	claimed bool
}

func (s *waitSlot) done() bool {
	select {
	case <-s.fired:
		return true
	default:
		return false
	}
}

// waitRegistry holds the slots of the calls blocked in this node.
type waitRegistry struct {
	mu sync.Mutex
	m  map[waitKey]*waitSlot
}

func (r *waitRegistry) init() { r.m = make(map[waitKey]*waitSlot) }

// attach joins (or opens) the slot for k before the command that may queue
// the caller is proposed, so no event can slip between the two.
func (r *waitRegistry) attach(k waitKey) *waitSlot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.m[k]
	if s == nil {
		s = &waitSlot{fired: make(chan struct{})}
		r.m[k] = s
	}
	s.refs++
	return s
}

// detach leaves the slot; the last call to leave an unfired slot removes it
// from the registry.
func (r *waitRegistry) detach(k waitKey, s *waitSlot) {
	if r.leave(s) {
		r.forget(k, s)
	}
}

// leave drops one call from the slot and reports whether it was the last.
func (r *waitRegistry) leave(s *waitSlot) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.refs--
	return s.refs == 0
}

// forget removes the slot from the registry if it is still k's.
func (r *waitRegistry) forget(k waitKey, s *waitSlot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[k] == s {
		delete(r.m, k)
	}
}

// deliver is the state machine's notify hook: it fires the slot of the
// waiter the event is about, if a call here waits on it. The state
// machine's mutex is held, so deliver never blocks.
func (r *waitRegistry) deliver(ev waitEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := waitKey{ev.lockID, ev.clientID}
	if s := r.m[k]; s != nil {
		s.fire(ev)
		delete(r.m, k)
	}
}

// fire records ev and wakes the slot's calls. r.mu is held.
func (s *waitSlot) fire(ev waitEvent) {
	s.ev = ev
	close(s.fired)
}

// claim marks the slot's grant as returned to a caller.
func (r *waitRegistry) claim(s *waitSlot) {
	r.mu.Lock()
	s.claimed = true
	r.mu.Unlock()
}

// count is the number of places calls wait on, for tests.
func (r *waitRegistry) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}
