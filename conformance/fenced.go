package conformance

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// FencedResource stands in for the downstream system a lock protects (a
// database row, a file, a queue consumer), and checks the two things such a
// system relies on from the lock store:
//
//   - Fencing (promise 2): a write carrying a token (Lock.Version) lower
//     than one the resource has already seen for that lock is refused, as a
//     storage service that checks Chubby-style sequencers would refuse it.
//     A refused write is a violation of the store's promises when its
//     writer's lease was still running: the store then granted a newer token
//     while an older lease it had promised was valid.
//   - Mutual exclusion (promises 1 and 3): no two holders of one lock have
//     leases that overlap in real time, and of two leases one after the
//     other the later has the greater token. Each holder declares its lease
//     as the client sees it on the local monotonic clock — from the moment
//     the grant arrived until its local deadline (the moment it sent the
//     request, plus TTL, minus a safety margin), cut short when it lets go.
//
// Because the holders of a test run in one process, their monotonic clocks
// are one clock, so a violation is proof that the store broke a promise, not
// an artefact of clock skew. Each check reads the clock under the resource's
// own lock, so a holder that stalls between its checks cannot cause a false
// alarm.
//
// The protocol for a holder is: Hold when a grant (or a renewal) arrives,
// Write as often as it likes, Drop before sending Release. Every method is
// safe for concurrent use. The zero value is not usable; call
// NewFencedResource. A FencedResource remembers every lease it is told
// about, so it suits tests, not long-running programs.
type FencedResource struct {
	mu         sync.Mutex
	locks      map[string]*fencedLock
	violations []error
	writes     int
	refused    int
}

// fencedLock is what the resource knows of one lock ID.
type fencedLock struct {
	maxToken int64    // highest token written
	leases   []*lease // in the order Hold first saw them
}

// lease is one holder's claim on a lock.
type lease struct {
	owner      string
	token      int64
	start, end time.Time
}

// ErrStaleToken is returned by FencedResource.Write for a write whose token is
// lower than one already written for the lock.
var ErrStaleToken = errors.New("conformance: write with a stale fencing token")

// ErrLeaseOverlap is returned by FencedResource.Hold when the new lease
// overlaps another holder's lease of the same lock.
var ErrLeaseOverlap = errors.New("conformance: two holders' leases overlap")

// ErrTokenOrder is returned by FencedResource.Hold when of two leases of a
// lock, one wholly after the other, the later carries the smaller token.
var ErrTokenOrder = errors.New("conformance: a later grant carries a smaller fencing token")

// NewFencedResource returns an empty resource.
func NewFencedResource() *FencedResource {
	return &FencedResource{locks: make(map[string]*fencedLock)}
}

func (r *FencedResource) lock(lockID string) *fencedLock {
	l := r.locks[lockID]
	if l == nil {
		l = &fencedLock{}
		r.locks[lockID] = l
	}
	return l
}

// violate records a violation and returns it; r.mu must be held.
func (r *FencedResource) violate(sentinel error, format string, args ...any) error {
	err := fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
	r.violations = append(r.violations, err)
	return err
}

// Hold records that owner holds lockID with token from start (when the
// grant or renewal arrived) until end (its local deadline). Holding again
// with the same owner and token — after a Renew — widens that lease. It
// returns, and records, a violation when another owner already presented the
// same token, when the lease overlaps a lease with another token, or when
// it lies wholly after a lease with a greater token (or before one with a
// smaller token). A lease whose end is not after its start is ignored: its
// holder may not trust it and must renew first.
func (r *FencedResource) Hold(lockID, owner string, token int64, start, end time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !end.After(start) {
		return nil
	}
	l := r.lock(lockID)
	var mine *lease
	for _, o := range l.leases {
		if o.token == token {
			if o.owner != owner {
				return r.violate(ErrLeaseOverlap, "lock %s: token %d granted to both %s and %s", lockID, token, o.owner, owner)
			}
			mine = o
		}
	}
	if mine == nil {
		mine = &lease{owner: owner, token: token, start: start, end: end}
		l.leases = append(l.leases, mine)
	} else {
		if start.Before(mine.start) {
			mine.start = start
		}
		if end.After(mine.end) {
			mine.end = end
		}
	}
	var errs []error
	for _, o := range l.leases {
		switch {
		case o == mine:
		case o.start.Before(mine.end) && mine.start.Before(o.end):
			from, to := o.start, o.end
			if mine.start.After(from) {
				from = mine.start
			}
			if mine.end.Before(to) {
				to = mine.end
			}
			errs = append(errs, r.violate(ErrLeaseOverlap, "lock %s: %s (token %d) and %s (token %d) both held it for %v",
				lockID, o.owner, o.token, owner, token, to.Sub(from)))
		case !o.end.After(mine.start) && o.token > token, !mine.end.After(o.start) && token > o.token:
			errs = append(errs, r.violate(ErrTokenOrder, "lock %s: leases of %s (token %d) and %s (token %d) are in the opposite order of their tokens",
				lockID, o.owner, o.token, owner, token))
		}
	}
	return errors.Join(errs...)
}

// Write is a write by owner, the holder of token. It is refused with
// ErrStaleToken when the resource has already accepted a write with a
// higher token for lockID; the refusal is also recorded as a violation when
// the writer's lease (as told to Hold) is still running, because the store
// then granted the newer token too soon. A write with a token at least as
// high as every earlier one is accepted, whether or not Hold was called.
func (r *FencedResource) Write(lockID, owner string, token int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	l := r.lock(lockID)
	if token < l.maxToken {
		r.refused++
		for _, o := range l.leases {
			if o.owner == owner && o.token == token && now.Before(o.end) {
				return r.violate(ErrStaleToken, "lock %s: %s wrote with token %d inside its lease (%v left), after a write with token %d",
					lockID, owner, token, o.end.Sub(now), l.maxToken)
			}
		}
		return fmt.Errorf("%w: lock %s: token %d, highest %d", ErrStaleToken, lockID, token, l.maxToken)
	}
	l.maxToken = token
	r.writes++
	return nil
}

// Drop ends the owner's lease of lockID at token at time at. Call it before
// sending Release, so that the lease is over before the store can grant the
// lock to anyone else.
func (r *FencedResource) Drop(lockID, owner string, token int64, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range r.lock(lockID).leases {
		if o.token == token && o.owner == owner && at.Before(o.end) {
			o.end = at
		}
	}
}

// Writes returns how many writes the resource accepted.
func (r *FencedResource) Writes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes
}

// Refused returns how many writes the resource refused for a stale token.
func (r *FencedResource) Refused() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused
}

// Grants returns how many distinct leases (owner and token) the resource
// was told about.
func (r *FencedResource) Grants() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.locks {
		n += len(l.leases)
	}
	return n
}

// Err returns every violation seen so far, joined, or nil.
func (r *FencedResource) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(r.violations...)
}

// Verify reports each violation seen so far as an error of tb.
func (r *FencedResource) Verify(tb testing.TB) {
	tb.Helper()
	r.mu.Lock()
	vs := append([]error(nil), r.violations...)
	r.mu.Unlock()
	for _, v := range vs {
		tb.Error(v)
	}
}
