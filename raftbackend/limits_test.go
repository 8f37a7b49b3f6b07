package raftbackend

import (
	"bytes"
	"encoding/hex"
	"io"
	"net/url"
	"testing"

	"github.com/raftlock/raftlock/backend"
)

// Bytes written before the limits existed, kept to prove that they still
// read the same.
const (
	// oldLeaderChangeEntry is an entry with LeaderChange{node n2, addr h:2}.
	oldLeaderChangeEntry = "0180c8afa02501088006026e3203683a32"
	// oldSnapshot is a format 1 snapshot of: leader n1 at h:1; lock "a"
	// held by c1 (metadata k=v, request r1); c2 waiting with priority 2 and
	// a 7s timeout (request r2); and the dedupe table's answer to c3's
	// refused request r3.
	oldSnapshot = "0180d0acf30e04026e3101026e3103683a310101610263310480d0acf30e80e08bb4598090dfc04a01016b0176010263320480f882ad168098dc93340080d0acf30e80e888874303056331007231000101610263310480d0acf30e80e08bb45901016b017600000563320072320003000000000000000005633300723301000161026331000000000000000000"
)

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// setLimits is the LeaderChange of a leader configured with lim.
func setLimits(lim limits) command {
	return command{kind: cmdLeaderChange, node: "n1", addr: "h:1", limits: lim}
}

func enq(lock, client string) command {
	return command{kind: cmdEnqueue, lockID: lock, clientID: client, ttl: sec, timeout: 60 * sec}
}

// queueAcq is an Acquire that waits, for a grant of 100s.
func queueAcq(lock, client string) command {
	c := acq(lock, client, 100*sec)
	c.wait = true
	return c
}

// wantRefused checks that r failed with code for lockID and that the
// state machine's lock table is still before.
func wantRefused(t *testing.T, h *fsmHarness, r result, code backend.Code, lockID, before string) {
	t.Helper()
	wantCode(t, r, code)
	if r.err.LockID != lockID {
		t.Errorf("error names lock %q, want %q", r.err.LockID, lockID)
	}
	if after := h.f.view(); after != before {
		t.Fatalf("a refused command changed the state:\n%s\nbefore:\n%s", after, before)
	}
}

func TestFSMMaxLocks(t *testing.T) {
	h := newFSMHarness(t)
	h.one(1*sec, setLimits(limits{maxLocks: 2}))
	a := h.one(1*sec, acq("a", "c1", 100*sec)).lock
	h.one(1*sec, acq("b", "c1", 100*sec))
	before := h.f.view()
	wantRefused(t, h, h.one(2*sec, acq("c", "c1", 100*sec)), backend.CodeResourceExhausted, "c", before)
	wantRefused(t, h, h.one(2*sec, queueAcq("c", "c2")), backend.CodeResourceExhausted, "c", before)
	wantRefused(t, h, h.one(2*sec, enq("c", "c2")), backend.CodeResourceExhausted, "c", before)

	// The limit counts lock IDs: a held lock still takes waiters, and
	// its holder's repeat is answered.
	if r := h.one(2*sec, queueAcq("a", "c2")); r.outcome != outQueued {
		t.Fatalf("a waiter on a held lock: %+v", r)
	}
	if r := h.one(2*sec, acq("a", "c1", 100*sec)); r.outcome != outAlreadyHeld {
		t.Fatalf("the holder's repeat: %+v", r)
	}
	// A hand-off keeps the count; a release with nobody waiting frees room.
	h.one(3*sec, command{kind: cmdRelease, lockID: "a", clientID: "c1", version: a.Version})
	wantCode(t, h.one(3*sec, acq("c", "c1", 100*sec)), backend.CodeResourceExhausted)
	b := h.f.locks["b"]
	h.one(3*sec, command{kind: cmdRelease, lockID: "b", clientID: "c1", version: b.version})
	if r := h.one(3*sec, acq("c", "c1", 100*sec)); r.outcome != outGranted {
		t.Fatalf("acquire after a release made room: %+v", r)
	}
}

func TestFSMMaxWaiters(t *testing.T) {
	h := newFSMHarness(t)
	h.one(1*sec, setLimits(limits{maxWaiters: 2}))
	h.one(1*sec, acq("a", "holder", 100*sec))
	h.one(1*sec, queueAcq("a", "w1"))
	h.one(1*sec, enq("a", "w2"))
	before := h.f.view()
	wantRefused(t, h, h.one(2*sec, queueAcq("a", "w3")), backend.CodeWaitQueueFull, "a", before)
	wantRefused(t, h, h.one(2*sec, enq("a", "w3")), backend.CodeWaitQueueFull, "a", before)
	if h.f.waiters != 2 {
		t.Fatalf("%d waiters, want 2", h.f.waiters)
	}
	// A waiter asking again keeps its place; it adds nobody.
	if r := h.one(2*sec, queueAcq("a", "w2")); r.outcome != outQueued || r.position != 1 {
		t.Fatalf("a queued waiter's repeat: %+v", r)
	}
	// A try on a full queue is still refused for the lock being held.
	wantCode(t, h.one(2*sec, acq("a", "w3", sec)), backend.CodeLockHeld)
	// Other locks have queues of their own.
	h.one(2*sec, acq("b", "holder", 100*sec))
	if r := h.one(2*sec, queueAcq("b", "w3")); r.outcome != outQueued {
		t.Fatalf("a waiter on another lock: %+v", r)
	}
	// Leaving the queue makes room.
	h.one(3*sec, command{kind: cmdCancelWait, lockID: "a", clientID: "w1"})
	if r := h.one(3*sec, enq("a", "w3")); r.outcome != outQueued {
		t.Fatalf("enqueue after a waiter left: %+v", r)
	}
}

// The limits are those of the latest LeaderChange: a leader without
// limits lifts them, and lowering them ends nothing.
func TestFSMLimitsFollowTheLeader(t *testing.T) {
	h := newFSMHarness(t)
	h.one(1*sec, setLimits(limits{maxLocks: 1}))
	h.one(1*sec, acq("a", "c1", 100*sec))
	wantCode(t, h.one(1*sec, acq("b", "c1", 100*sec)), backend.CodeResourceExhausted)

	h.one(2*sec, command{kind: cmdLeaderChange, node: "n2"})
	if r := h.one(2*sec, acq("b", "c1", 100*sec)); r.outcome != outGranted {
		t.Fatalf("under a leader without limits: %+v", r)
	}
	h.one(3*sec, setLimits(limits{maxLocks: 1, maxWaiters: 1}))
	if len(h.f.locks) != 2 {
		t.Fatalf("lowering the limit ended locks: %d left", len(h.f.locks))
	}
	wantCode(t, h.one(3*sec, acq("c", "c1", 100*sec)), backend.CodeResourceExhausted)
}

func TestSnapshotCarriesLimits(t *testing.T) {
	h := newFSMHarness(t)
	lim := limits{maxLocks: 2, maxWaiters: 1}
	h.one(1*sec, setLimits(lim))
	h.one(1*sec, acq("a", "c1", 100*sec))
	h.one(1*sec, queueAcq("a", "w1"))

	data := h.f.encodeState(nil)
	if data[0] != snapshotFormat {
		t.Fatalf("a state with limits is written in format %d, want %d", data[0], snapshotFormat)
	}
	f2 := newFSM(nil)
	if err := f2.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if f2.limits != lim {
		t.Fatalf("restored limits %+v, want %+v", f2.limits, lim)
	}
	if again := f2.encodeState(nil); !bytes.Equal(again, data) {
		t.Fatal("restored state encodes differently")
	}
	h2 := &fsmHarness{t: t, f: f2, index: h.index}
	h2.one(2*sec, acq("b", "c1", 100*sec))
	wantCode(t, h2.one(2*sec, acq("c", "c1", 100*sec)), backend.CodeResourceExhausted)
	wantCode(t, h2.one(2*sec, queueAcq("a", "w2")), backend.CodeWaitQueueFull)

	// Lifted, the limits leave no trace: the snapshot is format 1 again.
	h.one(3*sec, setLimits(limits{}))
	if data := h.f.encodeState(nil); data[0] != snapshotFormatV1 {
		t.Fatalf("a state without limits is written in format %d, want %d", data[0], snapshotFormatV1)
	}
}

// A snapshot written before the limits existed restores, means no limits,
// and is written again byte for byte.
func TestRestoreFormat1Snapshot(t *testing.T) {
	data := mustHex(t, oldSnapshot)
	f := newFSM(nil)
	f.limits = limits{maxLocks: 1} // to see it replaced
	if err := f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if !f.limits.isZero() {
		t.Fatalf("limits %+v from a snapshot without any", f.limits)
	}
	l := f.locks["a"]
	if l == nil || l.owner != "c1" || l.md["k"] != "v" || len(l.queue) != 1 ||
		l.queue[0].clientID != "c2" || l.queue[0].priority != 2 || f.waiters != 1 {
		t.Fatalf("restored lock %+v", l)
	}
	if f.leader != "n1" || f.members["n1"] != "h:1" || f.dedupe.len() != 3 {
		t.Fatalf("leader %q members %v dedupe %d", f.leader, f.members, f.dedupe.len())
	}
	if again := f.encodeState(nil); !bytes.Equal(again, data) {
		t.Fatalf("re-encoded as %x", again)
	}
}

// A LeaderChange written before the limits existed decodes as one without
// limits, and lifts the limits of an earlier leader.
func TestOldLeaderChangeEntryMeansNoLimits(t *testing.T) {
	data := mustHex(t, oldLeaderChangeEntry)
	e, err := decodeEntry(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.cmds) != 1 || e.cmds[0].kind != cmdLeaderChange || !e.cmds[0].limits.isZero() {
		t.Fatalf("decoded %+v", e)
	}
	if again := encodeEntry(nil, &e); !bytes.Equal(again, data) {
		t.Fatalf("a LeaderChange without limits encodes as %x, not as before", again)
	}
	h := newFSMHarness(t)
	h.one(1*sec, setLimits(limits{maxLocks: 1}))
	h.one(1*sec, e.cmds[0])
	if !h.f.limits.isZero() {
		t.Fatalf("limits %+v after a LeaderChange without any", h.f.limits)
	}
}

func TestDecodeStateRejectsBadLimits(t *testing.T) {
	h := newFSMHarness(t)
	good := h.f.encodeState(nil) // format 1, empty
	// Format 2 with zero limits: an encoder of ours writes format 1.
	zero := append([]byte{snapshotFormat}, good[1:]...)
	zero = append(zero, 0, 0)
	// Format 2 cut short.
	short := append([]byte{snapshotFormat}, good[1:]...)
	short = append(short, 1)
	for _, bad := range [][]byte{zero, short, {3}} {
		if _, err := decodeState(bad); err == nil {
			t.Errorf("%x decoded", bad)
		}
	}
}

func TestConfigLimits(t *testing.T) {
	base := Config{NodeID: "n1", DataDir: t.TempDir()}
	c, err := base.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxLocks != 0 || c.MaxWaiters != 0 || c.MaxRequestBytes != DefaultMaxRequestBytes {
		t.Fatalf("defaults: %d locks, %d waiters, %d request bytes", c.MaxLocks, c.MaxWaiters, c.MaxRequestBytes)
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.MaxLocks = -1 },
		func(c *Config) { c.MaxWaiters = -1 },
		func(c *Config) { c.MaxRequestBytes = -1 },
	} {
		c := base
		bad(&c)
		if _, err := c.withDefaults(); backend.CodeOf(err) != backend.CodeInvalidArgument {
			t.Errorf("%+v: err = %v, want CodeInvalidArgument", c, err)
		}
	}
}

func TestEmbedURLLimits(t *testing.T) {
	u, _ := url.Parse("raft+embed:///tmp/x?max_locks=10&max_waiters=3&max_request_bytes=65536")
	c, err := parseEmbedURL(u)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxLocks != 10 || c.MaxWaiters != 3 || c.MaxRequestBytes != 65536 {
		t.Fatalf("parsed %d locks, %d waiters, %d request bytes", c.MaxLocks, c.MaxWaiters, c.MaxRequestBytes)
	}
	for _, q := range []string{"max_locks=-1", "max_waiters=many", "max_request_bytes=-5"} {
		u, _ := url.Parse("raft+embed:///tmp/x?" + q)
		if _, err := parseEmbedURL(u); backend.CodeOf(err) != backend.CodeInvalidArgument {
			t.Errorf("%s: err = %v, want CodeInvalidArgument", q, err)
		}
	}
}
