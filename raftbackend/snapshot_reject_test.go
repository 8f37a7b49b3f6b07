package raftbackend

import (
	"math"
	"testing"
)

// consistentState returns a small state that keeps checkInvariants: at
// time 100, lock "a" held by c1 and waited for by c2 (no timeout) and c3
// (a 30ns timeout), and one member.
func consistentState() *fsm {
	f := newFSM(nil)
	f.now, f.index = 100, 9
	f.members["n1"] = "h:1"
	f.locks["a"] = &fsmLock{id: "a", owner: "c1", version: 3, acquiredAt: 50, expiresAt: 150, ttl: 100,
		queue: []*fsmWaiter{
			{clientID: "c2", priority: 2, ttl: 10, enqueuedAt: 60},
			{clientID: "c3", priority: 1, ttl: 10, timeout: 30, enqueuedAt: 70, timeoutAt: 100},
		}}
	f.waiters = 2
	f.rebuildDeadlines()
	return f
}

// decodeState refuses a snapshot of a state that applying entries cannot
// make, each row breaking one property that the state machine keeps (see
// checkInvariants), and accepts the deadlines that wrapped past
// math.MaxInt64, which a TTL or timeout near it makes.
func TestDecodeStateRefusesImpossibleStates(t *testing.T) {
	if err := checkInvariants(consistentState()); err != nil {
		t.Fatalf("the base state is inconsistent: %v", err)
	}
	waiter := func(f *fsm, i int) *fsmWaiter { return f.locks["a"].queue[i] }
	for _, tc := range []struct {
		name   string
		change func(f *fsm)
		ok     bool
	}{
		{"consistent", func(*fsm) {}, true},
		{"expiry wrapped past MaxInt64", func(f *fsm) { f.locks["a"].expiresAt = math.MinInt64 + 5 }, true},
		{"wait deadline wrapped past MaxInt64", func(f *fsm) { waiter(f, 1).timeoutAt = -7 }, true},
		{"equal priorities", func(f *fsm) { waiter(f, 1).priority = 2 }, true},

		{"negative state-machine time", func(f *fsm) { f.now, f.locks, f.waiters = -1, map[string]*fsmLock{}, 0 }, false},
		{"empty member ID", func(f *fsm) { f.members[""] = "h:0" }, false},
		{"grant with no TTL", func(f *fsm) { f.locks["a"].ttl = 0 }, false},
		{"grant after now", func(f *fsm) { f.locks["a"].acquiredAt = 101 }, false},
		{"grant before time 0", func(f *fsm) { f.locks["a"].acquiredAt = -1 }, false},
		{"expiry before grant", func(f *fsm) { f.locks["a"].expiresAt = 49 }, false},
		{"waiter is the owner", func(f *fsm) { waiter(f, 0).clientID = "c1" }, false},
		{"negative wait timeout", func(f *fsm) { waiter(f, 1).timeout = -30 }, false},
		{"wait timeout without deadline", func(f *fsm) { waiter(f, 1).timeoutAt = 0 }, false},
		{"deadline without wait timeout", func(f *fsm) { waiter(f, 0).timeoutAt = 80 }, false},
		{"times out before it joined", func(f *fsm) { waiter(f, 1).timeoutAt = 65 }, false},
		{"joined after now", func(f *fsm) { waiter(f, 0).enqueuedAt = 101 }, false},
		{"joined before time 0", func(f *fsm) { waiter(f, 0).enqueuedAt = -1 }, false},
		{"queue out of priority order", func(f *fsm) { waiter(f, 1).priority = 5 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := consistentState()
			tc.change(f)
			data := f.encodeState(nil)
			_, err := decodeState(data)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused a state the log can make (%v): %x", err, data)
			case !tc.ok && err != errCorrupt:
				t.Fatalf("decodeState = %v, want errCorrupt: %x", err, data)
			}
		})
	}
}
