package conformance

import (
	"time"

	"github.com/raftlock/raftlock/backend"
)

// renewTests check Renew: it keeps the version, sets the expiry to now + TTL,
// and only the owner at the current version may do it (promises 2 and 4).
func renewTests() []test {
	return []test{
		{"KeepsVersion", renewKeepsVersion},
		{"KeepsLockAlive", renewKeepsAlive},
		{"CanLengthenLease", renewLengthens},
		{"SetsExpiryFromNow", renewShortens},
		{"ByOtherClientFails", renewWrongOwner},
		{"AtWrongVersionFails", renewWrongVersion},
		{"OfFreeLockFails", renewFree},
		{"StaleHandleCannotTouchNewerGrant", renewStaleHandle},
		{"LeavesWaitersWaiting", renewLeavesWaiters},
	}
}

func renewKeepsVersion(x *sub) {
	a, other := x.client(), x.driver()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	for i := range 3 {
		l, err := a.renew(id, g.Version, x.long())
		x.noErr(err, "Renew %d", i)
		if l.Version != g.Version || l.Owner != a.id || l.LockID != id {
			x.Errorf("Renew %d returned %+v, want lock %s owner %s version %d", i, *l, id, a.id, g.Version)
		}
	}
	x.wantHeldBy(other, id, a.id, g.Version, "after Renew")
}

// The holder renews well inside each lease for three leases' time while a
// competitor keeps trying: the competitor must never get the lock while the
// latest successful renewal's lease runs.
func renewKeepsAlive(x *sub) {
	a, b := x.client(), x.client()
	id := x.id("a")
	ttl := x.short()
	g := a.mustAcquire(id, ttl)
	safe := g.safeUntil()
	end := g.Recv.Add(3 * ttl)
	for time.Now().Before(end) {
		time.Sleep(ttl / 4)
		sent := time.Now()
		l, err := a.renew(id, g.Version, ttl)
		recv := time.Now()
		if err != nil {
			if recv.Before(safe) {
				x.Fatalf("Renew failed %v before the lease it renews could end: %v", safe.Sub(recv), err)
			}
			x.Logf("this process stalled past its own lease (Renew answered %v after it), ending early", recv.Sub(safe))
			return
		}
		if l.Version != g.Version {
			x.Errorf("Renew changed the version from %d to %d", g.Version, l.Version)
		}
		safe = sent.Add(ttl)
		g2, err := b.acquire(id, x.long())
		if err == nil {
			if g2.Recv.Before(safe) {
				x.Fatalf("competitor was granted the lock while the holder's renewed lease ran (%v left)", safe.Sub(g2.Recv))
			}
			x.Logf("this process stalled past its own lease, ending early")
			return
		}
		x.wantErr(err, backend.ErrLockHeld, "competitor's Acquire of a renewed lock")
	}
}

// Renew with a longer TTL outlives the grant's first lease.
func renewLengthens(x *sub) {
	a, other := x.client(), x.driver()
	id := x.id("a")
	g := a.mustAcquire(id, x.short())
	sent := time.Now()
	_, err := a.renew(id, g.Version, x.long())
	recv := time.Now()
	if err != nil {
		if recv.Before(g.safeUntil()) {
			x.Fatalf("Renew right after Acquire: %v", err)
		}
		x.Skipf("this process stalled past its own lease of %v before renewing", g.TTL)
	}
	// Wait out the first lease twice over: a store that kept the first
	// expiry has dropped the grant by then.
	time.Sleep(time.Until(g.Recv.Add(2*g.TTL + x.caps().TTLGranularity)))
	if time.Now().Before(sent.Add(x.long())) {
		x.wantHeldBy(other, id, a.id, g.Version, "after the first lease ran out, renewed with a longer TTL")
	}
}

// Renew sets the expiry to now + TTL, so renewing with a shorter TTL ends
// the lease sooner than the grant's own TTL would have.
func renewShortens(x *sub) {
	a, other := x.client(), x.driver()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	if x.long() <= x.short()+x.grace() {
		x.Skipf("store's TTL range (long %v, short %v) leaves no room to tell the leases apart", x.long(), x.short())
	}
	r := grant{Lock: g.Lock, TTL: x.short(), Sent: time.Now()}
	_, err := a.renew(id, g.Version, x.short())
	r.Recv = time.Now()
	x.noErr(err, "Renew with a shorter TTL")
	x.waitExpired(other, id, r)
}

func renewWrongOwner(x *sub) {
	a, b := x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	before := a.state(id)
	_, err := b.renew(id, g.Version, x.long())
	x.wantErr(err, backend.ErrNotLockOwner, "Renew by another client at the holder's version")
	_, err = b.renew(id, g.Version+1, x.long())
	x.wantErr(err, backend.ErrNotLockOwner, "Renew by another client at another version")
	x.wantUnchanged(a.driver, id, before, "Renew by another client")
}

func renewWrongVersion(x *sub) {
	a := x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	before := a.state(id)
	_, err := a.renew(id, g.Version+1, x.long())
	x.wantErr(err, backend.ErrVersionMismatch, "Renew by the holder at a newer version")
	if g.Version > 1 {
		_, err = a.renew(id, g.Version-1, x.long())
		x.wantErr(err, backend.ErrVersionMismatch, "Renew by the holder at an older version")
	}
	x.wantUnchanged(a.driver, id, before, "Renew at the wrong version")
}

func renewFree(x *sub) {
	a := x.client()
	never := x.id("never")
	_, err := a.renew(never, 1, x.long())
	x.wantErr(err, backend.ErrLockNotFound, "Renew of a lock never granted")
	x.wantFree(a.driver, never, "after Renew of a lock never granted")

	id := x.id("released")
	g := a.mustAcquire(id, x.long())
	a.mustRelease(id, g.Version)
	_, err = a.renew(id, g.Version, x.long())
	x.wantErr(err, backend.ErrLockNotFound, "Renew of a released grant")
	x.wantFree(a.driver, id, "after Renew of a released grant")
}

// A handle kept from an earlier grant must never act on a newer one, even
// when the newer one belongs to the same client ID (etcd issue #22082).
func renewStaleHandle(x *sub) {
	a, b := x.client(), x.client()
	id := x.id("a")
	g1 := a.mustAcquire(id, x.long())
	a.mustRelease(id, g1.Version)
	g2 := a.mustAcquire(id, x.long())
	before := a.state(id)
	_, err := a.renew(id, g1.Version, x.long())
	x.wantErr(err, backend.ErrVersionMismatch, "Renew with the handle of an earlier grant")
	_, err = a.release(id, g1.Version)
	x.wantErr(err, backend.ErrVersionMismatch, "Release with the handle of an earlier grant")
	x.wantUnchanged(b.driver, id, before, "the stale handle's Renew and Release")

	a.mustRelease(id, g2.Version)
	g3 := b.mustAcquire(id, x.long())
	before = b.state(id)
	_, err = a.renew(id, g2.Version, x.long())
	x.wantErr(err, backend.ErrNotLockOwner, "Renew with a released handle after another client took the lock")
	_, err = a.release(id, g2.Version)
	x.wantErr(err, backend.ErrNotLockOwner, "Release with a released handle after another client took the lock")
	x.wantUnchanged(b.driver, id, before, "the released handle's Renew and Release")
	x.wantHeldBy(b.driver, id, b.id, g3.Version, "at the end")
}

func renewLeavesWaiters(x *sub) {
	x.needServerSideWait()
	a, w := x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	p := x.queueBehind(a, w, id)
	_, err := a.renew(id, g.Version, x.long())
	x.noErr(err, "Renew with a waiter queued")
	p.mustBlock("after Renew")
	if ids := x.waiterIDs(a.driver, id); len(ids) != 1 || ids[0] != w.id {
		x.Errorf("after Renew the queue is %v, want [%s]", ids, w.id)
	}
	x.wantHeldBy(a.driver, id, a.id, g.Version, "after Renew with a waiter")
}
