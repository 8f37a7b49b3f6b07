package raftbackend

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

// Every node decodes and applies the same log entries, so the decoder is
// what stands between a corrupt or hostile entry and the replicated state:
// the targets here check that any bytes either decode or fail cleanly, and
// that whatever decodes leaves a state that keeps checkInvariants.

// FuzzDecodeEntry feeds arbitrary bytes to the log decoder: it must never
// panic; what it accepts must encode back to bytes that decode to the same
// entry; and applying it to a fresh state machine must leave a state that
// keeps the invariants.
func FuzzDecodeEntry(f *testing.F) {
	e := sampleEntry()
	f.Add(encodeEntry(nil, &e))
	f.Add(encodeEntry(nil, &entry{}))
	f.Add([]byte{1, 0, 1, 1, 0})
	f.Add(encodeEntry(nil, &entry{now: 1, cmds: []command{{kind: cmdLeaderChange, node: "n1",
		limits: limits{maxLocks: math.MaxInt64, maxWaiters: 1}}}}))
	f.Add(mustHex(f, oldLeaderChangeEntry))
	for _, c := range sampleEntry().cmds {
		f.Add(encodeEntry(nil, &entry{now: 5 * sec, cmds: []command{c}}))
	}
	// A grant whose deadline passes math.MaxInt64.
	f.Add(encodeEntry(nil, &entry{now: math.MaxInt64 - sec, cmds: []command{acq("a", "c1", math.MaxInt64)}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeEntry(data)
		if err != nil {
			if err != errCorrupt {
				t.Fatalf("decodeEntry failed with %v, want errCorrupt", err)
			}
			return
		}
		enc := encodeEntry(nil, &got)
		again, err := decodeEntry(enc)
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("accepted %x but its re-encoding %x does not round-trip: %v", data, enc, err)
		}
		if enc2 := encodeEntry(nil, &again); !bytes.Equal(enc2, enc) {
			t.Fatalf("re-encoding is not canonical: %x, then %x", enc, enc2)
		}

		fsm := newFSM(nil)
		out := fsm.ApplyBatch(applyLogs(1, data))
		if res, ok := out[0].([]result); !ok || len(res) != len(got.cmds) {
			t.Fatalf("applying %d commands answered %#v", len(got.cmds), out[0])
		}
		if err := checkInvariants(fsm); err != nil {
			t.Fatalf("after applying %x: %v", data, err)
		}
	})
}

// maxFuzzEntries bounds the entries FuzzApplyEntries takes from one input:
// it encodes the whole state around each entry, so an input of many tiny
// entries would otherwise cost far more than its length suggests.
const maxFuzzEntries = 64

// splitEntries cuts a fuzz input into log entries, each one a uvarint length
// and that many bytes (or what is left); joinEntries is its inverse. The
// length prefix keeps the entries' own bytes free of any separator.
func splitEntries(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 && len(out) < maxFuzzEntries {
		n, k := binary.Uvarint(data)
		if k <= 0 {
			return append(out, data)
		}
		data = data[k:]
		n = min(n, uint64(len(data)))
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

func joinEntries(entries [][]byte) []byte {
	var buf []byte
	for _, e := range entries {
		buf = binary.AppendUvarint(buf, uint64(len(e)))
		buf = append(buf, e...)
	}
	return buf
}

// seqBuilder records a sequence of entries for a seed, applying each to a
// harness as it goes so that later commands can name the versions the
// earlier ones granted.
type seqBuilder struct {
	h       *fsmHarness
	entries [][]byte
}

func newSeqBuilder(tb testing.TB) *seqBuilder { return &seqBuilder{h: newFSMHarness(tb)} }

func (s *seqBuilder) add(now int64, cmds ...command) []result {
	s.entries = append(s.entries, encodeEntry(nil, &entry{now: now, cmds: cmds}))
	return s.h.apply(now, cmds...)
}

// due adds an entry stamped now with the expiry and wait timeout commands
// the leader would propose at now.
func (s *seqBuilder) due(now int64) []result {
	cmds, _ := s.h.f.due(now, 100)
	return s.add(now, cmds...)
}

func (s *seqBuilder) bytes() []byte { return joinEntries(s.entries) }

// applySeeds returns sequences of real entries that between them reach
// every command kind and the state-dependent paths: queueing, hand-off on
// release, renewal, cancellation, expiry (by command and inline), wait
// timeouts, limits, dedupe repeats, a forced release and membership.
func applySeeds(tb testing.TB) [][]byte {
	var seeds [][]byte

	// A lock's life: grant, queue, renew, cancel, release to the head
	// waiter, a forced release, and the expiry of the grant after it.
	s := newSeqBuilder(tb)
	s.add(1*sec, setLimits(limits{}))
	s.add(1*sec, command{kind: cmdSetMember, node: "n2", addr: "h:2"})
	a := acq("a", "c1", 10*sec)
	a.requestID, a.md = "r1", map[string]string{"k": "v"}
	v1 := s.add(1*sec, a)[0].lock.Version
	w := queueAcq("a", "c2")
	w.priority, w.timeout = 2, 30*sec
	s.add(2*sec, w, enq("a", "c3"), enq("a", "c4"))
	s.add(3*sec, command{kind: cmdRenew, lockID: "a", clientID: "c1", version: v1, ttl: 20 * sec})
	s.add(3*sec, command{kind: cmdCancelWait, lockID: "a", clientID: "c3", requestID: "r2"})
	s.add(4*sec, command{kind: cmdRelease, lockID: "a", clientID: "c1", version: v1, requestID: "r3"})
	held := s.h.f.locks["a"].version
	s.add(5*sec, command{kind: cmdForceRelease, lockID: "a", version: held, requestID: "force-1"})
	s.due(500 * sec)
	s.add(501*sec, command{kind: cmdRemoveMember, node: "n2"})
	seeds = append(seeds, s.bytes())

	// Expiry and wait timeouts through the commands the leader proposes,
	// and a new leader pushing the deadlines first.
	s = newSeqBuilder(tb)
	s.add(1*sec, acq("b", "c1", 2*sec), enq("b", "c2"), queueAcq("b", "c3"),
		acq("c", "c1", 1000*sec), enq("c", "c2"))
	s.add(2*sec, command{kind: cmdLeaderChange, node: "n3", addr: "h:3"})
	s.due(3 * sec)
	s.due(100 * sec)
	s.due(1000 * sec)
	seeds = append(seeds, s.bytes())

	// Limits refuse a new lock and a full queue; a repeated request answers
	// as the first did.
	s = newSeqBuilder(tb)
	s.add(1*sec, setLimits(limits{maxLocks: 1, maxWaiters: 1}))
	r := acq("x", "c1", 10*sec)
	r.requestID = "again"
	s.add(1*sec, r, r, acq("y", "c2", sec), enq("x", "c2"), enq("x", "c3"))
	s.add(20*sec, acq("x", "c4", sec)) // finds c1's grant past its deadline
	s.add(20*sec, r)
	seeds = append(seeds, s.bytes())

	// An entry that does not decode, between two that do.
	s = newSeqBuilder(tb)
	s.add(1*sec, acq("z", "c1", sec))
	s.entries = append(s.entries, []byte{entryFormat, 0, 1, 0xff})
	s.add(1*sec, enq("z", "c2"))
	seeds = append(seeds, s.bytes())

	return seeds
}

// FuzzApplyEntries applies a sequence of fuzzed entries to one state
// machine, so that paths that depend on earlier entries (hand-offs,
// expiry, dedupe, limits) are reached. After every entry the state keeps
// the invariants and no lock's version goes back; an entry that does not
// decode changes nothing. The same entries applied as one batch give the
// same answers and state, and so does a state machine restored from a
// snapshot taken half-way: a snapshot carries everything that decides what
// later entries do.
func FuzzApplyEntries(f *testing.F) {
	for _, seed := range applySeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries := splitEntries(data)
		logs := applyLogs(1, entries...)

		one := newFSM(nil)
		answers := make([]any, len(logs))
		versions := make(map[string]int64)
		half := len(logs) / 2
		var restored *fsm
		for i, l := range logs {
			if i == half {
				restored = snapshotCopy(t, one)
			}
			before := stateAt(one, l.Index)
			answers[i] = one.ApplyBatch([]*raft.Log{l})[0]
			if _, err := decodeEntry(l.Data); err != nil {
				if after := stateAt(one, l.Index); !bytes.Equal(after, before) {
					t.Fatalf("entry %d does not decode (%v) but changed the state", l.Index, err)
				}
			}
			if err := checkInvariants(one); err != nil {
				t.Fatalf("after entry %d: %v", l.Index, err)
			}
			for id, lk := range one.locks {
				if lk.version > int64(l.Index) || lk.version < versions[id] {
					t.Fatalf("after entry %d: lock %q at version %d, earlier %d", l.Index, id, lk.version, versions[id])
				}
				versions[id] = lk.version
			}
		}
		if restored == nil {
			return
		}
		final := one.encodeState(nil)

		batch := newFSM(nil)
		if got := batch.ApplyBatch(logs); !reflect.DeepEqual(got, answers) {
			t.Fatalf("one batch answered\n%#v\none by one\n%#v", got, answers)
		}
		if got := batch.encodeState(nil); !bytes.Equal(got, final) {
			t.Fatalf("one batch left state %x, one by one %x", got, final)
		}

		if got := restored.ApplyBatch(logs[half:]); !reflect.DeepEqual(got, answers[half:]) {
			t.Fatalf("after a restore the entries answered\n%#v\nwithout\n%#v", got, answers[half:])
		}
		if got := restored.encodeState(nil); !bytes.Equal(got, final) {
			t.Fatalf("after a restore the entries left state %x, without %x", got, final)
		}
	})
}

// applyLogs makes command log entries of data, at indexes from first on.
func applyLogs(first uint64, data ...[]byte) []*raft.Log {
	logs := make([]*raft.Log, len(data))
	for i, d := range data {
		logs[i] = &raft.Log{Index: first + uint64(i), Type: raft.LogCommand, Data: d}
	}
	return logs
}

// snapshotCopy restores a new state machine from a snapshot of f. f's
// state came from applying entries, so its snapshot must restore.
func snapshotCopy(t *testing.T, f *fsm) *fsm {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	data := snap.(*fsmSnapshot).data
	g := newFSM(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatalf("a snapshot of a state that entries made does not restore (%v): %x", err, data)
	}
	if err := checkInvariants(g); err != nil {
		t.Fatalf("restored state: %v", err)
	}
	return g
}

// stateAt encodes f's state as if its last applied index were index, so
// that the states before and after an entry that changed nothing else
// compare equal.
func stateAt(f *fsm, index uint64) []byte {
	saved := f.index
	f.index = index
	defer func() { f.index = saved }()
	return f.encodeState(nil)
}
