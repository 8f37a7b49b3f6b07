package conformance

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// cancelTests check that a waiter that gives up leaves no trace: no ghost in
// the queue, no grant that nobody will use or release (promise 5), and the
// explicit CancelWait of backend.Queuer.
func cancelTests() []test {
	return []test{
		{"CancelLeavesNoGhost", cancelNoGhost},
		{"CancelledWaiterIsNeverGranted", cancelNeverGranted},
		{"CancelledWaiterIsSkipped", cancelSkipped},
		{"DeadlineLeavesQueue", cancelDeadline},
		{"CancelRacingRelease", cancelRacingRelease},
		{"WaitTimeoutRacingRelease", cancelTimeoutRacingRelease},
		{"QueuerCancelWaitLeavesQueue", queuerCancelWait},
		{"QueuerCancelWaitWhenNotWaiting", queuerCancelWaitNotWaiting},
	}
}

func cancelNoGhost(x *sub) {
	x.needServerSideWait()
	a, w := x.client(), x.client()
	id := x.id("a")
	a.mustAcquire(id, x.long())
	p := x.queueBehind(a, w, id)
	p.cancel()
	_, err := p.wait()
	x.wantErr(err, backend.ErrCanceled, "Acquire with Wait after its context was cancelled")
	// The waiter leaves the queue before the call returns.
	if ids := x.waiterIDs(a.driver, id); len(ids) != 0 {
		x.Errorf("after the only waiter's call returned the queue is %v", ids)
	}
}

func cancelNeverGranted(x *sub) {
	x.needServerSideWait()
	a, w, c := x.client(), x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	p := x.queueBehind(a, w, id)
	p.cancel()
	_, err := p.wait()
	x.wantErr(err, backend.ErrCanceled, "cancelled waiter")
	res := a.mustRelease(id, g.Version)
	if res.NextOwner != "" {
		x.Errorf("Release handed the lock to %q although its only waiter had gone", res.NextOwner)
	}
	x.wantFree(a.driver, id, "after Release, with only a cancelled waiter")
	gc := c.mustAcquire(id, x.long())
	if gc.Version <= g.Version {
		x.Errorf("fresh grant has version %d, not above %d", gc.Version, g.Version)
	}
}

func cancelSkipped(x *sub) {
	x.needServerSideWait()
	a, w1, w2 := x.client(), x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	p1 := w1.start(backend.AcquireRequest{LockID: id, TTL: x.long(), Wait: true})
	x.waitQueued(a.driver, id, w1.id)
	p2 := w2.start(backend.AcquireRequest{LockID: id, TTL: x.long(), Wait: true})
	x.waitQueued(a.driver, id, w2.id)
	p1.cancel()
	_, err := p1.wait()
	x.wantErr(err, backend.ErrCanceled, "cancelled waiter")
	res := a.mustRelease(id, g.Version)
	if res.NextOwner != w2.id {
		x.Errorf("Release handed the lock to %q, want the remaining waiter %q", res.NextOwner, w2.id)
	}
	g2, err := p2.wait()
	x.noErr(err, "remaining waiter")
	x.wantHeldBy(a.driver, id, w2.id, g2.Version, "after the hand-off past a cancelled waiter")
}

// A context deadline ends the wait like a cancel does, with CodeTimeout.
func cancelDeadline(x *sub) {
	x.needServerSideWait()
	a, w := x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	ctx, cancel := context.WithTimeout(context.Background(), x.short())
	defer cancel()
	p := w.startCtx(ctx, backend.AcquireRequest{LockID: id, TTL: x.long(), Wait: true})
	_, err := p.wait()
	x.wantErr(err, backend.ErrTimeout, "Acquire with Wait past its context's deadline")
	if ids := x.waiterIDs(a.driver, id); slices.Contains(ids, w.id) {
		x.Errorf("waiter whose context ran out is still queued: %v", ids)
	}
	a.mustRelease(id, g.Version)
	x.wantFree(a.driver, id, "after Release, with only a timed-out waiter")
}

// raceRounds is how many times the racing tests try to hit the moment
// where a waiter gives up just as the lock is handed to it.
const raceRounds = 25

// The waiter gives up while the holder releases. Whichever wins, the
// outcome is clean: either the waiter holds the lock and its call says so,
// or its call failed and it holds nothing and waits for nothing, so that a
// fresh client gets the lock at once.
func cancelRacingRelease(x *sub) {
	x.needServerSideWait()
	a, w, c := x.client(), x.client(), x.client()
	outcomes := map[bool]int{}
	for i := range raceRounds {
		id := x.id("r" + itoa(i))
		g := a.mustAcquire(id, x.long())
		p := x.queueBehind(a, w, id)
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := a.release(id, g.Version); err != nil {
				x.Errorf("round %d: Release: %v", i, err)
			}
		})
		// Vary which side goes first.
		time.Sleep(time.Duration(i%5) * 50 * time.Microsecond)
		p.cancel()
		wg.Wait()
		gw, err := p.wait()
		outcomes[err == nil]++
		x.checkGiveUpOutcome(c, id, w.id, gw, err, backend.ErrCanceled, i)
	}
	x.Logf("waiter kept the lock %d times, gave up %d times", outcomes[true], outcomes[false])
}

// The same race with the wait ending by its WaitTimeout.
func cancelTimeoutRacingRelease(x *sub) {
	x.needServerSideWait()
	a, w, c := x.client(), x.client(), x.client()
	wt := 20 * time.Millisecond
	outcomes := map[bool]int{}
	for i := range raceRounds {
		id := x.id("r" + itoa(i))
		g := a.mustAcquire(id, x.long())
		p := w.start(backend.AcquireRequest{LockID: id, TTL: x.long(), Wait: true, WaitTimeout: wt})
		time.Sleep(wt - time.Duration(i%5)*time.Millisecond)
		if _, err := a.release(id, g.Version); err != nil {
			x.Errorf("round %d: Release: %v", i, err)
		}
		gw, err := p.wait()
		outcomes[err == nil]++
		x.checkGiveUpOutcome(c, id, w.id, gw, err, backend.ErrTimeout, i)
	}
	x.Logf("waiter got the lock %d times, timed out %d times", outcomes[true], outcomes[false])
}

// checkGiveUpOutcome checks the state after a waiter's call that may have
// given up (with want) or been granted.
func (x *sub) checkGiveUpOutcome(c *client, id, waiter string, gw grant, err, want error, round int) {
	x.Helper()
	if err == nil {
		x.wantHeldBy(c.driver, id, waiter, gw.Version, "round "+itoa(round)+": after the waiter's call succeeded")
		return
	}
	if !x.wantErr(err, want, "round %d: waiter's call", round) {
		return
	}
	info, gerr := c.get(id, true)
	if gerr == nil && ((info.Held && info.Owner == waiter) || slices.ContainsFunc(info.Waiters, func(w backend.Waiter) bool { return w.ClientID == waiter })) {
		x.Errorf("round %d: the waiter's call failed (%v) but the store shows it holding or queued: %+v", round, err, *info)
	}
	// The holder released and the waiter gave up: the lock is free now.
	g, aerr := c.acquire(id, x.long())
	if aerr != nil {
		x.Errorf("round %d: fresh client's Acquire after the waiter gave up: %v (orphaned grant?)", round, aerr)
		return
	}
	if _, rerr := c.release(id, g.Version); rerr != nil {
		x.Errorf("round %d: Release: %v", round, rerr)
	}
}

func queuerCancelWait(x *sub) {
	x.needQueuer()
	a, b := x.client(), x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	_, err := b.enqueue(backend.EnqueueRequest{LockID: id, TTL: x.long(), WaitTimeout: time.Hour})
	x.noErr(err, "Enqueue")
	x.noErr(b.cancelWait(id), "CancelWait by a queued client")
	if ids := x.waiterIDs(a.driver, id); len(ids) != 0 {
		x.Errorf("after CancelWait the queue is %v", ids)
	}
	x.wantErr(b.cancelWait(id), backend.ErrNotWaiting, "second CancelWait")
	res := a.mustRelease(id, g.Version)
	if res.NextOwner != "" {
		x.Errorf("Release handed the lock to %q after its waiter cancelled", res.NextOwner)
	}
	x.wantFree(a.driver, id, "after Release, with only a cancelled waiter")
}

// CancelWait by a client that is not queued fails with ErrNotWaiting, and it
// never releases a lock that client holds.
func queuerCancelWaitNotWaiting(x *sub) {
	x.needQueuer()
	a, b := x.client(), x.client()
	x.wantErr(b.cancelWait(x.id("never")), backend.ErrNotWaiting, "CancelWait on a lock never granted")
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	before := a.state(id)
	x.wantErr(b.cancelWait(id), backend.ErrNotWaiting, "CancelWait by a client not queued")
	x.wantErr(a.cancelWait(id), backend.ErrNotWaiting, "CancelWait by the holder")
	x.wantUnchanged(a.driver, id, before, "CancelWait by clients not queued")
	x.wantHeldBy(a.driver, id, a.id, g.Version, "after CancelWait by the holder")
}
