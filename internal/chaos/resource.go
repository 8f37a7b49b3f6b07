package chaos

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Resource is the protected resource: what the locks guard. Every holder
// writes to it while it believes it holds a lock, with the grant's fencing
// token, and the resource checks what a downstream system relies on:
//
//   - token-order: a grant whose request was sent after another grant of
//     the same lock was acknowledged carries a greater token (the store
//     made it later, and versions grow per lock);
//   - token-reuse: no token of a lock is granted to two clients;
//   - lease-overlap: no two holders' local leases of a lock overlap in
//     real time;
//   - superseded-lease: no holder relies on a grant after a grant with a
//     greater token was acknowledged (the store ended the first grant
//     before it made the second, and made the second before it was
//     acknowledged), even when the two leases do not overlap;
//   - stale-write: no write carries a token below one already written to
//     the lock (the resource is fenced, as a real downstream would be, and
//     refuses such a write; with a correct store and sound local leases
//     none is ever attempted).
//
// A holder's local lease is the time it relies on a grant without asking
// the store: from the grant's acknowledgement to the first of its release
// call, the moment it learned the grant was lost, and its local deadline.
// The deadline is the call time of the latest acknowledged request that
// granted or renewed the lease, plus TTL × (1 − margin); a renewal
// acknowledged after the deadline does not extend it, because the holder
// has by then stopped relying on the lease. For a waiting Acquire the call
// time is when the waiting call was sent, although the store hands the
// lock over later, which only makes the lease shorter.
//
// Why such a lease is sound: the store stamps a grant or renewal with its
// own time, read after the request was sent, and ends the grant no earlier
// than that time + TTL, so no earlier than call time + TTL, on the same
// machine clock (no synchronisation assumed, only equal clock rates, which
// the margin covers). It grants the lock to another holder only after that
// expiry or a release, and the holder sends its release only when it stops
// relying on the lease. So while a local lease runs, the store holds the
// grant, and two local leases of different grants cannot overlap unless
// the store broke mutual exclusion or ended a lease early.
//
// Times are nanoseconds on the clock the resource was made with, the same
// clock the workload's history uses. A Resource is safe for concurrent use.
type Resource struct {
	clock func() int64

	mu      sync.Mutex
	leases  []*Lease
	high    map[string]Write // per lock: the write with the highest token
	writes  int
	refused int
	stale   []Violation
}

// Lease is one holder's local view of one grant. Its fields are fixed at
// Grant; the lease's end moves under the resource's lock.
type Lease struct {
	LockID   string
	ClientID string
	Token    int64 // the grant's version
	Call     int64 // when the request that made the grant was sent
	Ack      int64 // when the grant was acknowledged

	deadline int64 // the local deadline; extended by Extend
	end      int64 // when the holder stopped relying on it
	ended    bool
}

// Write is one write accepted by the resource.
type Write struct {
	LockID   string
	ClientID string
	Token    int64
	At       int64
}

// Errors of Resource.Write.
var (
	// ErrLeaseOver: the holder's local lease had ended when it tried to
	// write, so it did not. Not a violation.
	ErrLeaseOver = errors.New("chaos: the local lease has ended")
	// ErrStaleToken: the resource refused the write because a greater
	// token had been written to the lock. Recorded as a stale-write
	// violation.
	ErrStaleToken = errors.New("chaos: stale fencing token")
)

// NewResource returns an empty resource that reads time from clock
// (nanoseconds, monotonic).
func NewResource(clock func() int64) *Resource {
	return &Resource{clock: clock, high: make(map[string]Write)}
}

// Grant records an acknowledged grant of lockID to clientID with the
// fencing token, whose request was sent at call and acknowledged at ack,
// with the local deadline deadline. A deadline at or before ack gives an
// empty lease, which still counts for the token checks.
func (r *Resource) Grant(lockID, clientID string, token, call, ack, deadline int64) *Lease {
	l := &Lease{LockID: lockID, ClientID: clientID, Token: token, Call: call, Ack: ack, deadline: deadline}
	if deadline <= ack {
		l.ended, l.end = true, ack
	}
	r.mu.Lock()
	r.leases = append(r.leases, l)
	r.mu.Unlock()
	return l
}

// Extend moves the lease's deadline to deadline (if later) for a renewal
// acknowledged at ack. It reports false, changing nothing, when the lease
// had already ended by then.
func (r *Resource) Extend(l *Lease, ack, deadline int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l.ended || ack >= l.deadline {
		return false
	}
	l.deadline = max(l.deadline, deadline)
	return true
}

// End records that the holder stopped relying on the lease at at (a
// release call, the news that the grant is gone); the lease ends at the
// earlier of at and its deadline. Ending an ended lease changes nothing.
func (r *Resource) End(l *Lease, at int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !l.ended {
		l.ended, l.end = true, min(at, l.deadline)
	}
}

// Valid reports whether the lease still runs now, and its deadline.
func (r *Resource) Valid(l *Lease) (bool, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !l.ended && r.clock() < l.deadline, l.deadline
}

// Write writes to the resource under the lease. The lease is checked, and
// the write time read, under the resource's lock, so a write is never
// recorded outside the lease it was made under (a holder preempted
// between checking its lease and writing would otherwise write late). It
// fails with ErrLeaseOver when the lease has ended, and with
// ErrStaleToken when a greater token was written to the lock before.
func (r *Resource) Write(l *Lease) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock()
	if l.ended || now >= l.deadline {
		r.refused++
		return ErrLeaseOver
	}
	w := Write{LockID: l.LockID, ClientID: l.ClientID, Token: l.Token, At: now}
	if h, ok := r.high[l.LockID]; ok && w.Token < h.Token {
		r.stale = append(r.stale, Violation{Kind: "stale-write", LockID: l.LockID, Detail: fmt.Sprintf(
			"%s wrote with token %d at %v, after %s had written with token %d at %v",
			w.ClientID, w.Token, time.Duration(w.At), h.ClientID, h.Token, time.Duration(h.At))})
		return ErrStaleToken
	}
	r.high[l.LockID] = w
	r.writes++
	return nil
}

// Counts returns how many writes were accepted, how many were not made
// because the local lease had ended, how many were refused as stale, and
// how many grants were recorded.
func (r *Resource) Counts() (writes, leaseOver, stale, grants int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes, r.refused, len(r.stale), len(r.leases)
}

// leaseRec is a lease as the checks see it: fixed, with its end resolved.
type leaseRec struct {
	lockID, clientID string
	token            int64
	call, ack, end   int64
}

func (l leaseRec) sameGrant(o leaseRec) bool {
	return l.clientID == o.clientID && l.token == o.token
}

func (l leaseRec) String() string {
	return fmt.Sprintf("%s token %d (sent %v, acknowledged %v, relied on until %v)",
		l.clientID, l.token, time.Duration(l.call), time.Duration(l.ack), time.Duration(l.end))
}

// Check runs the resource's checks over everything recorded so far and
// returns the violations, by kind and lock. A lease still running ends,
// for the check, now or at its deadline, whichever is earlier.
func (r *Resource) Check() []Violation {
	r.mu.Lock()
	now := r.clock()
	recs := make([]leaseRec, len(r.leases))
	for i, l := range r.leases {
		end := l.end
		if !l.ended {
			end = min(now, l.deadline)
		}
		recs[i] = leaseRec{lockID: l.LockID, clientID: l.ClientID, token: l.Token, call: l.Call, ack: l.Ack, end: end}
	}
	out := append([]Violation(nil), r.stale...)
	r.mu.Unlock()
	return append(out, checkLeases(recs)...)
}

// maxPerKind bounds the violations reported per kind and lock; a broken
// store makes thousands, and the first few say what they are.
const maxPerKind = 10

// checkLeases runs the token and overlap checks, lock by lock.
func checkLeases(recs []leaseRec) []Violation {
	byLock := make(map[string][]leaseRec)
	for _, l := range recs {
		byLock[l.lockID] = append(byLock[l.lockID], l)
	}
	locks := make([]string, 0, len(byLock))
	for id := range byLock {
		locks = append(locks, id)
	}
	sort.Strings(locks)
	var out []Violation
	for _, id := range locks {
		ls := byLock[id]
		out = append(out, capped(checkReuse(id, ls))...)
		out = append(out, capped(checkOrder(id, ls))...)
		out = append(out, capped(checkOverlap(id, ls))...)
		out = append(out, capped(checkSuperseded(id, ls))...)
	}
	return out
}

// capped keeps the first maxPerKind violations and says how many more
// there were.
func capped(vs []Violation) []Violation {
	if len(vs) <= maxPerKind {
		return vs
	}
	more := Violation{Kind: vs[0].Kind, LockID: vs[0].LockID, Detail: fmt.Sprintf("and %d more", len(vs)-maxPerKind)}
	return append(vs[:maxPerKind:maxPerKind], more)
}

// checkReuse: one token, one client.
func checkReuse(lockID string, ls []leaseRec) []Violation {
	first := make(map[int64]leaseRec)
	reported := make(map[[2]string]bool)
	var out []Violation
	for _, l := range ls {
		f, ok := first[l.token]
		if !ok {
			first[l.token] = l
			continue
		}
		if f.clientID == l.clientID || reported[[2]string{f.clientID, l.clientID}] {
			continue
		}
		reported[[2]string{f.clientID, l.clientID}] = true
		out = append(out, Violation{Kind: "token-reuse", LockID: lockID, Detail: fmt.Sprintf(
			"token %d granted to two clients: %v and %v", l.token, f, l)})
	}
	return out
}

// checkOrder: a grant requested after another grant's acknowledgement has
// a greater token. One sweep: grants sorted by acknowledgement feed the
// greatest tokens acknowledged so far (the two greatest of distinct
// grants, so that a grant is never compared with itself); requests sorted
// by call time read them.
func checkOrder(lockID string, ls []leaseRec) []Violation {
	byAck := append([]leaseRec(nil), ls...)
	sort.Slice(byAck, func(i, j int) bool { return byAck[i].ack < byAck[j].ack })
	byCall := append([]leaseRec(nil), ls...)
	sort.Slice(byCall, func(i, j int) bool { return byCall[i].call < byCall[j].call })

	var top [2]*leaseRec // greatest token, then greatest of another grant
	offer := func(l *leaseRec) {
		switch {
		case top[0] == nil:
			top[0] = l
		case l.sameGrant(*top[0]):
		case l.token > top[0].token:
			top[1], top[0] = top[0], l
		case top[1] == nil || l.token > top[1].token:
			top[1] = l
		}
	}
	var out []Violation
	i := 0
	for k := range byCall {
		g := &byCall[k]
		for i < len(byAck) && byAck[i].ack < g.call {
			offer(&byAck[i])
			i++
		}
		prev := top[0]
		if prev != nil && prev.sameGrant(*g) {
			prev = top[1]
		}
		if prev != nil && g.token <= prev.token {
			out = append(out, Violation{Kind: "token-order", LockID: lockID, Detail: fmt.Sprintf(
				"%v was requested after %v was acknowledged, with a token not greater", *g, *prev)})
		}
	}
	return out
}

// checkOverlap: local leases of different grants are disjoint.
func checkOverlap(lockID string, ls []leaseRec) []Violation {
	var live []leaseRec
	for _, l := range ls {
		if l.end > l.ack {
			live = append(live, l)
		}
	}
	sort.Slice(live, func(i, j int) bool { return live[i].ack < live[j].ack })
	var out []Violation
	var active []leaseRec // leases that may still overlap the next one
	for _, l := range live {
		kept := active[:0]
		for _, a := range active {
			if a.end > l.ack {
				kept = append(kept, a)
			}
		}
		active = kept
		for _, a := range active {
			if !a.sameGrant(l) {
				out = append(out, Violation{Kind: "lease-overlap", LockID: lockID, Detail: fmt.Sprintf(
					"two holders at once, for %v: %v and %v", time.Duration(min(a.end, l.end)-l.ack), a, l)})
			}
		}
		active = append(active, l)
	}
	return out
}

// overlaps reports whether two leases overlap in time.
func (l leaseRec) overlaps(o leaseRec) bool { return l.ack < o.end && o.ack < l.end }

// checkSuperseded: a lease with a smaller token ends by the time a greater
// token is acknowledged. One sweep in token order keeps the lease with the
// latest end among the smaller tokens; a lease that overlaps it was
// reported by checkOverlap already.
func checkSuperseded(lockID string, ls []leaseRec) []Violation {
	var live []leaseRec
	for _, l := range ls {
		if l.end > l.ack {
			live = append(live, l)
		}
	}
	sort.Slice(live, func(i, j int) bool { return live[i].token < live[j].token })
	var out []Violation
	var latest *leaseRec // of the smaller tokens, the lease that ends last
	for i := 0; i < len(live); {
		j := i
		for j < len(live) && live[j].token == live[i].token {
			j++
		}
		for k := i; k < j; k++ {
			l := live[k]
			if latest != nil && latest.end > l.ack && !latest.overlaps(l) {
				out = append(out, Violation{Kind: "superseded-lease", LockID: lockID, Detail: fmt.Sprintf(
					"%v was relied on after %v was acknowledged", *latest, l)})
			}
		}
		for k := i; k < j; k++ {
			if latest == nil || live[k].end > latest.end {
				latest = &live[k]
			}
		}
		i = j
	}
	return out
}
