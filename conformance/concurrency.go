package conformance

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// concurrencyTests run many clients against few locks and check, through a
// FencedResource, that no two holders ever overlap and that fencing tokens
// only grow (promises 1–3).
func concurrencyTests() []test {
	return []test{
		{"ExactlyOneWinner", concOneWinner},
		{"SameClientConcurrentAcquire", concSameClient},
		{"DistinctLocksInParallel", concDistinct},
		{"MutualExclusionTryAcquire", func(x *sub) { x.stress(stressConfig{}) }},
		{"MutualExclusionWait", func(x *sub) {
			x.needServerSideWait()
			x.stress(stressConfig{wait: true})
		}},
		{"MutualExclusionWithExpiry", func(x *sub) { x.stress(stressConfig{wait: x.caps().ServerSideWait, abandon: true}) }},
		{"HandOffChain", concHandOffChain},
	}
}

const (
	stressDrivers   = 16 // simulated client processes
	stressPerDriver = 2  // holders (client IDs) per process
	stressLocks     = 3
)

// leaseMargin is the safety margin of promise 3 used by the stress
// clients: the holders share one clock, so it only has to cover the rate
// difference between that clock and the store's, which is tiny.
func leaseMargin(ttl time.Duration) time.Duration { return ttl / 50 }

// drivers opens n drivers up front, so that no goroutine has to.
func (x *sub) drivers(n int) []*driver {
	x.Helper()
	ds := make([]*driver, n)
	for i := range ds {
		ds[i] = x.driver()
	}
	return ds
}

// Many clients try for one free lock at the same moment: exactly one wins
// and every other gets ErrLockHeld naming the winner (when the store says).
func concOneWinner(x *sub) {
	ds := x.drivers(stressDrivers)
	cs := make([]*client, len(ds))
	for i, d := range ds {
		cs[i] = x.clientOn(d)
	}
	for round := range 5 {
		id := x.id("r" + itoa(round))
		start := make(chan struct{})
		errs := make([]error, len(cs))
		grants := make([]grant, len(cs))
		var wg sync.WaitGroup
		for i, c := range cs {
			wg.Go(func() {
				<-start
				grants[i], errs[i] = c.acquire(id, x.long())
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			if err == nil {
				if winner >= 0 {
					x.Errorf("round %d: both %s and %s were granted the lock", round, cs[winner].id, cs[i].id)
				}
				winner = i
			}
		}
		if winner < 0 {
			x.Fatalf("round %d: nobody was granted a free lock: %v", round, errs)
		}
		for i, err := range errs {
			if i == winner {
				continue
			}
			if x.wantErr(err, backend.ErrLockHeld, "round %d: loser's Acquire", round) {
				var e *backend.Error
				if errors.As(err, &e) && e.Owner != "" && e.Owner != cs[winner].id {
					x.Errorf("round %d: ErrLockHeld names %q, the winner is %q", round, e.Owner, cs[winner].id)
				}
			}
		}
		x.wantHeldBy(ds[0], id, cs[winner].id, grants[winner].Version, "after the race")
	}
}

// Retries of one client's Acquire may arrive together, through different
// connections: they must all get the one grant.
func concSameClient(x *sub) {
	ds := x.drivers(8)
	owner := x.clientID()
	for round := range 5 {
		id := x.id("r" + itoa(round))
		start := make(chan struct{})
		grants := make([]grant, len(ds))
		errs := make([]error, len(ds))
		var wg sync.WaitGroup
		for i, d := range ds {
			c := &client{driver: d, id: owner}
			wg.Go(func() {
				<-start
				grants[i], errs[i] = c.acquire(id, x.long())
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				x.Errorf("round %d: Acquire %d by the same client ID: %v", round, i, err)
			} else if grants[i].Version != grants[0].Version {
				x.Errorf("round %d: the same client ID was granted versions %d and %d", round, grants[0].Version, grants[i].Version)
			}
		}
		x.wantHeldBy(ds[0], id, owner, grants[0].Version, "after concurrent Acquires by one client ID")
	}
}

// Clients working each on its own lock never see each other.
func concDistinct(x *sub) {
	ds := x.drivers(stressDrivers)
	parallelDo(len(ds), func(i int) {
		c := x.clientOn(ds[i])
		id := x.id("l" + itoa(i))
		var last int64
		for range 20 {
			g, err := c.acquire(id, x.long())
			if err != nil {
				x.Errorf("Acquire of an uncontested lock: %v", err)
				return
			}
			if g.Version <= last {
				x.Errorf("lock %s granted version %d after %d", id, g.Version, last)
			}
			last = g.Version
			if l, err := c.renew(id, g.Version, x.long()); err != nil || l.Version != g.Version {
				x.Errorf("Renew of an uncontested lock: %v", err)
			}
			if _, err := c.release(id, g.Version); err != nil {
				x.Errorf("Release of an uncontested lock: %v", err)
				return
			}
		}
	})
}

// stressConfig shapes a mutual-exclusion run.
type stressConfig struct {
	wait    bool // queue with Wait instead of trying and backing off
	abandon bool // now and then walk away without releasing, as a crashed process would
}

// stress runs stressDrivers × stressPerDriver clients against stressLocks
// locks for the run's StressDuration. Each client takes a lock, declares its
// local lease to a FencedResource, writes with its token, sometimes renews,
// and releases (or, with abandon, sometimes leaves the lock to expire).
func (x *sub) stress(cfg stressConfig) {
	ttl := x.short()
	margin := leaseMargin(ttl)
	ds := x.drivers(stressDrivers)
	res := NewFencedResource()
	ids := make([]string, stressLocks)
	for i := range ids {
		ids[i] = x.id("l" + itoa(i))
	}
	end := time.Now().Add(x.s.timing.StressDuration)
	var grants, refusals, abandoned, busy atomic.Int64
	parallelDo(stressDrivers*stressPerDriver, func(i int) {
		c := x.clientOn(ds[i%stressDrivers])
		rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
		for time.Now().Before(end) {
			id := ids[rng.IntN(len(ids))]
			ctx, cancel := x.opCtx()
			if cfg.wait {
				// A wait still queued when the run ends gives up then.
				ctx, cancel = context.WithDeadline(context.Background(), end)
			}
			g, err := c.acquireReq(ctx, backend.AcquireRequest{
				LockID: id, TTL: ttl, Wait: cfg.wait, WaitTimeout: 4 * ttl,
			})
			cancel()
			if err != nil {
				if errors.Is(err, backend.ErrLockHeld) || (cfg.wait && errors.Is(err, backend.ErrTimeout)) {
					time.Sleep(time.Duration(rng.IntN(1000)) * time.Microsecond)
					continue
				}
				if backend.CodeOf(err).Retryable() {
					// A store under load may refuse with a retryable error
					// (the etcd store does when a short lease would run out
					// before its request applies). That keeps every promise;
					// the progress check below catches a store that only
					// refuses.
					busy.Add(1)
					time.Sleep(time.Duration(1+rng.IntN(10)) * time.Millisecond)
					c = x.clientOn(c.driver)
					continue
				}
				x.Errorf("%s: Acquire: %v", c.id, err)
				return
			}
			grants.Add(1)
			sent, start := g.Sent, g.Recv
			if g.AlreadyHeld || !start.Before(sent.Add(ttl-margin)) {
				// An existing grant began before this request was sent, and
				// one out of the queue may have its local lease spent
				// already (promise 3): renew before trusting either.
				rs := time.Now()
				_, err := c.renew(id, g.Version, ttl)
				if err != nil {
					_, _ = c.release(id, g.Version) // best effort: the grant may be gone already
					c = x.clientOn(c.driver)
					continue
				}
				sent, start = rs, time.Now()
			}
			if err := res.Hold(id, c.id, g.Version, start, sent.Add(ttl-margin)); err != nil {
				x.Error(err)
			}
			for range 1 + rng.IntN(3) {
				if err := res.Write(id, c.id, g.Version); err != nil {
					refusals.Add(1) // a violation, if any, is recorded by res
				}
				time.Sleep(time.Duration(rng.IntN(300)) * time.Microsecond)
			}
			if rng.IntN(4) == 0 {
				rs := time.Now()
				_, err := c.renew(id, g.Version, ttl)
				rr := time.Now()
				switch {
				case err == nil:
					if err := res.Hold(id, c.id, g.Version, rr, rs.Add(ttl-margin)); err != nil {
						x.Error(err)
					}
					sent = rs
				case rr.Before(sent.Add(ttl)):
					x.Errorf("%s: Renew inside the lease failed: %v", c.id, err)
				}
			}
			if cfg.abandon && rng.IntN(5) == 0 {
				// The process crashes and comes back as a new client: an
				// Acquire under the old ID would return the abandoned grant,
				// whose lease did not start with that Acquire.
				abandoned.Add(1)
				c = x.clientOn(c.driver)
				continue
			}
			res.Drop(id, c.id, g.Version, time.Now())
			_, err = c.release(id, g.Version)
			if err != nil {
				if time.Now().Before(sent.Add(ttl)) {
					x.Errorf("%s: Release inside the lease failed: %v", c.id, err)
				}
				c = x.clientOn(c.driver)
			}
		}
	})
	res.Verify(x)
	x.Logf("%d grants, %d writes accepted, %d refused, %d leases abandoned, %d retryable refusals", grants.Load(), res.Writes(), refusals.Load(), abandoned.Load(), busy.Load())
	if grants.Load() < stressLocks {
		x.Errorf("only %d grants in %v across %d locks: the store made no progress", grants.Load(), x.s.timing.StressDuration, stressLocks)
	}
}

// Every client queues on one lock at once; each release hands it to exactly
// one of them, each gets it exactly once, and the tokens grow in grant order.
func concHandOffChain(x *sub) {
	x.needServerSideWait()
	ds := x.drivers(stressDrivers)
	a := x.client()
	id := x.id("a")
	g := a.mustAcquire(id, x.long())
	res := NewFencedResource()
	if err := res.Hold(id, a.id, g.Version, g.Recv, g.safeUntil()); err != nil {
		x.Error(err)
	}
	var served atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), x.patience()*2)
	defer cancel()
	var wg sync.WaitGroup
	for i := range ds {
		c := x.clientOn(ds[i])
		wg.Go(func() {
			g, err := c.acquireReq(ctx, backend.AcquireRequest{LockID: id, TTL: x.long(), Wait: true})
			if err != nil {
				x.Errorf("%s: Acquire with Wait: %v", c.id, err)
				return
			}
			served.Add(1)
			if err := res.Hold(id, c.id, g.Version, g.Recv, g.safeUntil()); err != nil {
				x.Error(err)
			}
			if err := res.Write(id, c.id, g.Version); err != nil {
				x.Errorf("%s: write refused: %v", c.id, err)
			}
			res.Drop(id, c.id, g.Version, time.Now())
			if _, err := c.release(id, g.Version); err != nil {
				x.Errorf("%s: Release: %v", c.id, err)
			}
		})
	}
	x.eventually("every client queueing", func() bool {
		info, err := a.get(id, false)
		return err == nil && info.WaiterCount == len(ds)
	})
	res.Drop(id, a.id, g.Version, time.Now())
	a.mustRelease(id, g.Version)
	wg.Wait()
	if n := served.Load(); n != int64(len(ds)) {
		x.Errorf("%d of %d waiters were served", n, len(ds))
	}
	res.Verify(x)
	x.wantFree(a.driver, id, "after every waiter was served")
}
