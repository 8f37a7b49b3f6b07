package raftbackend

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// A tail truncation (raft overwriting a follower's entries of an old term)
// leaves raft-wal v0.4.0 with a sealed segment it cannot read after a
// restart. The repair makes every entry readable again, with the new
// entries in place of the removed ones, also when compaction has moved the
// segment's first entry past the start of its file.
func TestRepairTruncatedSegments(t *testing.T) {
	dir := t.TempDir()
	entry := func(i uint64, term string) *raft.Log {
		return &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte(fmt.Sprintf("%s-%d", term, i))}
	}
	open := func() (*raftwal.WAL, *metadb.BoltMetaDB) {
		t.Helper()
		meta := &metadb.BoltMetaDB{}
		w, err := raftwal.Open(dir, raftwal.WithMetaStore(meta))
		if err != nil {
			t.Fatal(err)
		}
		return w, meta
	}
	closeAll := func(w *raftwal.WAL, meta *metadb.BoltMetaDB) {
		t.Helper()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := meta.Close(); err != nil {
			t.Fatal(err)
		}
	}

	w, meta := open()
	var logs []*raft.Log
	for i := uint64(1); i <= 10; i++ {
		logs = append(logs, entry(i, "old"))
	}
	if err := w.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := w.DeleteRange(1, 2); err != nil { // compaction after a snapshot
		t.Fatal(err)
	}
	if err := w.DeleteRange(6, 10); err != nil { // the tail truncation
		t.Fatal(err)
	}
	if err := w.StoreLogs([]*raft.Log{entry(6, "new"), entry(7, "new"), entry(8, "new")}); err != nil {
		t.Fatal(err)
	}
	closeAll(w, meta)

	// Without the repair the restarted log cannot read entry 3.
	w, meta = open()
	var got raft.Log
	err := w.GetLog(3, &got)
	closeAll(w, meta)
	if err == nil || !strings.Contains(err.Error(), "no index block") {
		t.Fatalf("raft-wal read a truncated segment after a restart (err %v): it may be fixed upstream, and repairTruncatedSegments no longer needed", err)
	}

	meta = &metadb.BoltMetaDB{}
	n, err := repairTruncatedSegments(dir, meta)
	if err != nil || n != 1 {
		t.Fatalf("repair: %d segments, %v", n, err)
	}
	if n, err := repairTruncatedSegments(dir, meta); err != nil || n != 0 {
		t.Fatalf("second repair: %d segments, %v", n, err)
	}
	if err := meta.Close(); err != nil {
		t.Fatal(err)
	}

	w, meta = open()
	defer closeAll(w, meta)
	if last, err := w.LastIndex(); err != nil || last != 8 {
		t.Fatalf("last index %d, %v; want 8", last, err)
	}
	for i := uint64(3); i <= 8; i++ {
		want := entry(i, "old")
		if i >= 6 {
			want = entry(i, "new")
		}
		if err := w.GetLog(i, &got); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("entry %d holds %q, want %q", i, got.Data, want.Data)
		}
	}
	// And the log goes on taking entries.
	if err := w.StoreLogs([]*raft.Log{entry(9, "new")}); err != nil {
		t.Fatal(err)
	}
}
