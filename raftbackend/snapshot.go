package raftbackend

import (
	"encoding/binary"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftlock/raftlock/backend"
)

// The first byte of a snapshot says its layout. Format 2 is format 1 with
// the limits after the dedupe table. A state without limits is written in
// format 1, the layout older versions read, so a cluster that sets no
// limits keeps snapshots that any version restores; both formats are read.
const (
	snapshotFormatV1 = 1
	snapshotFormat   = 2
)

// Snapshot captures the whole state: locks, waiters, the dedupe table, the
// member table, the limits and the state-machine time. The state is encoded while the
// read lock is held (a few milliseconds for tens of thousands of locks), so
// Persist only writes bytes. Locks are written in ID order, so equal states
// give equal snapshots.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &fsmSnapshot{data: f.encodeState(nil)}, nil
}

type fsmSnapshot struct{ data []byte }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

// Restore replaces the state with a snapshot's. A snapshot that does not
// decode leaves the state as it was and fails.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	st, err := decodeState(data)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.locks, f.waiters, f.now, f.index = st.locks, st.waiters, st.now, st.index
	f.dedupe, f.members, f.leader = st.dedupe, st.members, st.leader
	f.limits = st.limits
	f.rebuildDeadlines()
	return nil
}

// encodeState appends the state to buf. f.mu is held.
func (f *fsm) encodeState(buf []byte) []byte {
	format := byte(snapshotFormat)
	if f.limits.isZero() {
		format = snapshotFormatV1
	}
	buf = append(buf, format)
	buf = binary.AppendVarint(buf, f.now)
	buf = binary.AppendUvarint(buf, f.index)
	buf = appendString(buf, f.leader)
	buf = appendMetadata(buf, f.members)

	ids := make([]string, 0, len(f.locks))
	for id := range f.locks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	buf = binary.AppendUvarint(buf, uint64(len(ids)))
	for _, id := range ids {
		l := f.locks[id]
		buf = appendString(buf, l.id)
		buf = appendString(buf, l.owner)
		buf = binary.AppendVarint(buf, l.version)
		buf = binary.AppendVarint(buf, l.acquiredAt)
		buf = binary.AppendVarint(buf, l.expiresAt)
		buf = binary.AppendVarint(buf, l.ttl)
		buf = appendMetadata(buf, l.md)
		buf = binary.AppendUvarint(buf, uint64(len(l.queue)))
		for _, w := range l.queue {
			buf = appendString(buf, w.clientID)
			buf = binary.AppendVarint(buf, int64(w.priority))
			buf = binary.AppendVarint(buf, w.ttl)
			buf = binary.AppendVarint(buf, w.timeout)
			buf = appendMetadata(buf, w.md)
			buf = binary.AppendVarint(buf, w.enqueuedAt)
			buf = binary.AppendVarint(buf, w.timeoutAt)
		}
	}

	buf = binary.AppendUvarint(buf, uint64(f.dedupe.len()))
	f.dedupe.each(func(key string, r *result) {
		buf = appendString(buf, key)
		buf = appendResult(buf, r)
	})
	if format >= snapshotFormat {
		buf = binary.AppendUvarint(buf, uint64(f.limits.maxLocks))
		buf = binary.AppendUvarint(buf, uint64(f.limits.maxWaiters))
	}
	return buf
}

// fsmState is a decoded snapshot, checked before it replaces anything.
type fsmState struct {
	locks   map[string]*fsmLock
	waiters int
	now     int64
	index   uint64
	dedupe  dedupeTable
	members map[string]string
	leader  string
	limits  limits
}

func decodeState(data []byte) (*fsmState, error) {
	d := decoder{buf: data}
	format := d.byte()
	if format != snapshotFormatV1 && format != snapshotFormat {
		return nil, errCorrupt
	}
	st := &fsmState{locks: make(map[string]*fsmLock), dedupe: newDedupeTable()}
	st.now = d.varint()
	if st.now < 0 {
		// The state-machine time starts at 0 and never goes back.
		d.fail()
	}
	st.index = d.uvarint()
	st.leader = d.string()
	st.members = d.optionalMetadata()
	if st.members == nil {
		st.members = make(map[string]string)
	}
	if _, ok := st.members[""]; ok {
		// SetMember and LeaderChange record only a named server.
		d.fail()
	}
	n := d.count()
	for i := 0; i < n && d.err == nil; i++ {
		l := &fsmLock{id: d.string(), owner: d.string(), version: d.varint(),
			acquiredAt: d.varint(), expiresAt: d.varint(), ttl: d.varint()}
		l.md = d.optionalMetadata()
		nw := d.count()
		for j := 0; j < nw && d.err == nil; j++ {
			w := &fsmWaiter{clientID: d.string()}
			p := d.varint()
			w.priority = int32(p)
			if int64(w.priority) != p {
				d.fail()
			}
			w.ttl, w.timeout = d.varint(), d.varint()
			w.md = d.optionalMetadata()
			w.enqueuedAt, w.timeoutAt = d.varint(), d.varint()
			if !validWaiter(l, w, st.now) {
				d.fail()
			}
			l.queue = append(l.queue, w)
			st.waiters++
		}
		if !validGrant(l, st.now) || st.locks[l.id] != nil {
			d.fail()
		}
		st.locks[l.id] = l
	}
	n = d.count()
	for i := 0; i < n && d.err == nil; i++ {
		key := d.string()
		r := d.result()
		if !strings.Contains(key, "\x00") {
			d.fail()
		}
		st.dedupe.put(key, r)
	}
	if format >= snapshotFormat {
		st.limits = limits{maxLocks: d.limit(), maxWaiters: d.limit()}
		if st.limits.isZero() {
			// An encoder of ours writes format 1 then.
			d.fail()
		}
	}
	if d.err != nil || len(d.buf) != 0 {
		return nil, errCorrupt
	}
	return st, nil
}

// A snapshot that decodes replaces the whole state, so decodeState refuses
// a state that applying entries cannot make (see FuzzRestoreSnapshot): the
// state machine relies on what entries keep true, such as the order of a
// queue, and a snapshot where it does not hold is corrupt.

// validGrant reports whether l, read from a snapshot taken at state-machine
// time now, is a grant that commands can make: held by someone, at a
// version that is a log index, for a positive TTL, granted at a time the
// state machine has reached.
func validGrant(l *fsmLock, now int64) bool {
	return l.id != "" && l.owner != "" && l.version > 0 && l.ttl > 0 &&
		l.acquiredAt >= 0 && l.acquiredAt <= now && notBefore(l.acquiredAt, l.expiresAt)
}

// validWaiter reports whether w can follow the waiters read so far in l's
// queue. A client never waits for a lock it holds, nor twice; a waiter
// has a deadline exactly when it has a wait timeout; and the queue is in
// grant order, higher priority first, which insert relies on.
func validWaiter(l *fsmLock, w *fsmWaiter, now int64) bool {
	switch {
	case w.clientID == "" || w.clientID == l.owner || l.find(w.clientID) >= 0:
		return false
	case w.ttl <= 0 || w.timeout < 0 || (w.timeout == 0) != (w.timeoutAt == 0):
		return false
	case w.enqueuedAt < 0 || w.enqueuedAt > now:
		return false
	case w.timeoutAt != 0 && !notBefore(w.enqueuedAt, w.timeoutAt):
		return false
	}
	return len(l.queue) == 0 || l.queue[len(l.queue)-1].priority >= w.priority
}

// notBefore reports whether a deadline at, computed at the moment from
// (not before 0), is one the state machine can have computed: from plus a
// positive duration, which is not earlier unless it wrapped round past
// math.MaxInt64 to a negative value.
func notBefore(from, at int64) bool { return at >= from || at < 0 }

// appendResult writes a dedupe table answer.
func appendResult(buf []byte, r *result) []byte {
	if r.err != nil {
		buf = append(buf, byte(r.err.Code))
		buf = appendString(buf, r.err.Message)
		buf = appendString(buf, r.err.LockID)
		buf = appendString(buf, r.err.Owner)
	} else {
		buf = append(buf, 0)
	}
	buf = append(buf, byte(r.outcome))
	buf = appendString(buf, r.lock.LockID)
	buf = appendString(buf, r.lock.Owner)
	buf = binary.AppendVarint(buf, r.lock.Version)
	buf = binary.AppendVarint(buf, timeNanos(r.lock.AcquiredAt))
	buf = binary.AppendVarint(buf, timeNanos(r.lock.ExpiresAt))
	buf = appendMetadata(buf, r.lock.Metadata)
	buf = binary.AppendUvarint(buf, uint64(r.position))
	buf = appendString(buf, r.next)
	return buf
}

func (d *decoder) result() *result {
	r := &result{}
	if code := backend.Code(d.byte()); code != backend.CodeUnknown {
		r.err = &backend.Error{Code: code, Message: d.string(), LockID: d.string(), Owner: d.string()}
		if code.String() == "" || code.Sentinel() == nil {
			d.fail()
		}
	}
	r.outcome = outcome(d.byte())
	if r.outcome > outNoop {
		d.fail()
	}
	r.lock.LockID = d.string()
	r.lock.Owner = d.string()
	r.lock.Version = d.varint()
	r.lock.AcquiredAt = unixTime(d.varint())
	r.lock.ExpiresAt = unixTime(d.varint())
	r.lock.Metadata = d.optionalMetadata()
	r.position = d.count()
	r.next = d.string()
	return r
}

// optionalMetadata reads what appendMetadata wrote, nil for no pairs.
func (d *decoder) optionalMetadata() map[string]string {
	if len(d.buf) > 0 && d.buf[0] == 0 {
		d.buf = d.buf[1:]
		return nil
	}
	return d.metadata()
}

func timeNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
