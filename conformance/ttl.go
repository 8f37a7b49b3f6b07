package conformance

import (
	"time"

	"github.com/raftlock/raftlock/backend"
)

// ttlTests check leases (promise 3): a grant lives at least TTL from the
// moment its request was sent, as the client's own monotonic clock measures
// it, and dies within TTL plus a grace after that, leaving nothing behind.
func ttlTests() []test {
	return []test{
		{"NotGrantedToOthersBeforeTTL", ttlCompetitor},
		{"GetSeesExpiry", ttlGetSeesExpiry},
		{"ExpiredLockIsGone", ttlExpiredGone},
		{"FormerOwnerGetsNewGrant", ttlFormerOwner},
		{"ExpiredHolderCannotReleaseOrRenew", ttlExpiredHolderFree},
		{"ExpiredHolderCannotTouchNewGrant", ttlExpiredHolderNewGrant},
		{"LeasesArePerLock", ttlPerLock},
	}
}

// A competitor keeps trying to take the lock: it must not get it before the
// holder's TTL has passed since the holder sent its Acquire, and must get it
// within TTL plus the grace after the holder's answer arrived.
func ttlCompetitor(x *sub) {
	a, b := x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.short())
	limit := g.Recv.Add(g.TTL + x.grace())
	for {
		g2, err := b.acquire(id, x.long())
		if err == nil {
			if g2.Recv.Before(g.safeUntil()) {
				x.Fatalf("another client was granted the lock %v after the holder sent its Acquire with TTL %v: expired early",
					g2.Recv.Sub(g.Sent), g.TTL)
			}
			if g2.Version <= g.Version {
				x.Errorf("grant after expiry has version %d, not above the expired %d", g2.Version, g.Version)
			}
			return
		}
		if !x.wantErr(err, backend.ErrLockHeld, "Acquire of a held lock") {
			return
		}
		if time.Now().After(limit) {
			x.Fatalf("lock with TTL %v still held %v after it was granted (grace %v)", g.TTL, time.Since(g.Recv), x.grace())
		}
		time.Sleep(x.pollInterval())
	}
}

func ttlGetSeesExpiry(x *sub) {
	a, other := x.client(), x.driver()
	id := x.id("a")
	g := a.mustAcquire(id, x.short())
	x.waitExpired(other, id, g)
}

// An expired grant is gone: Get answers CodeNotFound and List leaves it out.
func ttlExpiredGone(x *sub) {
	a, other := x.client(), x.driver()
	id := x.id("a")
	g := a.mustAcquire(id, x.short())
	x.waitExpired(other, id, g)
	x.wantFree(other, id, "after expiry")
	for _, f := range []backend.ListFilter{
		{Pattern: x.pattern()},
		{Pattern: x.pattern(), OnlyHeld: true},
		{Pattern: x.pattern(), Owner: a.id},
	} {
		res, err := other.list(backend.ListRequest{Filter: f})
		x.noErr(err, "List(%+v)", f)
		if len(res.Locks) != 0 {
			x.Errorf("List(%+v) after expiry returns %+v, want nothing", f, res.Locks)
		}
	}
}

// Acquire by the former owner after expiry is a new grant, not the old one.
func ttlFormerOwner(x *sub) {
	a, other := x.client(), x.driver()
	id := x.id("a")
	g := a.mustAcquire(id, x.short())
	x.waitExpired(other, id, g)
	g2 := a.mustAcquire(id, x.long())
	if g2.Version <= g.Version {
		x.Errorf("former owner's grant after expiry has version %d, not above the expired %d", g2.Version, g.Version)
	}
	_, err := a.release(id, g.Version)
	x.wantErr(err, backend.ErrVersionMismatch, "Release at the expired grant's version")
	x.wantHeldBy(other, id, a.id, g2.Version, "after Release at the expired version")
}

func ttlExpiredHolderFree(x *sub) {
	a, other := x.client(), x.driver()
	id := x.id("a")
	g := a.mustAcquire(id, x.short())
	x.waitExpired(other, id, g)
	_, err := a.renew(id, g.Version, x.long())
	x.wantErr(err, backend.ErrLockNotFound, "Renew of an expired grant")
	_, err = a.release(id, g.Version)
	x.wantErr(err, backend.ErrLockNotFound, "Release of an expired grant")
	x.wantFree(other, id, "after Renew and Release of an expired grant")
}

func ttlExpiredHolderNewGrant(x *sub) {
	a, b := x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.short())
	x.waitExpired(b.driver, id, g)
	gb := b.mustAcquire(id, x.long())
	before := b.state(id)
	_, err := a.renew(id, g.Version, x.long())
	x.wantErr(err, backend.ErrNotLockOwner, "Renew by the expired holder")
	_, err = a.release(id, g.Version)
	x.wantErr(err, backend.ErrNotLockOwner, "Release by the expired holder")
	_, err = a.release(id, gb.Version)
	x.wantErr(err, backend.ErrNotLockOwner, "Release by the expired holder at the new version")
	x.wantUnchanged(b.driver, id, before, "the expired holder's Renew and Release")
}

// Each grant has its own lease: one lock expiring leaves another alone.
func ttlPerLock(x *sub) {
	a, other := x.client(), x.driver()
	short, long := x.id("short"), x.id("long")
	gl := a.mustAcquire(long, x.long())
	gs := a.mustAcquire(short, x.short())
	x.waitExpired(other, short, gs)
	if time.Now().Before(gl.safeUntil()) {
		x.wantHeldBy(other, long, a.id, gl.Version, "after another lock of the same client expired")
	}
}
