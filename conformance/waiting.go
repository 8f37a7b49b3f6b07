package conformance

import (
	"slices"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// waitingTests check Acquire with Wait (promise 5) and the explicit queue
// of backend.Queuer.
func waitingTests() []test {
	return []test{
		{"FreeLockGrantedAtOnce", waitFreeLock},
		{"WithoutServerSideWaitFailsAtOnce", waitUnsupported},
		{"BlocksUntilRelease", waitBlocksUntilRelease},
		{"ReleaseHandsOffInSameStep", waitSameStep},
		{"HolderExpiryHandsOff", waitExpiryHandsOff},
		{"GrantedLeaseCountsFromGrant", waitLeaseFromGrant},
		{"WaitTimeoutFails", waitTimeout},
		{"WaitByHolderReturnsGrant", waitByHolder},
		{"GetReportsWaiters", waitGetReports},
		{"EveryWaiterServedOnce", waitChain},
		{"QueuerEnqueueFreeLockGrants", queuerEnqueueFree},
		{"QueuerEnqueueByHolderReturnsGrant", queuerEnqueueHolder},
		{"QueuerEnqueueReportsPosition", queuerPositions},
		{"QueuerQueuedClientCannotTakeLock", queuerQueuedAcquire},
		{"QueuerHeadGrantedOnRelease", queuerHeadGranted},
		{"QueuerWaitKeepsPlace", queuerWaitKeepsPlace},
		{"QueuerWaitTimeoutLeavesQueue", queuerWaitTimeout},
	}
}

func waitFreeLock(x *sub) {
	c := x.client()
	id := x.id("a")
	ctx, cancel := x.opCtx()
	defer cancel()
	g, err := c.acquireReq(ctx, backend.AcquireRequest{LockID: id, TTL: x.long(), Wait: true})
	x.noErr(err, "Acquire with Wait of a free lock")
	if g.Waited {
		x.Errorf("Acquire with Wait of a free lock reports Waited")
	}
	x.wantHeldBy(c.driver, id, c.id, g.Version, "after Acquire with Wait")
}

// A store without server-side waiting answers a Wait on a held lock at once
// with CodeLockHeld, and keeps no waiter.
func waitUnsupported(x *sub) {
	if x.caps().ServerSideWait {
		x.Skip("store declares ServerSideWait; this checks stores that do not")
	}
	a, b := x.client(), x.client()
	id := x.id("a")
	a.mustAcquire(id, x.long())
	before := a.state(id)
	ctx, cancel := x.opCtx()
	defer cancel()
	_, err := b.acquireReq(ctx, backend.AcquireRequest{LockID: id, TTL: x.long(), Wait: true})
	x.wantErr(err, backend.ErrLockHeld, "Acquire with Wait on a store without ServerSideWait")
	x.wantUnchanged(a.driver, id, before, "Acquire with Wait on a store without ServerSideWait")
}

func waitBlocksUntilRelease(x *sub) {
	x.needServerSideWait()
	a, w := x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	p := x.queueBehind(a, w, id)
	time.Sleep(x.pollInterval())
	p.mustBlock("while the holder holds the lock")
	res := a.mustRelease(id, g.Version)
	if res.NextOwner != w.id {
		x.Errorf("Release with one waiter reports NextOwner %q, want %q", res.NextOwner, w.id)
	}
	gw, err := p.wait()
	x.noErr(err, "waiter's Acquire after Release")
	if !gw.Waited || gw.AlreadyHeld {
		x.Errorf("grant out of the queue reports Waited %v, AlreadyHeld %v; want Waited only", gw.Waited, gw.AlreadyHeld)
	}
	if gw.Version <= g.Version {
		x.Errorf("waiter granted version %d, not above the released %d", gw.Version, g.Version)
	}
	x.wantHeldBy(a.driver, id, w.id, gw.Version, "after hand-off")
}

// Release hands the lock on in the same step: once Release has returned,
// the lock already belongs to the waiter and nobody can slip in between.
func waitSameStep(x *sub) {
	x.needServerSideWait()
	a, w, c := x.client(), x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	p := x.queueBehind(a, w, id)
	a.mustRelease(id, g.Version)
	_, err := c.acquire(id, x.long())
	x.wantErr(err, backend.ErrLockHeld, "third client's Acquire right after a Release with a waiter")
	info, err := c.get(id, true)
	x.noErr(err, "Get right after Release")
	if !info.Held || info.Owner != w.id {
		x.Errorf("right after Release the lock is held %v by %q, want held by the waiter %q", info.Held, info.Owner, w.id)
	}
	gw, err := p.wait()
	x.noErr(err, "waiter's Acquire")
	if info.Version != gw.Version {
		x.Errorf("Get saw version %d, the waiter was granted %d", info.Version, gw.Version)
	}
}

// When the holder's lease runs out, the head waiter gets the lock: not
// before the holder's TTL, and within TTL plus the grace.
func waitExpiryHandsOff(x *sub) {
	x.needServerSideWait()
	a, w := x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.short())
	p := w.start(backend.AcquireRequest{LockID: id, TTL: x.long(), Wait: true})
	gw, err := p.wait()
	x.noErr(err, "waiter's Acquire while the holder's lease runs out")
	if gw.Recv.Before(g.safeUntil()) {
		x.Fatalf("waiter was granted the lock %v after the holder sent its Acquire with TTL %v: expired early",
			gw.Recv.Sub(g.Sent), g.TTL)
	}
	if limit := g.Recv.Add(g.TTL + x.grace()); gw.Recv.After(limit) {
		x.Errorf("waiter was granted the lock %v after the holder's lease of %v was granted (grace %v)",
			gw.Recv.Sub(g.Recv), g.TTL, x.grace())
	}
	if gw.Version <= g.Version {
		x.Errorf("waiter granted version %d, not above the expired %d", gw.Version, g.Version)
	}
	_, err = a.renew(id, g.Version, x.long())
	x.wantErr(err, backend.ErrNotLockOwner, "expired holder's Renew after hand-off")
}

// A waiter's TTL counts from the moment it is granted the lock, not from
// when it asked: a waiter that queued for longer than its TTL still gets a
// full lease.
func waitLeaseFromGrant(x *sub) {
	x.needServerSideWait()
	a, w, other := x.client(), x.client(), x.driver()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	p := w.start(backend.AcquireRequest{LockID: id, TTL: x.short(), Wait: true})
	x.waitQueued(other, id, w.id)
	time.Sleep(2 * x.short())
	released := time.Now()
	a.mustRelease(id, g.Version)
	gw, err := p.wait()
	x.noErr(err, "waiter's Acquire")
	// The grant was made after the Release was sent: count from there.
	gw.Sent = released
	x.waitExpired(other, id, gw)
}

func waitTimeout(x *sub) {
	x.needServerSideWait()
	a, w := x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	wt := x.short()
	p := w.start(backend.AcquireRequest{LockID: id, TTL: x.long(), Wait: true, WaitTimeout: wt})
	gw, err := p.wait()
	x.wantErr(err, backend.ErrTimeout, "Acquire with a WaitTimeout on a held lock")
	if gw.Recv.Before(gw.Sent.Add(wt)) {
		x.Errorf("Acquire with WaitTimeout %v timed out after %v", wt, gw.Recv.Sub(gw.Sent))
	}
	if ids := x.waiterIDs(a.driver, id); slices.Contains(ids, w.id) {
		x.Errorf("timed-out waiter is still queued: %v", ids)
	}
	a.mustRelease(id, g.Version)
	x.wantFree(a.driver, id, "after Release, with only a timed-out waiter")
}

func waitByHolder(x *sub) {
	x.needServerSideWait()
	a := x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	ctx, cancel := x.opCtx()
	defer cancel()
	g2, err := a.acquireReq(ctx, backend.AcquireRequest{LockID: id, TTL: x.long(), Wait: true})
	x.noErr(err, "Acquire with Wait by the holder")
	if g2.Version != g.Version {
		x.Errorf("Acquire with Wait by the holder got version %d, want the current %d", g2.Version, g.Version)
	}
	if !g2.AlreadyHeld {
		x.Errorf("Acquire with Wait by the holder does not report AlreadyHeld")
	}
	if ids := x.waiterIDs(a.driver, id); len(ids) != 0 {
		x.Errorf("the holder queued behind itself: %v", ids)
	}
}

func waitGetReports(x *sub) {
	x.needServerSideWait()
	a, w1, w2 := x.client(), x.client(), x.client()
	id := x.id("a")
	a.mustAcquire(id, x.long())
	w1.start(backend.AcquireRequest{LockID: id, TTL: x.long(), Wait: true})
	x.waitQueued(a.driver, id, w1.id)
	w2.start(backend.AcquireRequest{LockID: id, TTL: x.long(), Wait: true})
	x.waitQueued(a.driver, id, w2.id)
	info, err := a.get(id, true)
	x.noErr(err, "Get with waiters")
	if info.WaiterCount != 2 || len(info.Waiters) != 2 {
		x.Errorf("Get with waiters: WaiterCount %d, %d waiters listed, want 2 and 2", info.WaiterCount, len(info.Waiters))
	}
	ids := x.waiterIDs(a.driver, id)
	if !slices.Contains(ids, w1.id) || !slices.Contains(ids, w2.id) {
		x.Errorf("queue is %v, want %s and %s", ids, w1.id, w2.id)
	}
	info, err = a.get(id, false)
	x.noErr(err, "Get without waiters")
	if info.WaiterCount != 2 {
		x.Errorf("Get without waiters: WaiterCount %d, want 2", info.WaiterCount)
	}
	if len(info.Waiters) != 0 {
		x.Errorf("Get without IncludeWaiters lists waiters: %+v", info.Waiters)
	}
}

// Several waiters: each release serves exactly one of them, and every one
// is served exactly once, with growing versions.
func waitChain(x *sub) {
	x.needServerSideWait()
	a := x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	ws := make([]*client, 4)
	ps := make([]*pending, len(ws))
	for i := range ws {
		ws[i] = x.client()
		ps[i] = ws[i].start(backend.AcquireRequest{LockID: id, TTL: x.long(), Wait: true})
		x.waitQueued(a.driver, id, ws[i].id)
	}
	holder, version := a, g.Version
	served := map[int]bool{}
	for range ws {
		holder.mustRelease(id, version)
		got := -1
		x.eventually("a waiter being granted the lock", func() bool {
			for i, p := range ps {
				if !served[i] && p.returned() {
					got = i
					return true
				}
			}
			return false
		})
		gw, err := ps[got].wait()
		x.noErr(err, "waiter %d", got)
		if gw.Version <= version {
			x.Errorf("hand-off granted version %d after version %d", gw.Version, version)
		}
		served[got] = true
		for i, p := range ps {
			if !served[i] && p.returned() {
				x.Errorf("one Release woke two waiters (%d and %d)", got, i)
				served[i] = true
			}
		}
		holder, version = ws[got], gw.Version
	}
	holder.mustRelease(id, version)
	x.wantFree(a.driver, id, "after every waiter was served")
}

func queuerEnqueueFree(x *sub) {
	x.needQueuer()
	c := x.client()
	id := x.id("a")
	res, err := c.enqueue(backend.EnqueueRequest{LockID: id, TTL: x.long()})
	x.noErr(err, "Enqueue on a free lock")
	if !res.Granted || res.Lock.Owner != c.id || res.Lock.LockID != id || res.Lock.Version <= 0 {
		x.Fatalf("Enqueue on a free lock = %+v, want granted to %s with a positive version", *res, c.id)
	}
	x.wantHeldBy(c.driver, id, c.id, res.Lock.Version, "after Enqueue on a free lock")
	g, err := c.acquire(id, x.long())
	x.noErr(err, "Acquire by the client Enqueue granted the lock to")
	if g.Version != res.Lock.Version {
		x.Errorf("Acquire after Enqueue's grant got version %d, want %d", g.Version, res.Lock.Version)
	}
}

func queuerEnqueueHolder(x *sub) {
	x.needQueuer()
	c := x.client()
	id := x.id("a")
	g := c.mustAcquire(id, x.long())
	before := c.state(id)
	res, err := c.enqueue(backend.EnqueueRequest{LockID: id, TTL: x.long()})
	x.noErr(err, "Enqueue by the holder")
	if !res.Granted || res.Lock.Version != g.Version || res.Lock.Owner != c.id {
		x.Errorf("Enqueue by the holder = %+v, want Granted with the current grant (version %d)", *res, g.Version)
	}
	x.wantUnchanged(c.driver, id, before, "Enqueue by the holder")
}

func queuerPositions(x *sub) {
	x.needQueuer()
	a, b, c := x.client(), x.client(), x.client()
	id := x.id("a")
	a.mustAcquire(id, x.long())
	rb, err := b.enqueue(backend.EnqueueRequest{LockID: id, TTL: x.long(), WaitTimeout: time.Hour})
	x.noErr(err, "first Enqueue")
	rc, err := c.enqueue(backend.EnqueueRequest{LockID: id, TTL: x.long(), WaitTimeout: time.Hour})
	x.noErr(err, "second Enqueue")
	if rb.Granted || rc.Granted {
		x.Fatalf("Enqueue on a held lock granted it: %+v, %+v", *rb, *rc)
	}
	if x.caps().FIFO && (rb.Position != 0 || rc.Position != 1) {
		x.Errorf("Enqueue positions %d and %d, want 0 and 1", rb.Position, rc.Position)
	}
	before := a.state(id)
	again, err := b.enqueue(backend.EnqueueRequest{LockID: id, TTL: x.long(), WaitTimeout: time.Hour})
	x.noErr(err, "Enqueue by a client already queued")
	if again.Granted || again.Position != rb.Position {
		x.Errorf("Enqueue again = %+v, want its position %d and nothing else", *again, rb.Position)
	}
	x.wantUnchanged(a.driver, id, before, "Enqueue by a client already queued")
}

func queuerQueuedAcquire(x *sub) {
	x.needQueuer()
	a, b := x.client(), x.client()
	id := x.id("a")
	a.mustAcquire(id, x.long())
	_, err := b.enqueue(backend.EnqueueRequest{LockID: id, TTL: x.long(), WaitTimeout: time.Hour})
	x.noErr(err, "Enqueue")
	before := a.state(id)
	_, err = b.acquire(id, x.long())
	x.wantErr(err, backend.ErrLockHeld, "Acquire without Wait by a queued client")
	x.wantUnchanged(a.driver, id, before, "Acquire without Wait by a queued client")
}

func queuerHeadGranted(x *sub) {
	x.needQueuer()
	a, b := x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	_, err := b.enqueue(backend.EnqueueRequest{LockID: id, TTL: x.long(), WaitTimeout: time.Hour})
	x.noErr(err, "Enqueue")
	res := a.mustRelease(id, g.Version)
	if res.NextOwner != b.id {
		x.Errorf("Release with an enqueued waiter reports NextOwner %q, want %q", res.NextOwner, b.id)
	}
	info, err := a.get(id, true)
	x.noErr(err, "Get after hand-off to an enqueued waiter")
	if !info.Held || info.Owner != b.id || info.Version <= g.Version {
		x.Fatalf("after Release the lock is held %v by %q at version %d, want held by %q above version %d",
			info.Held, info.Owner, info.Version, b.id, g.Version)
	}
	gb, err := b.acquire(id, x.long())
	x.noErr(err, "Acquire by the enqueued client the lock was handed to")
	if gb.Version != info.Version {
		x.Errorf("Acquire returned version %d, the grant made from the queue is %d", gb.Version, info.Version)
	}
	b.mustRelease(id, gb.Version)
	x.wantFree(a.driver, id, "after the enqueued client released")
}

// A queued client that then calls Acquire with Wait keeps its place: it is
// not moved behind clients that queued after it, nor ahead of those before.
func queuerWaitKeepsPlace(x *sub) {
	x.needQueuer()
	x.needFIFO()
	a, b, c := x.client(), x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	for _, q := range []*client{b, c} {
		_, err := q.enqueue(backend.EnqueueRequest{LockID: id, TTL: x.long(), WaitTimeout: time.Hour})
		x.noErr(err, "Enqueue")
	}
	pc := c.start(backend.AcquireRequest{LockID: id, TTL: x.long(), Wait: true})
	time.Sleep(x.pollInterval())
	if ids := x.waiterIDs(a.driver, id); !slices.Equal(ids, []string{b.id, c.id}) {
		x.Errorf("after the second client's Acquire with Wait the queue is %v, want [%s %s]", ids, b.id, c.id)
	}
	a.mustRelease(id, g.Version)
	info, err := a.get(id, false)
	x.noErr(err, "Get after Release")
	if info.Owner != b.id {
		x.Fatalf("lock handed to %q, want the head of the queue %q", info.Owner, b.id)
	}
	pc.mustBlock("while the head of the queue holds the lock")
	b.mustRelease(id, info.Version)
	gc, err := pc.wait()
	x.noErr(err, "Acquire with Wait by the second in the queue")
	if gc.Version <= info.Version {
		x.Errorf("second waiter granted version %d after %d", gc.Version, info.Version)
	}
}

func queuerWaitTimeout(x *sub) {
	x.needQueuer()
	a, b := x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	wt := x.short()
	sent := time.Now()
	_, err := b.enqueue(backend.EnqueueRequest{LockID: id, TTL: x.long(), WaitTimeout: wt})
	x.noErr(err, "Enqueue with a WaitTimeout")
	x.eventually("the enqueued waiter leaving the queue after its WaitTimeout", func() bool {
		ids := x.waiterIDs(a.driver, id)
		if slices.Contains(ids, b.id) {
			return false
		}
		if now := time.Now(); now.Before(sent.Add(wt)) {
			x.Fatalf("the enqueued waiter left the queue %v after Enqueue, before its WaitTimeout %v", now.Sub(sent), wt)
		}
		return true
	})
	a.mustRelease(id, g.Version)
	x.wantFree(a.driver, id, "after Release, with only a timed-out enqueued waiter")
}
