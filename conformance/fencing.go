package conformance

import (
	"errors"
	"time"
)

// fencingTests check the fencing token (promise 2): every grant of a lock
// ID has a Version greater than every earlier grant of that ID, however the
// earlier grant ended.
func fencingTests() []test {
	return []test{
		{"IncreasesAcrossClients", fencingAcrossClients},
		{"IncreasesForSameClient", fencingSameClient},
		{"IncreasesAcrossDrivers", fencingAcrossDrivers},
		{"IncreasesAcrossExpiry", fencingAcrossExpiry},
		{"IncreasesPerLockWhenInterleaved", fencingInterleaved},
		{"IncreasesAcrossHandOff", fencingHandOff},
		{"StaleHolderIsFencedOff", fencingStaleHolder},
	}
}

// versionChecker asserts that successive grants of each lock ID carry
// strictly increasing versions.
type versionChecker struct {
	x    *sub
	last map[string]int64
}

func (x *sub) versions() *versionChecker {
	return &versionChecker{x: x, last: map[string]int64{}}
}

func (vc *versionChecker) next(g grant, how string) {
	vc.x.Helper()
	if g.Version <= 0 {
		vc.x.Errorf("%s: version %d is not positive", how, g.Version)
	}
	if prev, ok := vc.last[g.LockID]; ok && g.Version <= prev {
		vc.x.Errorf("%s: lock %s granted at version %d after version %d", how, g.LockID, g.Version, prev)
	}
	vc.last[g.LockID] = g.Version
}

func fencingAcrossClients(x *sub) {
	cs := []*client{x.client(), x.client(), x.client()}
	id := x.id("a")
	vc := x.versions()
	for i := range 12 {
		c := cs[i%len(cs)]
		g := c.mustAcquire(id, x.long())
		vc.next(g, "round-robin grant")
		c.mustRelease(id, g.Version)
	}
}

func fencingSameClient(x *sub) {
	c := x.client()
	id := x.id("a")
	vc := x.versions()
	for range 10 {
		g := c.mustAcquire(id, x.long())
		vc.next(g, "re-acquire by the same client after release")
		c.mustRelease(id, g.Version)
	}
}

// A new connection (a restarted process) must not reset the counter.
func fencingAcrossDrivers(x *sub) {
	id := x.id("a")
	vc := x.versions()
	for range 4 {
		c := x.client()
		g := c.mustAcquire(id, x.long())
		vc.next(g, "grant through a new driver")
		c.mustRelease(id, g.Version)
		if err := c.close(); err != nil {
			x.Errorf("Close: %v", err)
		}
	}
}

func fencingAcrossExpiry(x *sub) {
	a, b := x.client(), x.client()
	id := x.id("a")
	vc := x.versions()
	for _, c := range []*client{a, a, b} {
		g := c.mustAcquire(id, x.short())
		vc.next(g, "grant after expiry")
		x.waitExpired(b.driver, id, g)
	}
}

// Several lock IDs taken and released in an interleaved order: each ID's
// versions increase on their own, whatever the store does with its counter.
func fencingInterleaved(x *sub) {
	cs := []*client{x.client(), x.client()}
	ids := []string{x.id("a"), x.id("b"), x.id("c")}
	vc := x.versions()
	held := map[string]grant{}
	holder := map[string]*client{}
	for i := range 18 {
		id := ids[(i*7)%len(ids)]
		if g, ok := held[id]; ok {
			holder[id].mustRelease(id, g.Version)
			delete(held, id)
			continue
		}
		c := cs[i%len(cs)]
		g := c.mustAcquire(id, x.long())
		vc.next(g, "interleaved grant")
		held[id], holder[id] = g, c
	}
}

func fencingHandOff(x *sub) {
	x.needServerSideWait()
	a, w := x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	p := x.queueBehind(a, w, id)
	a.mustRelease(id, g.Version)
	gw, err := p.wait()
	x.noErr(err, "waiter's Acquire")
	if gw.Version <= g.Version {
		x.Errorf("waiter granted version %d, not above the released %d", gw.Version, g.Version)
	}
}

// A holder that stalls past its lease wakes up and writes with its old
// token: the protected resource refuses it because the next holder's token
// is greater. This is the safety mechanism of promise 2 end to end.
func fencingStaleHolder(x *sub) {
	a, b := x.client(), x.client()
	id := x.id("a")
	res := NewFencedResource()
	ga := a.mustAcquire(id, x.short())
	if err := res.Hold(id, a.id, ga.Version, ga.Recv, ga.safeUntil()); err != nil {
		x.Error(err)
	}
	if err := res.Write(id, a.id, ga.Version); err != nil {
		x.Errorf("first holder's write: %v", err)
	}
	// a stalls; its lease runs out and b takes the lock.
	x.waitExpired(b.driver, id, ga)
	gb := b.mustAcquire(id, x.long())
	if err := res.Hold(id, b.id, gb.Version, gb.Recv, gb.safeUntil()); err != nil {
		x.Error(err)
	}
	if err := res.Write(id, b.id, gb.Version); err != nil {
		x.Errorf("second holder's write: %v", err)
	}
	if time.Now().Before(ga.safeUntil()) {
		x.Fatalf("the first lease still runs after the lock changed hands")
	}
	if err := res.Write(id, a.id, ga.Version); !errors.Is(err, ErrStaleToken) {
		x.Errorf("stalled holder's write with token %d after token %d: got %v, want ErrStaleToken", ga.Version, gb.Version, err)
	}
	res.Verify(x)
}
