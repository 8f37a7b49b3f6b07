package conformance

import (
	"context"
	"slices"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// closedTests check Close: later calls fail with ErrClientClosed, blocked
// calls wake with it and leave their queues, and the locks a closed driver
// holds stay held until they expire, as a crashed process's would.
func closedTests() []test {
	ts := []test{
		{"CloseWakesWaiter", closedWakesWaiter},
		{"CloseRacingRelease", closedRacingRelease},
		{"CloseKeepsLocksUntilExpiry", closedKeepsLocks},
		{"OtherDriversUnaffected", closedOthersUnaffected},
	}
	for _, c := range closedCalls() {
		ts = append(ts, test{c.name + "AfterClose", c.run})
	}
	return ts
}

// closedCall is one method called on a closed driver.
type closedCall struct {
	name   string
	queuer bool
	call   func(ctx context.Context, x *sub, d *driver, lockID, owner string, v int64) error
}

func closedCalls() []closedCall {
	return []closedCall{
		{name: "Acquire", call: func(ctx context.Context, x *sub, d *driver, lockID, owner string, v int64) error {
			_, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: x.id("other"), ClientID: owner, TTL: x.long()})
			return err
		}},
		{name: "AcquireByHolder", call: func(ctx context.Context, x *sub, d *driver, lockID, owner string, v int64) error {
			_, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: lockID, ClientID: owner, TTL: x.long()})
			return err
		}},
		{name: "Release", call: func(ctx context.Context, x *sub, d *driver, lockID, owner string, v int64) error {
			_, err := d.Release(ctx, &backend.ReleaseRequest{LockID: lockID, ClientID: owner, Version: v})
			return err
		}},
		{name: "Renew", call: func(ctx context.Context, x *sub, d *driver, lockID, owner string, v int64) error {
			_, err := d.Renew(ctx, &backend.RenewRequest{LockID: lockID, ClientID: owner, Version: v, TTL: x.long()})
			return err
		}},
		{name: "Get", call: func(ctx context.Context, x *sub, d *driver, lockID, owner string, v int64) error {
			_, err := d.Get(ctx, &backend.GetRequest{LockID: lockID})
			return err
		}},
		{name: "List", call: func(ctx context.Context, x *sub, d *driver, lockID, owner string, v int64) error {
			_, err := d.List(ctx, &backend.ListRequest{Filter: backend.ListFilter{Pattern: x.pattern()}})
			return err
		}},
		{name: "Enqueue", queuer: true, call: func(ctx context.Context, x *sub, d *driver, lockID, owner string, v int64) error {
			_, err := d.queuer().Enqueue(ctx, &backend.EnqueueRequest{LockID: lockID, ClientID: x.clientID(), TTL: x.long()})
			return err
		}},
		{name: "CancelWait", queuer: true, call: func(ctx context.Context, x *sub, d *driver, lockID, owner string, v int64) error {
			return d.queuer().CancelWait(ctx, &backend.CancelWaitRequest{LockID: lockID, ClientID: owner})
		}},
	}
}

// run holds a lock through a driver, closes it, makes the call, and checks
// that it failed with ErrClientClosed and that the lock is untouched.
func (cc closedCall) run(x *sub) {
	if cc.queuer {
		x.needQueuer()
	}
	a, other := x.client(), x.driver()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	before := other.state(id)
	if err := a.close(); err != nil {
		x.Errorf("Close: %v", err)
	}
	ctx, cancel := x.opCtx()
	defer cancel()
	_, err := guard(x, cc.name, func() (struct{}, error) {
		return struct{}{}, cc.call(ctx, x, a.driver, id, a.id, g.Version)
	})
	x.wantErr(err, backend.ErrClientClosed, "%s after Close", cc.name)
	x.wantUnchanged(other, id, before, cc.name+" after Close")
}

func closedWakesWaiter(x *sub) {
	x.needServerSideWait()
	a, w := x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	p := x.queueBehind(a, w, id)
	if err := w.close(); err != nil {
		x.Errorf("Close: %v", err)
	}
	_, err := p.wait()
	x.wantErr(err, backend.ErrClientClosed, "Acquire with Wait blocked in a driver that closed")
	if ids := x.waiterIDs(a.driver, id); slices.Contains(ids, w.id) {
		x.Errorf("waiter woken by Close is still queued: %v", ids)
	}
	a.mustRelease(id, g.Version)
	x.wantFree(a.driver, id, "after Release, with only a closed driver's waiter")
}

// The waiter's driver closes while the holder releases. Either the waiter
// was granted the lock first (and, closed, holds it until it expires), or
// its call failed with ErrClientClosed and the lock is free for a fresh
// client at once: a grant nobody will learn of is handed on, not orphaned.
func closedRacingRelease(x *sub) {
	x.needServerSideWait()
	a, c := x.client(), x.client()
	outcomes := map[bool]int{}
	for i := range raceRounds {
		id := x.id("r" + itoa(i))
		w := x.client()
		g := a.mustAcquire(id, x.long())
		p := x.queueBehind(a, w, id)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if _, err := a.release(id, g.Version); err != nil {
				x.Errorf("round %d: Release: %v", i, err)
			}
		}()
		time.Sleep(time.Duration(i%5) * 50 * time.Microsecond)
		if err := w.close(); err != nil {
			x.Errorf("Close: %v", err)
		}
		<-done
		gw, err := p.wait()
		outcomes[err == nil]++
		x.checkGiveUpOutcome(c, id, w.id, gw, err, backend.ErrClientClosed, i)
	}
	x.Logf("waiter was granted the lock %d times, woken by Close %d times", outcomes[true], outcomes[false])
}

// Close does not release: to the others, a closed process and a crashed one
// look the same. The lock stays held until its lease runs out, then the
// others can take it.
func closedKeepsLocks(x *sub) {
	a, b := x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.short())
	if err := a.close(); err != nil {
		x.Errorf("Close: %v", err)
	}
	held, owner, v, err := b.heldAt(id)
	x.noErr(err, "Get after the holder's driver closed")
	checked := time.Now()
	if checked.Before(g.safeUntil()) && (!held || owner != a.id || v != g.Version) {
		x.Errorf("closing the holder's driver released the lock: held %v by %q at version %d", held, owner, v)
	}
	x.waitExpired(b.driver, id, g)
	gb := b.mustAcquire(id, x.long())
	if gb.Version <= g.Version {
		x.Errorf("grant after the closed holder's lease ran out has version %d, not above %d", gb.Version, g.Version)
	}
}

func closedOthersUnaffected(x *sub) {
	a, b := x.client(), x.client()
	id := x.id("a")
	if err := a.close(); err != nil {
		x.Errorf("Close: %v", err)
	}
	g := b.mustAcquire(id, x.long())
	if _, err := b.renew(id, g.Version, x.long()); err != nil {
		x.Errorf("Renew through an open driver after another closed: %v", err)
	}
	b.mustRelease(id, g.Version)
	// A new driver opened after one closed works too.
	c := x.client()
	c.mustRelease(id, c.mustAcquire(id, x.long()).Version)
}
