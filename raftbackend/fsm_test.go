package raftbackend

import (
	"bytes"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftlock/raftlock/backend"
)

// fsmHarness applies entries to a state machine the way raft would, one
// index after another, and records the waiter events.
type fsmHarness struct {
	t      testing.TB
	f      *fsm
	index  uint64
	events []waitEvent
}

func newFSMHarness(t testing.TB) *fsmHarness {
	h := &fsmHarness{t: t, f: newFSM(nil)}
	h.f.notify = func(ev waitEvent) { h.events = append(h.events, ev) }
	return h
}

const sec = int64(time.Second)

// apply commits one entry stamped now and returns its answers.
func (h *fsmHarness) apply(now int64, cmds ...command) []result {
	h.t.Helper()
	h.index++
	data := encodeEntry(nil, &entry{now: now, cmds: cmds})
	out := h.f.ApplyBatch([]*raft.Log{{Index: h.index, Type: raft.LogCommand, Data: data}})
	return out[0].([]result)
}

func (h *fsmHarness) one(now int64, c command) result {
	h.t.Helper()
	return h.apply(now, c)[0]
}

func acq(lock, client string, ttl int64) command {
	return command{kind: cmdAcquire, lockID: lock, clientID: client, ttl: ttl}
}

func wantCode(t *testing.T, r result, code backend.Code) {
	t.Helper()
	if got := backend.CodeOf(errOrNil(r.err)); got != code {
		t.Fatalf("code %v (%v), want %v", got, r.err, code)
	}
}

func errOrNil(e *backend.Error) error {
	if e == nil {
		return nil
	}
	return e
}

func TestFSMGrantVersionIsEntryIndex(t *testing.T) {
	h := newFSMHarness(t)
	h.apply(1*sec, command{kind: cmdLeaderChange, node: "n1"})
	r := h.one(2*sec, acq("a", "c1", 10*sec))
	if r.outcome != outGranted || r.lock.Version != 2 || r.lock.Owner != "c1" {
		t.Fatalf("got %+v, want a grant at version 2", r)
	}
	if !r.lock.ExpiresAt.Equal(time.Unix(0, 12*sec)) {
		t.Fatalf("expires at %v, want Now+TTL", r.lock.ExpiresAt)
	}
	again := h.one(3*sec, acq("a", "c1", 10*sec))
	if again.outcome != outAlreadyHeld || again.lock.Version != 2 {
		t.Fatalf("second acquire by the holder: %+v", again)
	}
	wantCode(t, h.one(3*sec, acq("a", "c2", 10*sec)), backend.CodeLockHeld)
}

func TestFSMReleaseHandsToHeadWaiterInSameEntry(t *testing.T) {
	h := newFSMHarness(t)
	first := h.one(1*sec, acq("a", "c1", 10*sec))
	w2 := acq("a", "c2", 5*sec)
	w2.wait = true
	w3 := acq("a", "c3", 5*sec)
	w3.wait = true
	if r := h.one(1*sec, w2); r.outcome != outQueued || r.position != 0 {
		t.Fatalf("c2: %+v", r)
	}
	if r := h.one(1*sec, w3); r.outcome != outQueued || r.position != 1 {
		t.Fatalf("c3: %+v", r)
	}
	r := h.one(2*sec, command{kind: cmdRelease, lockID: "a", clientID: "c1", version: first.lock.Version})
	if r.err != nil || r.next != "c2" {
		t.Fatalf("release: %+v", r)
	}
	if len(h.events) != 1 || h.events[0].kind != evGranted || h.events[0].clientID != "c2" {
		t.Fatalf("events %+v", h.events)
	}
	g := h.events[0].lock
	if g.Version != int64(h.index) || !g.ExpiresAt.Equal(time.Unix(0, 7*sec)) {
		t.Fatalf("promoted grant %+v: want version %d and TTL from the release's Now", g, h.index)
	}
	// The stale holder cannot touch the new grant.
	wantCode(t, h.one(2*sec, command{kind: cmdRelease, lockID: "a", clientID: "c1", version: first.lock.Version}), backend.CodeNotLockOwner)
	wantCode(t, h.one(2*sec, command{kind: cmdRenew, lockID: "a", clientID: "c2", version: first.lock.Version, ttl: sec}), backend.CodeVersionMismatch)
}

func TestFSMExpireNeedsDeadlineAndVersion(t *testing.T) {
	h := newFSMHarness(t)
	g := h.one(1*sec, acq("a", "c1", 10*sec)).lock
	// Too early: nothing happens.
	if r := h.one(5*sec, command{kind: cmdExpire, lockID: "a", version: g.Version}); r.outcome != outNoop {
		t.Fatalf("early expire applied: %+v", r)
	}
	// Renewed: the old deadline no longer counts.
	h.one(6*sec, command{kind: cmdRenew, lockID: "a", clientID: "c1", version: g.Version, ttl: 10 * sec})
	if r := h.one(12*sec, command{kind: cmdExpire, lockID: "a", version: g.Version}); r.outcome != outNoop {
		t.Fatalf("expire before the renewed deadline applied: %+v", r)
	}
	if r := h.one(16*sec, command{kind: cmdExpire, lockID: "a", version: g.Version}); r.outcome == outNoop || r.err != nil {
		t.Fatalf("due expire did not apply: %+v", r)
	}
	if h.f.locks["a"] != nil {
		t.Fatal("expired lock still held")
	}
	// A wrong version never expires a newer grant.
	g2 := h.one(17*sec, acq("a", "c2", 10*sec)).lock
	if r := h.one(40*sec, command{kind: cmdExpire, lockID: "a", version: g.Version}); r.outcome != outNoop {
		t.Fatal("an expire of an old version ended a newer grant")
	}
	if g2.Version <= g.Version {
		t.Fatalf("versions went %d then %d", g.Version, g2.Version)
	}
}

func TestFSMLeaderChangePushesDeadlines(t *testing.T) {
	h := newFSMHarness(t)
	h.one(100*sec, acq("a", "c1", 10*sec))
	w := acq("a", "c2", 10*sec)
	w.wait, w.timeout = true, 3*sec
	h.one(100*sec, w)
	// A new leader whose clock is 9s ahead: without the push the lease
	// would end 1s after this entry.
	h.one(109*sec, command{kind: cmdLeaderChange, node: "n2", addr: "x:1"})
	l := h.f.locks["a"]
	if l.expiresAt != 119*sec {
		t.Fatalf("lease ends at %ds, want 119s", l.expiresAt/sec)
	}
	if l.queue[0].timeoutAt != 112*sec {
		t.Fatalf("waiter times out at %ds, want 112s", l.queue[0].timeoutAt/sec)
	}
	if h.f.leader != "n2" || h.f.members["n2"] != "x:1" {
		t.Fatalf("leader %q members %v", h.f.leader, h.f.members)
	}
}

func TestFSMTimeNeverGoesBack(t *testing.T) {
	h := newFSMHarness(t)
	h.one(100*sec, acq("a", "c1", 10*sec))
	// An entry stamped earlier (a leader with a slow clock) is applied at
	// the later time.
	r := h.one(50*sec, acq("b", "c1", 10*sec))
	if !r.lock.AcquiredAt.Equal(time.Unix(0, 100*sec)) {
		t.Fatalf("acquired at %v", r.lock.AcquiredAt)
	}
}

func TestFSMInlineExpiryHandsOn(t *testing.T) {
	h := newFSMHarness(t)
	h.one(1*sec, acq("a", "c1", 2*sec))
	w := acq("a", "c2", 2*sec)
	w.wait = true
	h.one(1*sec, w)
	// At 5s the grant is past due though no Expire was committed: a
	// command on the lock ends it first and hands it on.
	r := h.one(5*sec, acq("a", "c3", 2*sec))
	wantCode(t, r, backend.CodeLockHeld)
	if l := h.f.locks["a"]; l.owner != "c2" || l.version != int64(h.index) {
		t.Fatalf("holder %+v", l)
	}
}

func TestFSMWaitTimeoutAndCancel(t *testing.T) {
	h := newFSMHarness(t)
	h.one(1*sec, acq("a", "c1", 100*sec))
	w := acq("a", "c2", 1*sec)
	w.wait, w.timeout = true, 2*sec
	h.one(1*sec, w)
	if r := h.one(2*sec, command{kind: cmdWaitTimeout, lockID: "a", clientID: "c2"}); r.outcome != outNoop {
		t.Fatal("early wait timeout applied")
	}
	h.one(3*sec, command{kind: cmdWaitTimeout, lockID: "a", clientID: "c2"})
	if len(h.events) != 1 || h.events[0].kind != evTimedOut {
		t.Fatalf("events %+v", h.events)
	}
	wantCode(t, h.one(3*sec, command{kind: cmdCancelWait, lockID: "a", clientID: "c2"}), backend.CodeNotWaiting)
	e := command{kind: cmdEnqueue, lockID: "a", clientID: "c3", ttl: sec, timeout: 10 * sec}
	h.one(3*sec, e)
	if r := h.one(3*sec, command{kind: cmdCancelWait, lockID: "a", clientID: "c3"}); r.err != nil {
		t.Fatal(r.err)
	}
	if h.events[1].kind != evCanceled || h.f.waiters != 0 {
		t.Fatalf("events %+v waiters %d", h.events, h.f.waiters)
	}
}

func TestFSMPriorities(t *testing.T) {
	h := newFSMHarness(t)
	g := h.one(1*sec, acq("a", "holder", 100*sec)).lock
	for i, p := range []int32{0, 5, 0, 5} {
		c := acq("a", string(rune('a'+i)), sec)
		c.wait, c.priority = true, p
		h.one(1*sec, c)
	}
	var order []string
	for _, w := range h.f.locks["a"].queue {
		order = append(order, w.clientID)
	}
	if got := string([]byte{order[0][0], order[1][0], order[2][0], order[3][0]}); got != "bdac" {
		t.Fatalf("queue order %v, want b d a c", order)
	}
	h.one(2*sec, command{kind: cmdRelease, lockID: "a", clientID: "holder", version: g.Version})
	if h.f.locks["a"].owner != "b" {
		t.Fatal("the higher priority was not served first")
	}
}

func TestFSMDedupeAnswersRepeatAsFirst(t *testing.T) {
	h := newFSMHarness(t)
	c := acq("a", "c1", 10*sec)
	c.requestID = "r1"
	first := h.one(1*sec, c)
	rel := command{kind: cmdRelease, lockID: "a", clientID: "c1", version: first.lock.Version, requestID: "r2"}
	if r := h.one(2*sec, rel); r.err != nil {
		t.Fatal(r.err)
	}
	// The acquire sent again after its answer was lost: the first answer,
	// not a second grant.
	if again := h.one(3*sec, c); again.outcome != outGranted || again.lock.Version != first.lock.Version {
		t.Fatalf("repeat answered %+v", again)
	}
	if h.f.locks["a"] != nil {
		t.Fatal("the repeated acquire was applied again")
	}
	if r := h.one(3*sec, rel); r.err != nil {
		t.Fatalf("repeated release answered %v, want its first answer", r.err)
	}
}

func TestDedupeTableIsBounded(t *testing.T) {
	d := newDedupeTable()
	for i := range dedupeCapacity + 10 {
		d.put(dedupeKey("c", strconv.Itoa(i)), &result{})
	}
	if d.len() != dedupeCapacity || len(d.m) != dedupeCapacity {
		t.Fatalf("table holds %d/%d", d.len(), len(d.m))
	}
	if d.get(dedupeKey("c", "0")) != nil {
		t.Fatal("the oldest answer was kept")
	}
}

func TestFSMDue(t *testing.T) {
	h := newFSMHarness(t)
	h.one(1*sec, acq("a", "c1", 2*sec))
	h.one(1*sec, acq("b", "c1", 5*sec))
	cmds, next := h.f.due(2*sec, 10)
	if len(cmds) != 0 || next != 3*sec {
		t.Fatalf("due at 2s: %+v next %d", cmds, next)
	}
	cmds, next = h.f.due(4*sec, 10)
	if len(cmds) != 1 || cmds[0].kind != cmdExpire || cmds[0].lockID != "a" || next != 6*sec {
		t.Fatalf("due at 4s: %+v next %d", cmds, next)
	}
	h.apply(4*sec, cmds...)
	if cmds, _ = h.f.due(4*sec, 10); len(cmds) != 0 {
		t.Fatalf("applied expiry proposed again: %+v", cmds)
	}
}

func TestSnapshotRestoresEverything(t *testing.T) {
	h := newFSMHarness(t)
	c := acq("a", "c1", 10*sec)
	c.requestID, c.md = "r1", map[string]string{"k": "v"}
	h.one(1*sec, c)
	w := acq("a", "c2", 3*sec)
	w.wait, w.timeout, w.priority = true, 7*sec, 2
	h.one(1*sec, w)
	h.one(1*sec, command{kind: cmdSetMember, node: "n1", addr: "h:1"})
	h.one(1*sec, command{kind: cmdLeaderChange, node: "n1", addr: "h:1"})

	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	data := snap.(*fsmSnapshot).data
	f2 := newFSM(nil)
	if err := f2.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if again := f2.encodeState(nil); !bytes.Equal(again, data) {
		t.Fatal("restored state encodes differently")
	}
	// The dedupe table came along: the repeat answers as the first did.
	h2 := &fsmHarness{t: t, f: f2, index: h.index}
	if r := h2.one(2*sec, c); r.outcome != outGranted || r.lock.Metadata["k"] != "v" {
		t.Fatalf("repeat after restore: %+v", r)
	}
	if f2.waiters != 1 || f2.locks["a"].queue[0].priority != 2 {
		t.Fatalf("waiters not restored: %+v", f2.locks["a"])
	}
	if cmds, next := f2.due(0, 10); len(cmds) != 0 || next == 0 {
		t.Fatal("deadlines not rebuilt after restore")
	}
}

// A release in the entry that made the grant names a version its holder
// cannot have been told, and would let a second grant in the same entry
// share that version; it is refused.
func TestFSMReleaseOfGrantInSameEntryIsRefused(t *testing.T) {
	h := newFSMHarness(t)
	next := int64(h.index + 1)
	out := h.apply(sec,
		acq("l", "c1", 10*sec),
		command{kind: cmdRelease, lockID: "l", clientID: "c1", version: next},
		acq("l", "c2", 10*sec))
	if out[0].err != nil || out[0].lock.Version != next {
		t.Fatalf("grant: %+v", out[0])
	}
	wantCode(t, out[1], backend.CodeVersionMismatch)
	wantCode(t, out[2], backend.CodeLockHeld)
}
