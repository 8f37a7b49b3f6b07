package conformance

import (
	"errors"
	"maps"

	"github.com/raftlock/raftlock/backend"
)

// basicTests check acquire, release and get on one lock between clients
// (promises 1, 4 and 6).
func basicTests() []test {
	return []test{
		{"CapabilitiesAreConsistent", basicCapabilities},
		{"AcquireFreeLock", basicAcquireFree},
		{"GetReportsGrant", basicGetReportsGrant},
		{"ReacquireByHolderIsIdempotent", basicReacquireIdempotent},
		{"OtherClientGetsLockHeld", basicOtherClientHeld},
		{"ReleaseFreesLock", basicReleaseFrees},
		{"ReleaseByOtherClientFails", basicReleaseWrongOwner},
		{"ReleaseAtWrongVersionFails", basicReleaseWrongVersion},
		{"ReleaseOfFreeLockFails", basicReleaseFree},
		{"GetOfUnknownLockFails", basicGetUnknown},
		{"LocksAreIndependent", basicIndependent},
		{"ClientIDNamesHolderAcrossDrivers", basicAcrossDrivers},
		{"MetadataIsKept", basicMetadata},
		{"MetadataIsCopied", basicMetadataCopied},
	}
}

// Capabilities drive every skip of the suite, so they must agree between
// drivers of one store and make sense together.
func basicCapabilities(x *sub) {
	c := x.caps()
	for i := range 3 {
		if got := x.driver().Capabilities(); got != c {
			x.Errorf("driver %d reports capabilities %+v, the first one %+v", i, got, c)
		}
	}
	if c.MinTTL < 0 || c.MaxTTL < 0 || c.TTLGranularity < 0 {
		x.Errorf("negative durations in %+v", c)
	}
	if c.MaxTTL > 0 && c.MinTTL > c.MaxTTL {
		x.Errorf("MinTTL %v above MaxTTL %v", c.MinTTL, c.MaxTTL)
	}
	if (c.FIFO || c.Priorities) && !c.ServerSideWait {
		x.Errorf("FIFO or Priorities declared without ServerSideWait: a store that cannot hold a waiter cannot order waiters")
	}
}

func basicAcquireFree(x *sub) {
	c := x.client()
	id := x.id("a")
	g := c.mustAcquire(id, x.long())
	if g.Waited || g.AlreadyHeld {
		x.Errorf("Acquire of a free lock reports Waited %v, AlreadyHeld %v; want neither", g.Waited, g.AlreadyHeld)
	}
	if !g.AcquiredAt.IsZero() && !g.ExpiresAt.IsZero() && !g.ExpiresAt.After(g.AcquiredAt) {
		x.Errorf("grant expires at %v, not after it was acquired at %v", g.ExpiresAt, g.AcquiredAt)
	}
}

func basicGetReportsGrant(x *sub) {
	c, other := x.client(), x.driver()
	id := x.id("a")
	g := c.mustAcquire(id, x.long())
	info, err := other.get(id, false)
	x.noErr(err, "Get(%s) from another driver", id)
	if !info.Held || info.Owner != c.id || info.Version != g.Version {
		x.Errorf("Get = held %v by %q at version %d, want held by %q at version %d",
			info.Held, info.Owner, info.Version, c.id, g.Version)
	}
	if info.WaiterCount != 0 || len(info.Waiters) != 0 {
		x.Errorf("Get of an uncontested lock reports %d waiters (%v)", info.WaiterCount, info.Waiters)
	}
}

// A retried Acquire must be harmless: same grant, same version, and no
// longer a lease than the first answer gave.
func basicReacquireIdempotent(x *sub) {
	c := x.client()
	id := x.id("a")
	g1 := c.mustAcquire(id, x.long())
	g2 := c.mustAcquire(id, x.long())
	if g2.Version != g1.Version {
		x.Errorf("re-acquire by the holder got version %d, want the current %d", g2.Version, g1.Version)
	}
	if !g2.AlreadyHeld {
		// Without the flag a client would count a fresh lease from this
		// request's send time, past the end of the grant it really holds.
		x.Errorf("re-acquire by the holder does not report AlreadyHeld")
	}
	if g2.ExpiresAt.Sub(g1.ExpiresAt) > x.caps().TTLGranularity {
		x.Errorf("re-acquire by the holder moved the expiry from %v to %v: it must return the grant unchanged",
			g1.ExpiresAt, g2.ExpiresAt)
	}
	x.wantHeldBy(x.driver(), id, c.id, g1.Version, "after re-acquire")
}

func basicOtherClientHeld(x *sub) {
	a, b := x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	before := b.state(id)
	_, err := b.acquire(id, x.long())
	if x.wantErr(err, backend.ErrLockHeld, "Acquire of a held lock by another client") {
		var e *backend.Error
		if errors.As(err, &e) && e.Owner != "" && e.Owner != a.id {
			x.Errorf("ErrLockHeld names owner %q, the holder is %q", e.Owner, a.id)
		}
	}
	// Another client ID on the holder's own driver is another holder too.
	_, err = x.clientOn(a.driver).acquire(id, x.long())
	x.wantErr(err, backend.ErrLockHeld, "Acquire by a second client ID on the holder's driver")
	x.wantUnchanged(b.driver, id, before, "failed Acquire")
	x.wantHeldBy(b.driver, id, a.id, g.Version, "after failed Acquires")
}

func basicReleaseFrees(x *sub) {
	a, b := x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	res := a.mustRelease(id, g.Version)
	if res.NextOwner != "" {
		x.Errorf("Release with no waiters reports NextOwner %q", res.NextOwner)
	}
	x.wantFree(b.driver, id, "after Release")
	g2 := b.mustAcquire(id, x.long())
	if g2.Version <= g.Version {
		x.Errorf("grant after release has version %d, not above the released %d", g2.Version, g.Version)
	}
}

func basicReleaseWrongOwner(x *sub) {
	a, b := x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	before := a.state(id)
	_, err := b.release(id, g.Version)
	x.wantErr(err, backend.ErrNotLockOwner, "Release by another client at the holder's version")
	_, err = b.release(id, g.Version+1)
	x.wantErr(err, backend.ErrNotLockOwner, "Release by another client at another version")
	x.wantUnchanged(a.driver, id, before, "Release by another client")
}

func basicReleaseWrongVersion(x *sub) {
	a := x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	before := a.state(id)
	for _, v := range []int64{g.Version + 1, g.Version + 1000} {
		_, err := a.release(id, v)
		x.wantErr(err, backend.ErrVersionMismatch, "Release by the holder at version %d (holds %d)", v, g.Version)
	}
	if g.Version > 1 {
		_, err := a.release(id, g.Version-1)
		x.wantErr(err, backend.ErrVersionMismatch, "Release by the holder at an older version")
	}
	x.wantUnchanged(a.driver, id, before, "Release at the wrong version")
}

func basicReleaseFree(x *sub) {
	a := x.client()
	never := x.id("never")
	_, err := a.release(never, 1)
	x.wantErr(err, backend.ErrLockNotFound, "Release of a lock never granted")
	x.wantFree(a.driver, never, "after Release of a lock never granted")

	id := x.id("twice")
	g := a.mustAcquire(id, x.long())
	a.mustRelease(id, g.Version)
	_, err = a.release(id, g.Version)
	x.wantErr(err, backend.ErrLockNotFound, "second Release of the same grant")
	x.wantFree(a.driver, id, "after the second Release")
}

func basicGetUnknown(x *sub) {
	d := x.driver()
	x.wantFree(d, x.id("never"), "lock never granted")
}

func basicIndependent(x *sub) {
	a, b := x.client(), x.client()
	ga := a.mustAcquire(x.id("a"), x.long())
	gb := b.mustAcquire(x.id("b"), x.long())
	x.wantHeldBy(a.driver, x.id("a"), a.id, ga.Version, "two locks")
	x.wantHeldBy(a.driver, x.id("b"), b.id, gb.Version, "two locks")
	a.mustRelease(x.id("a"), ga.Version)
	x.wantHeldBy(a.driver, x.id("b"), b.id, gb.Version, "after releasing the other lock")
}

// The store judges a holder by client ID and version, not by connection:
// a process that reconnects with its handle still owns its grant.
func basicAcrossDrivers(x *sub) {
	a := x.client()
	a2 := &client{driver: x.driver(), id: a.id}
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	g2 := a2.mustAcquire(id, x.long())
	if g2.Version != g.Version {
		x.Errorf("Acquire by the holder's client ID through another driver got version %d, want %d", g2.Version, g.Version)
	}
	if _, err := a2.renew(id, g.Version, x.long()); err != nil {
		x.Errorf("Renew by the holder's client ID through another driver: %v", err)
	}
	a2.mustRelease(id, g.Version)
	x.wantFree(a.driver, id, "after Release through another driver")
}

func basicMetadata(x *sub) {
	x.needMetadata()
	a, other := x.client(), x.driver()
	id := x.id("a")
	md := map[string]string{"host": "node-1", "purpose": "conformance", "empty": ""}
	ctx, cancel := x.opCtx()
	defer cancel()
	g, err := a.acquireReq(ctx, backend.AcquireRequest{LockID: id, TTL: x.long(), Metadata: md})
	x.noErr(err, "Acquire with metadata")
	if !maps.Equal(g.Metadata, md) {
		x.Errorf("grant carries metadata %v, want %v", g.Metadata, md)
	}
	info, err := other.get(id, false)
	x.noErr(err, "Get")
	if !maps.Equal(info.Metadata, md) {
		x.Errorf("Get reports metadata %v, want %v", info.Metadata, md)
	}
	// A new grant carries its own metadata, not its predecessor's.
	a.mustRelease(id, g.Version)
	b := x.client()
	g2 := b.mustAcquire(id, x.long())
	if len(g2.Metadata) != 0 {
		x.Errorf("grant without metadata carries %v, left over from an earlier grant", g2.Metadata)
	}
}

// The store must keep its own copy: a caller reusing its map (or the map it
// was given back) must not change the grant.
func basicMetadataCopied(x *sub) {
	x.needMetadata()
	a, other := x.client(), x.driver()
	id := x.id("a")
	md := map[string]string{"k": "v"}
	ctx, cancel := x.opCtx()
	defer cancel()
	g, err := a.acquireReq(ctx, backend.AcquireRequest{LockID: id, TTL: x.long(), Metadata: md})
	x.noErr(err, "Acquire with metadata")
	md["k"] = "changed"
	md["new"] = "x"
	if g.Metadata != nil {
		g.Metadata["k"] = "changed by reader"
	}
	info, err := other.get(id, false)
	x.noErr(err, "Get")
	if want := map[string]string{"k": "v"}; !maps.Equal(info.Metadata, want) {
		x.Errorf("after the caller changed its maps, Get reports metadata %v, want %v", info.Metadata, want)
	}
	if info.Metadata != nil {
		info.Metadata["k"] = "changed by Get's reader"
	}
	info2, err := a.get(id, false)
	x.noErr(err, "Get")
	if info2.Metadata["k"] != "v" {
		x.Errorf("changing the map Get returned changed the grant: %v", info2.Metadata)
	}
}
