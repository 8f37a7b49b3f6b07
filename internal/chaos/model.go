package chaos

import (
	"fmt"
	"math/bits"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/raftlock/raftlock/backend"
)

// The lock model is a nondeterministic sequential specification of one
// lock ID, for porcupine. The history is partitioned by lock ID, and each
// partition is checked on its own.
//
// Its state is what the store may hold for the lock at a linearization
// point: free, or held by one client at one version, with the earliest
// real time the store could end the lease by expiry (minExpiry), and the
// highest version known to have been granted (last). Times are
// nanoseconds since the history's start, on the workload's clock, which is
// the clock of the machine the store runs on: the store stamps every
// grant and renewal after the request was sent, so its lease runs at
// least until the request's call time + TTL.
//
// What a correct store may do that the history does not show, the model
// allows as spontaneous events before any operation (see successors):
//
//   - A lease may end by expiry at any linearization point whose
//     operation returns at or after minExpiry: some point of the
//     operation's interval is then late enough.
//   - A grant of unknown origin (phantom) may end at any moment.
//   - A grant whose owner sent a Release with an unknown outcome may end
//     at any moment: the release may be applied late.
//   - A client that made an Acquire with an unknown outcome may be
//     granted the lock whenever it is free, from then on, at a version
//     the history does not show (a request can be applied long after its
//     caller gave up; a wait that was cancelled may have been granted and
//     released again). Such a grant is a phantom.
//
// Waiters that the store hands the lock to on a release or an expiry need
// no queue in the model: their grants are linearized at the hand-off.
//
// An operation with an unknown outcome is checked as a marker linearized
// at its call (the history gives it the interval [call, call+1]): it
// records what may happen from then on (the possible grant, the possible
// release) in the state. Placing it at its call is the most permissive
// choice, because what it records only adds possibilities, so this is as
// sound as letting it float to the end of the history, and much cheaper
// to search.
//
// The model is strict about what a correct store cannot do: two holders
// whose leases cannot have ended, a version that does not grow, a release
// or renewal that succeeds for a client that does not hold the lock at
// that version, a lease that ends before minExpiry, and an answer (held,
// not found, not owner, another version, GetLockInfo's holder and
// version) that no possible state explains. A phantom grant stops being
// one when its owner's own Acquire returns it: the client renews such a
// grant before answering, and from then on its lease counts like any
// other (a cancelled wait's grant that the store gives back after that
// is a grant taken from under a holder, and is reported).
type lockState struct {
	owner      int32 // client index, ownerNone or ownerForeign
	phantom    bool  // the grant's origin is unknown: it may end at any moment
	relPending bool  // its owner sent a Release with an unknown outcome
	version    int64 // the grant's version; 0 when unknown (a phantom)
	minExpiry  int64 // the store cannot end the grant by expiry before this
	last       int64 // highest version known to have been granted
	pending    clientSet
}

// clientSet is a set of client indices below maxClients. Being an array
// it keeps lockState comparable with ==.
type clientSet [maxClients / 64]uint64

// maxClients bounds the clients of a run (workload clients, anchors and
// the checker), so that the model's state stays a small value.
const maxClients = 256

func (s *clientSet) add(i int) { s[i/64] |= 1 << (uint(i) % 64) }

// each calls fn for every member, in order.
func (s clientSet) each(fn func(int)) {
	for w, word := range s {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			fn(w*64 + b)
			word &^= 1 << uint(b)
		}
	}
}

func (s lockState) held() bool { return s.owner != ownerNone }

// endable reports whether the grant may have ended before a linearization
// point of an operation that returned at ret.
func (s lockState) endable(ret int64) bool {
	return s.held() && (s.phantom || s.relPending || ret >= s.minExpiry)
}

// freed is s after its grant ended.
func (s lockState) freed() lockState {
	s.owner, s.version, s.minExpiry = ownerNone, 0, 0
	s.phantom, s.relPending = false, false
	return s
}

// phantomGrant is the free state s after a grant to c that the history
// does not show.
func (s lockState) phantomGrant(c int) lockState {
	s.owner, s.version, s.minExpiry = int32(c), 0, 0
	s.phantom, s.relPending = true, false
	return s
}

// granted is s after a new grant to c at version v, whose request was sent
// at call, for ttl.
func (s lockState) granted(c int, v, call, ttl int64) lockState {
	s.owner, s.version, s.minExpiry = int32(c), v, call+ttl
	s.phantom, s.relPending = false, false
	s.last = v
	return s
}

// matches reports whether s is held by c at version v, or by c at a
// version the history has not shown yet that may be v.
func (s lockState) matches(c int, v int64) bool {
	return s.held() && int(s.owner) == c && (s.version == v || (s.version == 0 && v > s.last))
}

// learn is s with the holder's version known to be v.
func (s lockState) learn(v int64) lockState {
	s.version = v
	if v > s.last {
		s.last = v
	}
	return s
}

// successors appends to out the states the lock may be in at a
// linearization point of an operation that returned at ret, when it was in
// s after the previous one: s itself, or, when s's grant may have ended,
// free, or granted to any client with a pending unknown Acquire.
func successors(s lockState, ret int64, out []lockState) []lockState {
	out = append(out, s)
	free := s
	if s.held() {
		if !s.endable(ret) {
			return out
		}
		free = s.freed()
		out = append(out, free)
	}
	free.pending.each(func(c int) {
		out = append(out, free.phantomGrant(c))
	})
	return out
}

// modelInput is what a porcupine operation carries as input.
type modelInput struct {
	kind    opKind
	mode    string
	client  int
	lockID  string
	version int64 // Release, Renew
	ttl     int64 // Acquire, Renew
	call    int64
	ret     int64 // the real return, even for an unknown outcome
}

// modelOutput is what a porcupine operation carries as output.
type modelOutput struct {
	outcome outcome
	code    backend.Code
	version int64 // Acquire, Renew: the version answered
	held    bool  // GetLockInfo
	owner   int   // GetLockInfo: the holder's index
}

// step is the model's transition: the states the lock may be in after the
// operation, from state s before it; none when the answer is impossible.
func step(s lockState, in modelInput, out modelOutput) []lockState {
	c := in.client
	switch out.outcome {
	case outUnknown:
		switch in.kind {
		case opAcquire:
			if c >= 0 && c < maxClients {
				s.pending.add(c)
			}
		case opRelease:
			if s.held() && int(s.owner) == c && (s.version == in.version || s.version == 0) {
				s.relPending = true
			}
		}
		// An unknown Renew only ever extends a lease, and an unknown read
		// changes nothing: the state as it was covers both.
		return []lockState{s}
	case outFail:
		if !refusalCode(out.code) {
			// Refused before it could change anything (bad input, a
			// limit, a request never sent).
			return []lockState{s}
		}
	}

	pre := successors(s, in.ret, make([]lockState, 0, 4))
	next := make([]lockState, 0, len(pre))
	for _, p := range pre {
		if n, ok := apply(p, in, out); ok {
			next = append(next, n)
		}
	}
	return next
}

// refusalCode lists the definite failures that say something about the
// lock's state.
func refusalCode(code backend.Code) bool {
	switch code {
	case backend.CodeLockHeld, backend.CodeWaitQueueFull, backend.CodeNotFound,
		backend.CodeNotLockOwner, backend.CodeVersionMismatch:
		return true
	}
	return false
}

// apply is one definite answer applied to one possible state p.
func apply(p lockState, in modelInput, out modelOutput) (lockState, bool) {
	c := in.client
	switch in.kind {
	case opAcquire:
		if out.outcome == outFail {
			if out.code != backend.CodeLockHeld && out.code != backend.CodeWaitQueueFull {
				return p, true // not an answer an Acquire gives about the lock
			}
			// Held by another client (LockHeld; WaitQueueFull means a
			// queue, which only a held lock has).
			return p, p.held() && int(p.owner) != c
		}
		v := out.version
		switch {
		case !p.held():
			return p.granted(c, v, in.call, in.ttl), v > p.last
		case p.matches(c, v):
			// The caller already held it (a grant it did not know of, or
			// an earlier request of its own): the client renewed it
			// before answering, so the lease runs from this call at
			// least, and the caller now knows the grant.
			n := p.learn(v)
			n.minExpiry = max(n.minExpiry, in.call+in.ttl)
			n.phantom = false
			return n, true
		}
		return p, false

	case opRelease, opRenew:
		if out.outcome == outFail {
			switch out.code {
			case backend.CodeNotFound:
				return p, !p.held()
			case backend.CodeNotLockOwner:
				return p, p.held() && int(p.owner) != c
			case backend.CodeVersionMismatch:
				return p, p.held() && int(p.owner) == c && p.version != in.version
			}
			return p, false
		}
		if !p.matches(c, in.version) || (out.outcome == outOK && in.kind == opRenew && out.version != 0 && out.version != in.version) {
			return p, false
		}
		n := p.learn(in.version)
		if in.kind == opRelease {
			return n.freed(), true
		}
		n.minExpiry = max(n.minExpiry, in.call+in.ttl)
		return n, true

	case opInfo:
		if out.outcome == outFail || !out.held {
			// CodeNotFound, or a record without a holder.
			return p, !p.held()
		}
		if !p.held() || int(p.owner) != out.owner {
			return p, false
		}
		if p.owner == ownerForeign {
			return p, true
		}
		if !p.matches(out.owner, out.version) {
			return p, false
		}
		return p.learn(out.version), true
	}
	return p, false
}

// lockModel is the porcupine model of a history whose client names are
// names (for descriptions).
func lockModel(names []string) porcupine.Model {
	name := func(i int) string {
		switch {
		case i == ownerNone:
			return "nobody"
		case i == ownerForeign:
			return "foreign"
		case i >= 0 && i < len(names):
			return names[i]
		}
		return fmt.Sprintf("client%d", i)
	}
	nm := porcupine.NondeterministicModel{
		Partition: partitionByLock,
		Init: func() []interface{} {
			// Free, or held at the start by a holder outside the run,
			// which may end at any moment.
			free := lockState{owner: ownerNone}
			foreign := lockState{owner: ownerForeign, phantom: true}
			return []interface{}{free, foreign}
		},
		Step: func(state, input, output interface{}) []interface{} {
			next := step(state.(lockState), input.(modelInput), output.(modelOutput))
			out := make([]interface{}, len(next))
			for i, n := range next {
				out[i] = n
			}
			return out
		},
		Equal: func(a, b interface{}) bool { return a.(lockState) == b.(lockState) },
		Hash:  func(s interface{}) uint64 { return s.(lockState).hash() },
		DescribeOperation: func(input, output interface{}) string {
			return describeOp(input.(modelInput), output.(modelOutput), name)
		},
		DescribeState: func(state interface{}) string {
			return state.(lockState).describe(name)
		},
	}
	return nm.ToModel()
}

// partitionByLock splits a history by lock ID, keeping each lock's
// operations in order.
func partitionByLock(history []porcupine.Operation) [][]porcupine.Operation {
	byLock := make(map[string][]porcupine.Operation)
	var order []string
	for _, o := range history {
		id := o.Input.(modelInput).lockID
		if _, ok := byLock[id]; !ok {
			order = append(order, id)
		}
		byLock[id] = append(byLock[id], o)
	}
	sort.Strings(order)
	out := make([][]porcupine.Operation, len(order))
	for i, id := range order {
		out[i] = byLock[id]
	}
	return out
}

func (s lockState) hash() uint64 {
	h := uint64(14695981039346656037)
	mix := func(v uint64) {
		h ^= v
		h *= 1099511628211
	}
	mix(uint64(int64(s.owner)))
	mix(uint64(s.version))
	mix(uint64(s.minExpiry))
	mix(uint64(s.last))
	var f uint64
	if s.phantom {
		f |= 1
	}
	if s.relPending {
		f |= 2
	}
	mix(f)
	for _, w := range s.pending {
		mix(w)
	}
	return h
}

func (s lockState) describe(name func(int) string) string {
	var b strings.Builder
	if !s.held() {
		b.WriteString("free")
	} else {
		b.WriteString(name(int(s.owner)))
		if s.version != 0 {
			fmt.Fprintf(&b, "@v%d", s.version)
		} else {
			b.WriteString("@v?")
		}
		switch {
		case s.phantom:
			b.WriteString(" (phantom)")
		case s.relPending:
			b.WriteString(" (release pending)")
		default:
			fmt.Fprintf(&b, " until>=%v", time.Duration(s.minExpiry))
		}
	}
	fmt.Fprintf(&b, " last=v%d", s.last)
	var pend []string
	s.pending.each(func(c int) { pend = append(pend, name(c)) })
	if len(pend) > 0 {
		fmt.Fprintf(&b, " pending=[%s]", strings.Join(pend, " "))
	}
	return b.String()
}

func describeOp(in modelInput, out modelOutput, name func(int) string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s(%s", name(in.client), in.mode, in.lockID)
	if in.kind == opRelease || in.kind == opRenew {
		fmt.Fprintf(&b, ", v%d", in.version)
	}
	b.WriteString(") -> ")
	switch out.outcome {
	case outOK:
		switch in.kind {
		case opAcquire, opRenew:
			fmt.Fprintf(&b, "v%d", out.version)
		case opRelease:
			b.WriteString("ok")
		case opInfo:
			if out.held {
				fmt.Fprintf(&b, "%s@v%d", name(out.owner), out.version)
			} else {
				b.WriteString("free")
			}
		}
	case outFail:
		b.WriteString(out.code.String())
	default:
		fmt.Fprintf(&b, "unknown (%s, returned at %v)", out.code, time.Duration(in.ret))
	}
	return b.String()
}

// porcupineOps turns a history into porcupine's operations. An operation
// with an unknown outcome is given the interval [call, call+1]: see the
// model's comment.
func porcupineOps(ops []op) []porcupine.Operation {
	out := make([]porcupine.Operation, 0, len(ops))
	for _, o := range ops {
		in := modelInput{kind: o.kind, mode: o.mode, client: o.client, lockID: o.lockID,
			version: o.version, ttl: o.ttl, call: o.call, ret: o.ret}
		res := modelOutput{outcome: o.outcome, code: o.code, version: o.gotVersion, held: o.held, owner: o.owner}
		ret := o.ret
		if o.outcome == outUnknown {
			ret = o.call + 1
		}
		client := o.client
		if client < 0 {
			client = 0
		}
		out = append(out, porcupine.Operation{ClientId: client, Input: in, Call: o.call, Output: res, Return: ret})
	}
	return out
}
