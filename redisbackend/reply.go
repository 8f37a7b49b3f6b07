package redisbackend

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// reply reads the array a script returns. Scripts reply with strings,
// integers and nils only; a reply of any other shape is a bug, reported
// as CodeInternal rather than a panic.
type reply struct {
	v   []any
	err error
}

func newReply(v any, err error) *reply {
	if err != nil {
		return &reply{err: err}
	}
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return &reply{err: backend.Errorf(backend.CodeInternal, "unexpected script reply %T", v)}
	}
	return &reply{v: arr}
}

func (r *reply) status() string { return r.str(0) }

// str returns element i as a string ("" for nil or missing).
func (r *reply) str(i int) string {
	if r.err != nil || i >= len(r.v) {
		return ""
	}
	switch x := r.v[i].(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case nil:
		return ""
	}
	r.err = backend.Errorf(backend.CodeInternal, "unexpected %T in script reply", r.v[i])
	return ""
}

// int returns element i as an int64 (0 for nil or missing).
func (r *reply) int(i int) int64 {
	if r.err != nil || i >= len(r.v) {
		return 0
	}
	switch x := r.v[i].(type) {
	case int64:
		return x
	case nil:
		return 0
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			r.err = backend.Errorf(backend.CodeInternal, "script reply %q is not an integer", x)
		}
		return n
	}
	r.err = backend.Errorf(backend.CodeInternal, "unexpected %T in script reply", r.v[i])
	return 0
}

// lock reads a grant laid out as owner, ver, at, exp, md from element i.
func (r *reply) lock(lockID string, i int) backend.Lock {
	l := backend.Lock{
		LockID:     lockID,
		Owner:      r.str(i),
		Version:    r.int(i + 1),
		AcquiredAt: msTime(r.int(i + 2)),
		ExpiresAt:  msTime(r.int(i + 3)),
	}
	md, err := decodeMetadata(r.str(i + 4))
	if err != nil && r.err == nil {
		r.err = err
	}
	l.Metadata = md
	return l
}

// msTime is a Redis millisecond timestamp as a time; zero stays zero.
func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// ttlMillis rounds a TTL up to whole milliseconds, as PX counts them.
func ttlMillis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// encodeMetadata is the JSON the scripts store with a grant; "" for none.
func encodeMetadata(md map[string]string) string {
	if len(md) == 0 {
		return ""
	}
	b, _ := json.Marshal(md) // a map of strings always encodes
	return string(b)
}

func decodeMetadata(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	var md map[string]string
	if err := json.Unmarshal([]byte(s), &md); err != nil {
		return nil, &backend.Error{Code: backend.CodeInternal, Message: "stored metadata is not JSON", Err: err}
	}
	if len(md) == 0 {
		return nil, nil
	}
	return md, nil
}

// waiterRecord is a queue entry as the scripts store it. Numbers are kept
// as JSON numbers or strings, whichever Lua wrote.
type waiterRecord struct {
	Priority json.Number `json:"p"`
	At       json.Number `json:"a"`
	Deadline json.Number `json:"x"`
}

func (r *reply) waiters(from int) ([]backend.Waiter, error) {
	var ws []backend.Waiter
	for i := from; i+1 < len(r.v); i += 2 {
		w := backend.Waiter{ClientID: r.str(i), Position: len(ws)}
		var rec waiterRecord
		if err := json.Unmarshal([]byte(r.str(i+1)), &rec); err != nil {
			return nil, &backend.Error{Code: backend.CodeInternal, Message: fmt.Sprintf("waiter record of %q is not JSON", w.ClientID), Err: err}
		}
		p, _ := rec.Priority.Int64()
		at, _ := rec.At.Int64()
		dl, _ := rec.Deadline.Int64()
		w.Priority, w.EnqueuedAt, w.TimeoutAt = int32(p), msTime(at), msTime(dl)
		ws = append(ws, w)
	}
	return ws, r.err
}
