package chaos

import (
	"errors"
	"sync"
	"time"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/backend"
)

// opKind is what an operation asked of the store.
type opKind uint8

const (
	opAcquire opKind = iota + 1
	opRelease
	opRenew
	opInfo
)

func (k opKind) String() string {
	switch k {
	case opAcquire:
		return "acquire"
	case opRelease:
		return "release"
	case opRenew:
		return "renew"
	case opInfo:
		return "info"
	}
	return "op?"
}

// outcome is what the caller learned about an operation's effect.
type outcome uint8

const (
	// outOK: the store answered with a result; the operation took effect.
	outOK outcome = iota + 1
	// outFail: the store answered with a definite refusal (the lock is
	// held, not yours, another version, not found, bad input), or the
	// request was never sent; the operation changed nothing.
	outFail
	// outUnknown: no answer the caller can trust (timeout, cancellation,
	// transport error, no leader, a definite refusal after retries): the
	// operation may have taken effect, then or at any later moment.
	outUnknown
)

func (o outcome) String() string {
	switch o {
	case outOK:
		return "ok"
	case outFail:
		return "fail"
	case outUnknown:
		return "unknown"
	}
	return "outcome?"
}

// Owner indices with a meaning of their own, for the model's holder field.
const (
	// ownerNone is a free lock.
	ownerNone = -1
	// ownerForeign is a holder that is not one of the run's clients: a
	// lock may be held at the start by someone outside the run.
	ownerForeign = -2
)

// Op mode names, the keys of Report.Ops.
const (
	modeTry        = "acquire"     // Acquire without Wait
	modeWait       = "wait"        // Acquire with Wait and a WaitTimeout
	modeWaitCancel = "wait_cancel" // Acquire with Wait whose context is cancelled early
	modeRenew      = "renew"
	modeRelease    = "release"
	modeInfo       = "info"
)

// op is one operation of the history: who asked what of which lock, when
// the call was made and when it returned (nanoseconds since the history's
// start, on the monotonic clock), and what the caller learned.
type op struct {
	client   int    // index of the calling client in the history's names
	kind     opKind //
	mode     string // finer kind, for reports
	lockID   string
	version  int64 // the version a Release or Renew named
	wait     bool  // Acquire with Wait
	ttl      int64 // Acquire and Renew, ns
	call     int64
	ret      int64
	outcome  outcome
	code     backend.Code // of a failure (outFail, outUnknown)
	attempts int          // how many times the client sent it (from the error)

	// The answer of a successful operation: the granted or renewed
	// version; for GetLockInfo whether the lock is held, by whom (index,
	// or ownerForeign) and at which version.
	gotVersion int64
	held       bool
	owner      int
	err        string
}

// history records the operations of a run. It is safe for concurrent use.
type history struct {
	start time.Time
	names []string       // client IDs by index
	index map[string]int // client ID -> index

	mu  sync.Mutex
	ops []op
}

func newHistory(names []string) *history {
	h := &history{start: time.Now(), names: names, index: make(map[string]int, len(names))}
	for i, n := range names {
		h.index[n] = i
	}
	return h
}

// now is the time since the history started, in nanoseconds. time.Since
// reads the monotonic clock, so wall-clock steps do not move it.
func (h *history) now() int64 { return int64(time.Since(h.start)) }

// owner maps a client ID the store reported to its index.
func (h *history) owner(clientID string) int {
	if i, ok := h.index[clientID]; ok {
		return i
	}
	return ownerForeign
}

// name is the client ID of index i, for messages.
func (h *history) name(i int) string {
	switch {
	case i == ownerNone:
		return "nobody"
	case i >= 0 && i < len(h.names):
		return h.names[i]
	}
	return "foreign"
}

func (h *history) add(o op) {
	h.mu.Lock()
	h.ops = append(h.ops, o)
	h.mu.Unlock()
}

// snapshot returns a copy of the operations recorded so far.
func (h *history) snapshot() []op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]op(nil), h.ops...)
}

// classify turns a client call's error into an outcome.
//
// A store's refusal is definite only when it is the answer to the one
// request the client sent: after a retry it may be the answer to the
// repeat of a request whose first attempt did take effect and whose answer
// was lost (a store without a deduplication table may answer a repeated
// Release with "not found", a repeated Acquire after the first grant
// expired with "held"), so mutations refused after a retry are unknown.
// A request that was never sent (Attempts 0: refused by the client, or the
// client was closed) changed nothing. Everything else (timeouts,
// cancellations, no leader, transport errors, a closed store while the
// call was in flight) may or may not have taken effect.
func classify(kind opKind, err error) (outcome, backend.Code, int) {
	if err == nil {
		return outOK, backend.CodeUnknown, 1
	}
	code := raftlock.CodeOf(err)
	attempts := 1
	var e *raftlock.Error
	if errors.As(err, &e) {
		attempts = e.Attempts
	}
	if attempts == 0 {
		return outFail, code, 0
	}
	switch code {
	case backend.CodeLockHeld, backend.CodeNotLockOwner, backend.CodeVersionMismatch,
		backend.CodeNotFound, backend.CodeInvalidTTL, backend.CodeInvalidArgument,
		backend.CodeWaitQueueFull, backend.CodeResourceExhausted, backend.CodeNotSupported,
		backend.CodeRateLimit:
		if attempts > 1 && kind != opInfo {
			return outUnknown, code, attempts
		}
		return outFail, code, attempts
	}
	return outUnknown, code, attempts
}
