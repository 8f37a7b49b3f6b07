package raftlock

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
)

// requestIDs makes request IDs that are unique across processes without a
// random draw per request: a random prefix chosen once per client, then a
// counter.
type requestIDs struct {
	prefix []byte // 16 hex digits and a separator
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	p := make([]byte, 0, 17)
	p = hex.AppendEncode(p, b[:])
	return &requestIDs{prefix: append(p, '-')}
}

// next returns a new request ID; it costs one allocation.
func (r *requestIDs) next() string {
	var buf [40]byte
	b := append(buf[:0], r.prefix...)
	b = strconv.AppendUint(b, r.n.Add(1), 36)
	return string(b)
}

// NewClientID returns a random client ID (32 hex digits). Give each holder
// that must exclude the others its own ID: two callers that share a client
// ID are one holder to the store, and both believe they hold the lock.
func NewClientID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
