package raftbackend

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	walfs "github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/segment"
	"github.com/hashicorp/raft-wal/types"
)

// repairTruncatedSegments mends a log that raft-wal v0.4.0 leaves unreadable
// after a restart, before the log is opened.
//
// When raft removes a suffix of a follower's log (entries of an old term
// that the new leader overwrites), raft-wal marks the segment holding the
// new last entry as sealed without writing the index block a sealed
// segment is read through. The running node reads that segment from memory
// and does not notice; once restarted, every read of an entry in it fails
// with "sealed segment has no index block", and hashicorp/raft panics
// while starting. The chaos suite hit it by killing a node after such a
// truncation.
//
// The segment's frames are intact, so the index can be rebuilt: the
// segment is scanned the way raft-wal recovers a tail after a crash, the
// offsets of the entries it still holds (BaseIndex to MaxIndex) are
// appended to the file as the index array, and the segment's metadata is
// pointed at it. The file is synced before the metadata commits, so a
// crash in between leaves the metadata unchanged and the next start repairs
// again. It returns how many segments it mended.
func repairTruncatedSegments(dir string, meta *metadb.BoltMetaDB) (int, error) {
	state, err := meta.Load(dir)
	if err != nil {
		return 0, err
	}
	filer := segment.NewFiler(dir, walfs.New())
	repaired := 0
	for i, seg := range state.Segments {
		if seg.SealTime.IsZero() || seg.IndexStart != 0 {
			continue
		}
		start, err := rebuildIndex(dir, filer, seg)
		if err != nil {
			return repaired, fmt.Errorf("segment %d (entries %d to %d): %w", seg.ID, seg.MinIndex, seg.MaxIndex, err)
		}
		state.Segments[i].IndexStart = start
		repaired++
	}
	if repaired == 0 {
		return 0, nil
	}
	return repaired, meta.CommitState(state)
}

// rebuildIndex writes the index array of a sealed segment that lacks one
// at the end of its file and returns the array's offset.
func rebuildIndex(dir string, filer *segment.Filer, seg types.SegmentInfo) (uint64, error) {
	if seg.MaxIndex < seg.BaseIndex {
		return 0, errors.New("the segment holds no entries")
	}
	// Scan it as a tail: that reads every committed frame and keeps their
	// offsets, and writes nothing to a segment that has committed frames.
	// The index array starts at BaseIndex even when a head truncation has
	// moved MinIndex past it, so every offset is asked for.
	asTail := seg
	asTail.SealTime = time.Time{}
	asTail.MinIndex = seg.BaseIndex
	w, err := filer.RecoverTail(asTail)
	if err != nil {
		return 0, err
	}
	sw, ok := w.(*segment.Writer)
	if !ok {
		w.Close()
		return 0, fmt.Errorf("unexpected segment writer %T", w)
	}
	index := make([]byte, 0, 4*(seg.MaxIndex-seg.BaseIndex+1))
	for idx := seg.BaseIndex; idx <= seg.MaxIndex; idx++ {
		off, err := sw.OffsetForFrame(idx)
		if err != nil {
			w.Close()
			return 0, fmt.Errorf("entry %d is not in the file: %w", idx, err)
		}
		index = binary.LittleEndian.AppendUint32(index, off)
	}
	if err := w.Close(); err != nil {
		return 0, err
	}

	f, err := os.OpenFile(filepath.Join(dir, segment.FileName(seg)), os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	end, err := f.Seek(0, 2)
	if err != nil {
		return 0, err
	}
	if _, err := f.WriteAt(index, end); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return uint64(end), f.Close()
}
