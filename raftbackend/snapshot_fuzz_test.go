package raftbackend

import (
	"bytes"
	"io"
	"math"
	"reflect"
	"testing"
)

// A snapshot comes from disk or from the leader over the network, and a
// node that restores it serves its locks from then on: the decoder must
// refuse anything that is not a state the log could have made.

// snapshotSeeds returns the snapshots of the states that the seed
// sequences of FuzzApplyEntries pass through, one after each entry.
func snapshotSeeds(tb testing.TB) [][]byte {
	var out [][]byte
	for _, seq := range applySeeds(tb) {
		f := newFSM(nil)
		for i, e := range splitEntries(seq) {
			f.ApplyBatch(applyLogs(uint64(i+1), e))
			out = append(out, f.encodeState(nil))
		}
	}
	return out
}

// FuzzRestoreSnapshot restores arbitrary bytes over a state machine that
// holds locks. It must never panic. A restore that fails leaves the state
// as it was. One that succeeds gives a state that keeps the invariants,
// whose snapshot decodes to an equal state and restores to the same bytes
// (encodeState is canonical), and on which the next entries apply and keep
// the invariants.
func FuzzRestoreSnapshot(f *testing.F) {
	seeds := snapshotSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add([]byte{snapshotFormatV1})
	f.Add([]byte{snapshotFormat})
	f.Add(mustHex(f, oldSnapshot))
	base := seeds[len(seeds)-1] // the state restores are tried over
	f.Fuzz(func(t *testing.T, data []byte) {
		st, decodeErr := decodeState(data)

		fsm := newFSM(nil)
		if err := fsm.Restore(io.NopCloser(bytes.NewReader(base))); err != nil {
			t.Fatalf("base state: %v", err)
		}
		err := fsm.Restore(io.NopCloser(bytes.NewReader(data)))
		if (err == nil) != (decodeErr == nil) {
			t.Fatalf("Restore says %v, decodeState %v", err, decodeErr)
		}
		if err != nil {
			if err != errCorrupt {
				t.Fatalf("Restore failed with %v, want errCorrupt", err)
			}
			if after := fsm.encodeState(nil); !bytes.Equal(after, base) {
				t.Fatalf("a failed restore changed the state to %x", after)
			}
			return
		}

		if err := checkInvariants(fsm); err != nil {
			t.Fatalf("restored %x: %v", data, err)
		}
		again := fsm.encodeState(nil)
		st2, err := decodeState(again)
		if err != nil {
			t.Fatalf("accepted %x, but not its re-encoding %x: %v", data, again, err)
		}
		if !reflect.DeepEqual(st2, st) {
			t.Fatalf("accepted %x, whose re-encoding %x decodes to another state", data, again)
		}
		if canon := restoreBytes(t, again).encodeState(nil); !bytes.Equal(canon, again) {
			t.Fatalf("re-encoding is not canonical: %x, then %x", again, canon)
		}

		// The restored state machine goes on: a new leader's first entry,
		// then what falls due an hour later. A version is the int64 copy of
		// a log index, which never comes near math.MaxInt64 (it counts
		// entries), so the next entries' indexes must fit one.
		if fsm.index >= math.MaxInt64-2 {
			return
		}
		h := &fsmHarness{t: t, f: fsm, index: fsm.index}
		h.apply(fsm.now, command{kind: cmdLeaderChange, node: "n9", addr: "h:9"})
		if err := checkInvariants(fsm); err != nil {
			t.Fatalf("after a LeaderChange on restored %x: %v", data, err)
		}
		later := max(fsm.now, fsm.now+3600*sec)
		cmds, _ := fsm.due(later, 1000)
		h.apply(later, cmds...)
		if err := checkInvariants(fsm); err != nil {
			t.Fatalf("after %d due commands on restored %x: %v", len(cmds), data, err)
		}
	})
}

func restoreBytes(t *testing.T, data []byte) *fsm {
	t.Helper()
	f := newFSM(nil)
	if err := f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatalf("restore %x: %v", data, err)
	}
	return f
}
