package conformance

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftlock/raftlock"
)

// clientTests check the client layer that most users hold a lock through
// (LockHandle, AutoRenewer, RunWithLock, Election) on the store under
// test: the promises of the client-side lease hold end to end, whatever the
// store's clock, latency and way of waiting.
func clientTests() []test {
	return []test{
		{"HandleHoldsAndReleases", handleHoldsAndReleases},
		{"HandleLostBeforeAnotherHolds", handleLostBeforeAnotherHolds},
		{"RenewerOutlivesTTL", renewerOutlivesTTL},
		{"RunWithLockExcludes", runWithLockExcludes},
		{"ElectionResignHandsOver", electionResignHandsOver},
		{"ElectionFailoverAfterLeaderDies", electionFailover},
	}
}

// rlClient returns a raftlock client on a new driver of the store. The
// suite closes the driver; the client has nothing else to close.
func (x *sub) rlClient() *raftlock.Client {
	x.Helper()
	c, err := raftlock.NewClient(x.driver().Driver, raftlock.DefaultConfig())
	if err != nil {
		x.Fatalf("raftlock.NewClient: %v", err)
	}
	return c
}

// keptTTL is the lease of the tests that keep a lock alive by renewing
// it: three short TTLs, so that one slow renewal on a loaded machine does
// not lose a lease that only a renewal every third of it keeps.
func (x *sub) keptTTL() time.Duration { return 3 * x.short() }

func (x *sub) handle(c *raftlock.Client, lockID string) *raftlock.LockHandle {
	x.Helper()
	h, err := raftlock.NewLockHandle(c, lockID, x.clientID())
	if err != nil {
		x.Fatalf("NewLockHandle: %v", err)
	}
	return h
}

func handleHoldsAndReleases(x *sub) {
	id := x.id("a")
	a, b := x.handle(x.rlClient(), id), x.handle(x.rlClient(), id)
	ctx, cancel := x.opCtx()
	defer cancel()
	x.noErr(a.Acquire(ctx, x.long(), false), "LockHandle.Acquire")
	if !a.IsHeld() || a.Token() <= 0 || a.RemainingLease() <= 0 || a.Lock() == nil {
		x.Fatalf("after Acquire: IsHeld %v, Token %d, RemainingLease %v", a.IsHeld(), a.Token(), a.RemainingLease())
	}
	x.wantErr(b.Acquire(ctx, x.long(), false), raftlock.ErrLockHeld, "second handle's Acquire")
	x.noErr(a.Renew(ctx, x.long()), "LockHandle.Renew")
	token := a.Token()
	x.noErr(a.Release(ctx), "LockHandle.Release")
	if a.IsHeld() {
		x.Errorf("IsHeld after Release")
	}
	select {
	case <-a.Lost():
	default:
		x.Errorf("Lost still open after Release")
	}
	x.noErr(b.Acquire(ctx, x.long(), false), "second handle's Acquire after the release")
	if b.Token() <= token {
		x.Errorf("token %d after %d: not greater", b.Token(), token)
	}
	x.noErr(b.Close(ctx), "LockHandle.Close")
}

// A lease nobody renews: the handle gives it up (Lost, IsHeld false)
// before any other client can be granted the lock.
func handleLostBeforeAnotherHolds(x *sub) {
	id := x.id("a")
	a, b := x.handle(x.rlClient(), id), x.handle(x.rlClient(), id)
	ctx, cancel := context.WithTimeout(context.Background(), x.short()+x.grace()+2*x.patience())
	defer cancel()
	x.noErr(a.Acquire(ctx, x.short(), false), "Acquire")
	lost := a.Lost()
	granted := make(chan time.Time, 1)
	go func() {
		err := b.Acquire(ctx, x.long(), true)
		if err != nil {
			x.Errorf("the second handle never got the expired lock: %v", err)
		}
		granted <- time.Now()
	}()
	var lostAt time.Time
	select {
	case <-lost:
		lostAt = time.Now()
	case <-ctx.Done():
		x.Fatalf("Lost never closed")
	}
	grantedAt := <-granted
	if !lostAt.Before(grantedAt) {
		x.Errorf("another client was granted the lock at %v, before the holder's lease was given up at %v", grantedAt, lostAt)
	}
	if a.IsHeld() {
		x.Errorf("IsHeld after Lost closed")
	}
	_ = b.Release(ctx)
}

func renewerOutlivesTTL(x *sub) {
	id := x.id("a")
	ttl := x.keptTTL()
	a := x.handle(x.rlClient(), id)
	other := x.client()
	ctx, cancel := context.WithTimeout(context.Background(), 3*ttl+x.patience())
	defer cancel()
	x.noErr(a.Acquire(ctx, ttl, false), "Acquire")
	r, err := raftlock.NewAutoRenewer(a, ttl/3, ttl)
	x.noErr(err, "NewAutoRenewer")
	jobCtx, err := r.Start(ctx)
	x.noErr(err, "AutoRenewer.Start")
	time.Sleep(2 * ttl)
	if !a.IsHeld() || jobCtx.Err() != nil || r.Err() != nil {
		x.Fatalf("after 2 TTLs: IsHeld %v, job context %v, Err %v", a.IsHeld(), jobCtx.Err(), r.Err())
	}
	_, err = other.acquire(id, x.long())
	x.wantErr(err, raftlock.ErrLockHeld, "another client's Acquire while the renewer runs")
	r.Stop()
	if r.Err() != nil || jobCtx.Err() == nil {
		x.Errorf("after Stop: Err %v, job context %v", r.Err(), jobCtx.Err())
	}
	x.noErr(a.Release(ctx), "Release")
}

func runWithLockExcludes(x *sub) {
	id := x.id("a")
	const runners = 3
	var inside, overlaps, ran atomic.Int32
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), runners*x.patience())
	defer cancel()
	for range runners {
		c := x.rlClient()
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := raftlock.RunWithLock(ctx, c, id, x.long(), func(context.Context) error {
				if inside.Add(1) > 1 {
					overlaps.Add(1)
				}
				time.Sleep(20 * time.Millisecond)
				inside.Add(-1)
				ran.Add(1)
				return nil
			})
			x.noErr(err, "RunWithLock")
		}()
	}
	wg.Wait()
	if overlaps.Load() != 0 || ran.Load() != runners {
		x.Errorf("%d of %d runs, %d overlapping", ran.Load(), runners, overlaps.Load())
	}
	x.wantFree(x.driver(), id, "after every RunWithLock returned")
}

func (x *sub) election(c *raftlock.Client, opts ...raftlock.ElectionOption) *raftlock.Election {
	x.Helper()
	e, err := raftlock.NewElection(c, "conformance", x.id("election"), x.keptTTL(),
		append([]raftlock.ElectionOption{raftlock.WithClientID(x.clientID())}, opts...)...)
	if err != nil {
		x.Fatalf("NewElection: %v", err)
	}
	x.Cleanup(func() { _ = e.Close() })
	return e
}

// campaign runs b.Campaign in the background and returns when it won.
func (x *sub) campaign(ctx context.Context, e *raftlock.Election) <-chan time.Time {
	won := make(chan time.Time, 1)
	go func() {
		for {
			err := e.Campaign(ctx)
			if errors.Is(err, raftlock.ErrTimeout) && ctx.Err() == nil {
				continue // the store's wait timeout: campaign again
			}
			if err != nil {
				x.Errorf("Campaign: %v", err)
				close(won)
				return
			}
			won <- time.Now()
			return
		}
	}()
	return won
}

func electionResignHandsOver(x *sub) {
	a, b := x.election(x.rlClient()), x.election(x.rlClient())
	ctx, cancel := context.WithTimeout(context.Background(), 2*x.patience())
	defer cancel()
	x.noErr(a.Campaign(ctx), "Campaign")
	x.noErr(a.StartKeepAlive(ctx), "StartKeepAlive")
	token := a.Token()
	won := x.campaign(ctx, b)
	time.Sleep(x.short() / 4) // let b queue (or poll)
	if b.IsLeader() {
		x.Fatalf("two leaders")
	}
	x.noErr(a.Resign(ctx), "Resign")
	select {
	case _, ok := <-won:
		if !ok {
			return
		}
	case <-ctx.Done():
		x.Fatalf("no new leader after the leader resigned")
	}
	if !b.IsLeader() || a.IsLeader() || b.Token() <= token {
		x.Errorf("after the hand-over: a leads %v, b leads %v, token %d after %d", a.IsLeader(), b.IsLeader(), b.Token(), token)
	}
	if id, err := a.Leader(ctx); err != nil || id != b.ClientID() {
		x.Errorf("Leader = %q, %v; want %q", id, err, b.ClientID())
	}
}

// The leader's process dies (its keep-alive stops, nothing is released):
// a waiting candidate leads within TTL plus the store's grace, and never
// before the old leader has stopped believing it leads.
func electionFailover(x *sub) {
	a, b := x.election(x.rlClient()), x.election(x.rlClient())
	ctx, cancel := context.WithTimeout(context.Background(), 2*x.keptTTL()+x.grace()+2*x.patience())
	defer cancel()
	x.noErr(a.Campaign(ctx), "Campaign")
	x.noErr(a.StartKeepAlive(ctx), "StartKeepAlive")
	lost := a.Lost()
	won := x.campaign(ctx, b)
	time.Sleep(x.short()) // a few renewals
	if !a.IsLeader() || b.IsLeader() {
		x.Fatalf("before the death: a leads %v, b leads %v", a.IsLeader(), b.IsLeader())
	}
	a.StopKeepAlive()
	var wonAt time.Time
	select {
	case t, ok := <-won:
		if !ok {
			return
		}
		wonAt = t
	case <-ctx.Done():
		x.Fatalf("no new leader after the leader died")
	}
	select {
	case <-lost:
	default:
		x.Fatalf("b leads while a still believes it leads")
	}
	if a.IsLeader() || !b.IsLeader() {
		x.Errorf("a leads %v, b leads %v at %v", a.IsLeader(), b.IsLeader(), wonAt)
	}
}
