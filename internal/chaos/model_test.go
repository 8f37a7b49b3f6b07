package chaos

import (
	"container/heap"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/raftlock/raftlock/backend"
)

// The hand-made histories use one lock, four clients (indices 0..3), a
// TTL of 1000 and times in the same unit.
const (
	mTTL  = 1000
	mLock = "L"
)

var mNames = []string{"c0", "c1", "c2", "c3"}

func mAcq(c int, call, ret, v int64) op {
	return op{client: c, kind: opAcquire, mode: modeTry, lockID: mLock, ttl: mTTL, call: call, ret: ret, outcome: outOK, gotVersion: v}
}

func mWait(c int, call, ret, v int64) op {
	o := mAcq(c, call, ret, v)
	o.mode, o.wait = modeWait, true
	return o
}

func mAcqFail(c int, call, ret int64, code backend.Code) op {
	return op{client: c, kind: opAcquire, mode: modeTry, lockID: mLock, ttl: mTTL, call: call, ret: ret, outcome: outFail, code: code}
}

func mAcqUnknown(c int, call, ret int64, mode string) op {
	return op{client: c, kind: opAcquire, mode: mode, wait: mode != modeTry, lockID: mLock, ttl: mTTL, call: call, ret: ret, outcome: outUnknown, code: backend.CodeTimeout}
}

func mRel(c int, v, call, ret int64) op {
	return op{client: c, kind: opRelease, mode: modeRelease, lockID: mLock, version: v, call: call, ret: ret, outcome: outOK}
}

func mRelFail(c int, v, call, ret int64, code backend.Code) op {
	o := mRel(c, v, call, ret)
	o.outcome, o.code = outFail, code
	return o
}

func mRelUnknown(c int, v, call, ret int64) op {
	o := mRel(c, v, call, ret)
	o.outcome, o.code = outUnknown, backend.CodeUnavailable
	return o
}

func mRenew(c int, v, call, ret int64) op {
	return op{client: c, kind: opRenew, mode: modeRenew, lockID: mLock, version: v, ttl: mTTL, call: call, ret: ret, outcome: outOK, gotVersion: v}
}

func mRenewFail(c int, v, call, ret int64, code backend.Code) op {
	o := mRenew(c, v, call, ret)
	o.outcome, o.code, o.gotVersion = outFail, code, 0
	return o
}

func mInfo(c, owner int, v, call, ret int64) op {
	return op{client: c, kind: opInfo, mode: modeInfo, lockID: mLock, call: call, ret: ret, outcome: outOK, held: true, owner: owner, gotVersion: v}
}

func mInfoFree(c int, call, ret int64) op {
	return op{client: c, kind: opInfo, mode: modeInfo, lockID: mLock, call: call, ret: ret, outcome: outFail, code: backend.CodeNotFound}
}

func checkOps(t *testing.T, ops []op) porcupine.CheckResult {
	t.Helper()
	res, err := checkLinearizable(ops, mNames, 10*time.Second, "", func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestModelLegalHistories(t *testing.T) {
	tests := []struct {
		name string
		ops  []op
	}{
		{"take turns", []op{
			mAcq(0, 0, 10, 1), mRel(0, 1, 20, 30),
			mAcq(1, 40, 50, 2), mRenew(1, 2, 60, 70), mRel(1, 2, 80, 90),
			mAcq(0, 100, 110, 3),
		}},
		{"contention: held, then a waiter gets it at the release", []op{
			mAcq(0, 0, 10, 1),
			mAcqFail(1, 20, 30, backend.CodeLockHeld),
			mWait(2, 40, 210, 2), // queued, handed the lock at c0's release
			mRel(0, 1, 200, 205),
			mInfo(3, 2, 2, 220, 230),
		}},
		{"overlapping calls, either order", []op{
			mAcq(0, 0, 100, 1),
			mAcqFail(1, 50, 60, backend.CodeLockHeld), // linearized after c0's grant
			mInfoFree(2, 10, 20),                      // linearized before it
		}},
		{"expiry after the TTL", []op{
			mAcq(0, 0, 10, 1),
			mAcq(1, 1000, 1010, 2), // c0's lease may have ended at 0+1000
			mRenewFail(0, 1, 1100, 1110, backend.CodeNotLockOwner),
			mRelFail(0, 1, 1200, 1210, backend.CodeNotLockOwner),
		}},
		{"a renewal moves the expiry", []op{
			mAcq(0, 0, 10, 1),
			mRenew(0, 1, 900, 910),
			mAcqFail(1, 1500, 1510, backend.CodeLockHeld),
			mInfoFree(2, 2000, 2010), // expired at 900+1000 at the earliest
		}},
		{"a wait's lease counts from its call", []op{
			// c1 was handed the lock at c0's expiry, at 1000 at the
			// earliest, but the history cannot show when: its lease is
			// only known to run to its call + TTL, 1005.
			mAcq(0, 0, 10, 1),
			mWait(1, 5, 1200, 2),
			mAcq(2, 1100, 1110, 3), mRel(2, 3, 1120, 1130),
		}},
		{"an unknown acquire that took effect", []op{
			mAcqUnknown(0, 0, 50, modeTry),
			mInfo(1, 0, 7, 100, 110),
			mAcqFail(1, 120, 130, backend.CodeLockHeld),
			mAcq(1, 200, 210, 9), // a phantom grant may end at any moment
		}},
		{"an unknown acquire that did not", []op{
			mAcqUnknown(0, 0, 50, modeTry),
			mAcq(1, 100, 110, 2), mRel(1, 2, 120, 130),
			mInfoFree(2, 140, 150),
		}},
		{"an unknown acquire applied long after its caller gave up", []op{
			mAcqUnknown(0, 0, 50, modeTry),
			mAcq(1, 100, 110, 2), mRel(1, 2, 120, 130),
			mInfo(2, 0, 5, 5000, 5010),
		}},
		{"a cancelled wait granted before the cancel, and released by the driver", []op{
			mAcq(0, 0, 10, 1),
			mAcqUnknown(1, 20, 100, modeWaitCancel),
			mRel(0, 1, 50, 55),
			mInfo(2, 1, 2, 60, 65), // the lock reached c1's place in the queue
			mAcq(2, 120, 130, 3),   // and the driver gave it back at the cancel
		}},
		{"an unknown acquire learned by its caller", []op{
			mAcqUnknown(0, 0, 50, modeTry),
			mInfo(1, 0, 4, 60, 70),
			mAcq(0, 80, 90, 4), // the store: already held; the client renews it
			mRel(0, 4, 100, 110),
			mAcq(1, 120, 130, 5),
		}},
		{"a release whose outcome is unknown may apply late", []op{
			mAcq(0, 0, 10, 1),
			mRelUnknown(0, 1, 20, 30),
			mAcq(0, 40, 50, 1), // not applied yet: already held
			mAcq(1, 60, 70, 2), // applied now
		}},
		{"already held, same version", []op{
			mAcq(0, 0, 10, 1), mAcq(0, 20, 30, 1), mRel(0, 1, 40, 50),
		}},
		{"a read during a release sees either side", []op{
			mAcq(0, 0, 10, 1),
			mRel(0, 1, 20, 40),
			mInfo(1, 0, 1, 25, 30),
			mInfoFree(2, 26, 31),
		}},
		{"a holder from before the run", []op{
			mInfo(0, ownerForeign, 77, 0, 10),
			mAcqFail(1, 20, 30, backend.CodeLockHeld),
			mAcq(1, 40, 50, 78),
		}},
		{"versions shared with other locks jump", []op{
			mAcq(0, 0, 10, 3), mRel(0, 3, 20, 30), mAcq(1, 40, 50, 1000), mRel(1, 1000, 60, 70),
		}},
		{"refused for other reasons: no state", []op{
			mAcqFail(0, 0, 10, backend.CodeInvalidTTL),
			mAcq(1, 20, 30, 1),
			mAcqFail(0, 40, 50, backend.CodeRateLimit),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res := checkOps(t, tt.ops); res != porcupine.Ok {
				t.Fatalf("verdict %s, want Ok", res)
			}
		})
	}
}

func TestModelIllegalHistories(t *testing.T) {
	tests := []struct {
		name string
		ops  []op
	}{
		{"double grant while the lease runs", []op{
			mAcq(0, 0, 10, 1),
			mAcq(1, 500, 510, 2),
		}},
		{"double grant, with unknown acquires about", []op{
			mAcqUnknown(2, 0, 5, modeTry), mAcqUnknown(3, 0, 5, modeWaitCancel),
			mAcq(0, 10, 20, 1),
			mAcq(1, 30, 40, 2),
		}},
		{"a lease ends before its renewal's call + TTL", []op{
			mAcq(0, 0, 10, 1),
			mRenew(0, 1, 900, 910),
			mAcq(1, 1500, 1510, 2),
		}},
		{"a lease ends before the TTL: not found", []op{
			mAcq(0, 0, 10, 1),
			mInfoFree(1, 500, 510),
		}},
		{"held while free", []op{
			mAcq(0, 0, 10, 1), mRel(0, 1, 20, 30),
			mAcqFail(1, 40, 50, backend.CodeLockHeld),
		}},
		{"a read shows a stale version", []op{
			mAcq(0, 0, 10, 1), mRel(0, 1, 20, 30),
			mAcq(1, 40, 50, 2),
			mInfo(2, 1, 1, 60, 70),
		}},
		{"a read shows a released holder", []op{
			mAcq(0, 0, 10, 1), mRel(0, 1, 20, 30),
			mAcq(1, 40, 50, 2),
			mInfo(2, 0, 1, 60, 70),
		}},
		{"a release succeeds after another's grant", []op{
			mAcq(0, 0, 10, 1),
			mAcq(1, 1500, 1510, 2), // c0's lease expired
			mRel(0, 1, 1600, 1610),
		}},
		{"a renewal by another client succeeds", []op{
			mAcq(0, 0, 10, 1),
			mRenew(1, 1, 20, 30),
		}},
		{"the version goes backwards", []op{
			mAcq(0, 0, 10, 5), mRel(0, 5, 20, 30),
			mAcq(1, 40, 50, 3),
		}},
		{"the version repeats", []op{
			mAcq(0, 0, 10, 5), mRel(0, 5, 20, 30),
			mAcq(1, 40, 50, 5),
		}},
		{"a phantom grant's version goes backwards", []op{
			mAcq(0, 0, 10, 5), mRel(0, 5, 20, 30),
			mAcqUnknown(1, 40, 50, modeTry),
			mInfo(2, 1, 4, 60, 70),
		}},
		{"an unknown acquire cannot explain another holder", []op{
			mAcqUnknown(0, 0, 50, modeTry),
			mInfo(1, 2, 3, 100, 110),
		}},
		{"a renewal answers another version", []op{
			mAcq(0, 0, 10, 1),
			func() op { o := mRenew(0, 1, 20, 30); o.gotVersion = 2; return o }(),
		}},
		{"a grant its holder learned ends early", []op{
			// A cancelled wait's grant may be given back by the driver,
			// but not once the same client's Acquire returned it: its
			// lease then runs from that call.
			mAcqUnknown(1, 0, 5, modeWaitCancel),
			mInfo(2, 1, 1, 6, 7),
			mAcq(1, 10, 11, 1),
			mAcq(2, 20, 21, 2),
		}},
		{"release by the owner at another version succeeds", []op{
			mAcq(0, 0, 10, 1),
			mRel(0, 7, 20, 30),
		}},
		{"version mismatch for the right version", []op{
			mAcq(0, 0, 10, 1),
			mRelFail(0, 1, 20, 30, backend.CodeVersionMismatch),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res := checkOps(t, tt.ops); res != porcupine.Illegal {
				t.Fatalf("verdict %s, want Illegal", res)
			}
		})
	}
}

// TestModelVisualisation: an illegal history is drawn, and only then.
func TestModelVisualisation(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.html")
	var logged []string
	logf := func(f string, a ...any) { logged = append(logged, f) }
	res, err := checkLinearizable([]op{mAcq(0, 0, 10, 1), mAcq(1, 20, 30, 2)}, mNames, time.Minute, bad, logf)
	if err != nil || res != porcupine.Illegal {
		t.Fatalf("verdict %s, %v", res, err)
	}
	b, err := os.ReadFile(bad)
	if err != nil || !strings.Contains(string(b), "c1 acquire(L)") {
		t.Fatalf("visualisation: %v, %d bytes", err, len(b))
	}
	good := filepath.Join(dir, "good.html")
	if res, err := checkLinearizable([]op{mAcq(0, 0, 10, 1)}, mNames, time.Minute, good, logf); err != nil || res != porcupine.Ok {
		t.Fatalf("verdict %s, %v", res, err)
	}
	if _, err := os.Stat(good); !os.IsNotExist(err) {
		t.Fatalf("a legal history was drawn: %v", err)
	}
}

// TestModelAcceptsSimulatedStore runs clients against a simulated correct
// store, with timeouts that hide whether an operation took effect, requests
// applied long after their caller gave up, waits, cancelled waits the store
// granted and gave back, expiries and renewals, and checks that the model
// accepts every history: it must never blame a correct store.
func TestModelAcceptsSimulatedStore(t *testing.T) {
	for seed := range 200 {
		ops := simulate(uint64(seed), 4, 120)
		if res := checkOps(t, ops); res != porcupine.Ok {
			for _, p := range porcupineOps(ops) {
				t.Logf("[%d, %d] %s", p.Call, p.Return, describeOp(p.Input.(modelInput), p.Output.(modelOutput), func(i int) string { return mNames[i] }))
			}
			t.Fatalf("seed %d: verdict %s for a correct store", seed, res)
		}
	}
}

// TestModelRejectsSimulatedBrokenStores: the same simulation with a store
// that sometimes grants a held lock to a second client, or that ends
// leases at half their TTL, is caught.
func TestModelRejectsSimulatedBrokenStores(t *testing.T) {
	for _, broken := range []string{"double", "early"} {
		t.Run(broken, func(t *testing.T) {
			caught := 0
			const runs = 50
			for seed := range runs {
				if checkOps(t, simulateBroken(uint64(seed), 4, 120, broken)) == porcupine.Illegal {
					caught++
				}
			}
			if caught < runs*9/10 {
				t.Fatalf("caught %d of %d broken histories", caught, runs)
			}
			t.Logf("caught %d of %d", caught, runs)
		})
	}
}

// sim is a simulated correct lock store for one lock, and clients that use
// it, as a discrete-event simulation.
type sim struct {
	rng     *rand.Rand
	now     int64
	owner   int // -1 when free
	version int64
	expires int64
	counter int64
	broken  string // "double": grant a held lock now and then; "early": leases end at TTL/2

	events simEvents
	seq    int
	ops    []op
}

type simEvent struct {
	at   int64
	seq  int
	what func()
}

type simEvents []simEvent

func (e simEvents) Len() int { return len(e) }
func (e simEvents) Less(i, j int) bool {
	if e[i].at != e[j].at {
		return e[i].at < e[j].at
	}
	return e[i].seq < e[j].seq
}
func (e simEvents) Swap(i, j int) { e[i], e[j] = e[j], e[i] }
func (e *simEvents) Push(x any)   { *e = append(*e, x.(simEvent)) }
func (e *simEvents) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

func (s *sim) at(t int64, f func()) {
	s.seq++
	heap.Push(&s.events, simEvent{at: t, seq: s.seq, what: f})
}

// expire ends the grant if its time has come.
func (s *sim) expire() {
	if s.owner >= 0 && s.now >= s.expires {
		s.owner = -1
	}
}

func (s *sim) grant(c int) int64 {
	s.counter += 1 + s.rng.Int64N(3) // versions shared with other locks jump
	s.owner, s.version = c, s.counter
	s.expires = s.now + mTTL + s.rng.Int64N(50) // never before now + TTL
	if s.broken == "early" {
		s.expires = s.now + mTTL/2
	}
	return s.version
}

// simClient is a client's belief.
type simClient struct {
	id      int
	holds   bool
	version int64
	ops     int
}

func simulate(seed uint64, clients, opsEach int) []op {
	return simulateBroken(seed, clients, opsEach, "")
}

func simulateBroken(seed uint64, clients, opsEach int, broken string) []op {
	return runSim(&sim{rng: rand.New(rand.NewPCG(seed, 7)), owner: -1, broken: broken}, clients, opsEach)
}

func runSim(s *sim, clients, opsEach int) []op {
	for c := range clients {
		cl := &simClient{id: c}
		s.at(s.rng.Int64N(20), func() { s.next(cl, opsEach) })
	}
	for s.events.Len() > 0 {
		e := heap.Pop(&s.events).(simEvent)
		s.now = e.at
		e.what()
	}
	return s.ops
}

// next starts the client's next operation.
func (s *sim) next(cl *simClient, opsEach int) {
	if cl.ops >= opsEach {
		return
	}
	cl.ops++
	call := s.now
	dur := 1 + s.rng.Int64N(40)
	lin := call + s.rng.Int64N(dur+1)
	// An unknown outcome: the caller learns nothing; the effect happens
	// at lin, much later, or never.
	unknown := s.rng.Float64() < 0.12
	late := unknown && s.rng.Float64() < 0.3
	if late {
		lin = call + s.rng.Int64N(3*mTTL)
	}
	applied := !unknown || s.rng.Float64() < 0.6
	finish := func(o op) {
		o.client, o.lockID, o.call, o.ret = cl.id, mLock, call, call+dur
		if unknown {
			o.outcome, o.code, o.gotVersion, o.held, o.owner = outUnknown, backend.CodeTimeout, 0, false, 0
		}
		s.ops = append(s.ops, o)
		pause := s.rng.Int64N(30)
		switch r := s.rng.Float64(); {
		case r < 0.04:
			pause = mTTL + s.rng.Int64N(mTTL) // a holder stalls past its lease
		case r < 0.07:
			cl.holds = false // and sometimes forgets the lock, which expires
		}
		s.at(call+dur+pause, func() { s.next(cl, opsEach) })
	}
	r := s.rng.Float64()
	switch {
	case cl.holds && r < 0.3:
		v := cl.version
		cl.holds = false // the client stops relying on it either way
		o := op{kind: opRelease, mode: modeRelease, version: v}
		if !applied {
			finish(o)
			return
		}
		s.at(lin, func() {
			s.expire()
			switch {
			case s.owner < 0:
				o.outcome, o.code = outFail, backend.CodeNotFound
			case s.owner != cl.id:
				o.outcome, o.code = outFail, backend.CodeNotLockOwner
			case s.version != v:
				o.outcome, o.code = outFail, backend.CodeVersionMismatch
			default:
				o.outcome = outOK
				s.owner = -1
			}
			if !late {
				finish(o)
			}
		})
		if late {
			finish(o)
		}
	case cl.holds && r < 0.5:
		v := cl.version
		o := op{kind: opRenew, mode: modeRenew, version: v, ttl: mTTL}
		if !applied {
			finish(o)
			return
		}
		s.at(lin, func() {
			s.expire()
			switch {
			case s.owner < 0:
				o.outcome, o.code = outFail, backend.CodeNotFound
			case s.owner != cl.id:
				o.outcome, o.code = outFail, backend.CodeNotLockOwner
			case s.version != v:
				o.outcome, o.code = outFail, backend.CodeVersionMismatch
			default:
				o.outcome, o.gotVersion = outOK, v
				s.expires = max(s.expires, s.now+mTTL)
			}
			if o.outcome == outFail && !unknown {
				cl.holds = false
			}
			if !late {
				finish(o)
			}
		})
		if late {
			finish(o)
		}
	case r < 0.75:
		mode := modeTry
		switch r2 := s.rng.Float64(); {
		case r2 < 0.3:
			mode = modeWait
			dur += s.rng.Int64N(mTTL / 2)
		case r2 < 0.45:
			mode, unknown, applied = modeWaitCancel, true, true
		}
		o := op{kind: opAcquire, mode: mode, wait: mode != modeTry, ttl: mTTL}
		if !applied {
			finish(o)
			return
		}
		var try func()
		try = func() {
			s.expire()
			switch {
			case s.owner < 0 || (s.broken == "double" && s.owner != cl.id && s.rng.Float64() < 0.05):
				o.outcome, o.gotVersion = outOK, s.grant(cl.id)
				if mode == modeWaitCancel && s.rng.Float64() < 0.7 {
					// The driver gives the grant back before the
					// cancelled call returns.
					s.at(max(s.now, call+dur), func() {
						if s.owner == cl.id && s.version == o.gotVersion {
							s.owner = -1
						}
					})
				}
			case s.owner == cl.id:
				o.outcome, o.gotVersion = outOK, s.version
				s.expires = max(s.expires, s.now+mTTL) // the client's refresh
			case mode != modeTry && s.now+5 < call+dur:
				s.at(s.now+5, try) // still waiting
				return
			default:
				o.outcome, o.code = outFail, backend.CodeLockHeld
				if mode != modeTry {
					unknown = true // the wait timed out
				}
			}
			if o.outcome == outOK && !unknown {
				cl.holds, cl.version = true, o.gotVersion
			}
			if !late {
				finish(o)
			}
		}
		if mode != modeTry && !late {
			lin = call // a wait starts trying at once
		}
		s.at(lin, try)
		if late {
			finish(o)
		}
	default:
		o := op{kind: opInfo, mode: modeInfo}
		if !applied {
			finish(o)
			return
		}
		s.at(lin, func() {
			s.expire()
			if s.owner < 0 {
				o.outcome, o.code = outFail, backend.CodeNotFound
			} else {
				o.outcome, o.held, o.owner, o.gotVersion = outOK, true, s.owner, s.version
			}
			if !late {
				finish(o)
			}
		})
		if late {
			finish(o)
		}
	}
}
