package raftbackend

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/conformance"
)

// testClient is the portable client over a gRPC driver to every node of c,
// with retries patient enough to ride out an election.
func testClient(t *testing.T, c *testCluster) *raftlock.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := Dial(ctx, c.endpoints(0))
	if err != nil {
		t.Fatal(err)
	}
	cfg := raftlock.DefaultConfig()
	cfg.RequestTimeout = 0
	cfg.RetryPolicy = raftlock.RetryPolicy{MaxRetries: 200, InitialBackoff: 20 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond, BackoffMultiplier: 2, JitterFactor: 0.2}
	cl, err := raftlock.NewClient(d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

type grant struct {
	res *raftlock.AcquireResult
	err error
	at  time.Time
}

// TestFailoverKeepsLeasesQueuesAndTokens stops the leader of a 3-node
// cluster while one client holds a lock and two wait for it. The lock must
// stay held until its holder's own deadline, then go to the waiters in
// their order, with growing tokens, and no two holders may overlap.
func TestFailoverKeepsLeasesQueuesAndTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-node cluster in -short mode")
	}
	c := startCluster(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := conformance.NewFencedResource()
	const lockID, ttl = "failover/lock", 3 * time.Second

	alice, bob, carol := testClient(t, c), testClient(t, c), testClient(t, c)
	aSent := time.Now()
	a, err := alice.Acquire(ctx, &raftlock.AcquireRequest{LockID: lockID, ClientID: "alice", TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Hold(lockID, "alice", a.Version, aSent, a.Deadline); err != nil {
		t.Fatal(err)
	}

	wait := func(cl *raftlock.Client, who string) <-chan grant {
		ch := make(chan grant, 1)
		go func() {
			r, err := cl.Acquire(ctx, &raftlock.AcquireRequest{LockID: lockID, ClientID: who, TTL: ttl,
				Wait: true, WaitTimeout: 30 * time.Second})
			g := grant{res: r, err: err, at: time.Now()}
			if err == nil {
				// A grant out of the queue was made after the request
				// was sent: renew it to get a lease the holder can count.
				sent := time.Now()
				rr, err := cl.Renew(ctx, &raftlock.RenewRequest{LockID: lockID, ClientID: who, Version: r.Version, TTL: ttl})
				if err == nil {
					err = res.Hold(lockID, who, r.Version, sent, rr.Deadline)
				}
				g.err = err
			}
			ch <- g
		}()
		return ch
	}
	waitQueue := func(n int) {
		t.Helper()
		for {
			info, err := alice.GetLockInfo(ctx, &raftlock.GetLockInfoRequest{LockID: lockID})
			if err == nil && info.WaiterCount == n {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("queue never reached %d: %v", n, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	bobCh := wait(bob, "bob")
	waitQueue(1)
	carolCh := wait(carol, "carol")
	waitQueue(2)

	old := c.leader()
	c.nodes[old].Kill()
	c.nodes[old] = nil
	killedAt := time.Now()
	c.leader()
	t.Logf("new leader serving %v after the kill", time.Since(killedAt).Round(time.Millisecond))

	// Alice still holds the lock, at the same version, until her deadline.
	info, err := alice.GetLockInfo(ctx, &raftlock.GetLockInfoRequest{LockID: lockID, IncludeWaiters: true})
	if err != nil {
		t.Fatal(err)
	}
	if info.Owner != "alice" || info.Version != a.Version || len(info.Waiters) != 2 ||
		info.Waiters[0].ClientID != "bob" || info.Waiters[1].ClientID != "carol" {
		t.Fatalf("after failover: %+v", info)
	}

	b := <-bobCh
	if b.err != nil {
		t.Fatalf("bob: %v", b.err)
	}
	if b.at.Before(aSent.Add(ttl)) {
		t.Fatalf("bob was granted %v before alice's lease could end", aSent.Add(ttl).Sub(b.at))
	}
	if b.res.Version <= a.Version {
		t.Fatalf("tokens went %d then %d", a.Version, b.res.Version)
	}
	select {
	case g := <-carolCh:
		t.Fatalf("carol was served before bob released: %+v", g)
	default:
	}
	res.Drop(lockID, "bob", b.res.Version, time.Now())
	if _, err := bob.Release(ctx, &raftlock.ReleaseRequest{LockID: lockID, ClientID: "bob", Version: b.res.Version}); err != nil {
		t.Fatal(err)
	}
	cg := <-carolCh
	if cg.err != nil {
		t.Fatalf("carol: %v", cg.err)
	}
	if cg.res.Version <= b.res.Version {
		t.Fatalf("tokens went %d then %d", b.res.Version, cg.res.Version)
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestRetriedRequestIsNotAppliedTwice sends the same Acquire and Release
// twice with the same RequestID, the second time through another node: the
// store answers the repeats as it answered the first attempts.
func TestRetriedRequestIsNotAppliedTwice(t *testing.T) {
	c := startCluster(t, 3, nil)
	ctx := context.Background()
	d, err := Dial(ctx, c.endpoints(c.leader()))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	acq := &backend.AcquireRequest{LockID: "dedupe", ClientID: "c1", TTL: time.Minute, RequestID: "acq-1"}
	first, err := d.Acquire(ctx, acq)
	if err != nil {
		t.Fatal(err)
	}
	rel := &backend.ReleaseRequest{LockID: "dedupe", ClientID: "c1", Version: first.Lock.Version, RequestID: "rel-1"}
	if _, err := d.Release(ctx, rel); err != nil {
		t.Fatal(err)
	}
	d2, err := Dial(ctx, c.endpoints(c.follower()))
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	again, err := d2.Acquire(ctx, acq)
	if err != nil || again.Lock.Version != first.Lock.Version || again.AlreadyHeld {
		t.Fatalf("repeat answered %+v, %v; want the first grant", again, err)
	}
	if _, err := d2.Get(ctx, &backend.GetRequest{LockID: "dedupe"}); !errors.Is(err, backend.ErrLockNotFound) {
		t.Fatalf("the repeated acquire took the lock again: %v", err)
	}
	if _, err := d2.Release(ctx, rel); err != nil {
		t.Fatalf("repeated release: %v", err)
	}
}

// TestSnapshotRestartRestoresState takes a snapshot with held locks and
// waiters on every node, stops all of them, starts them again from disk and
// checks that the locks, the queues and the token counter came back.
func TestSnapshotRestartRestoresState(t *testing.T) {
	c := startCluster(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := c.nodes[c.leader()].NewDriver()
	var maxVersion int64
	for i := range 5 {
		r, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: fmt.Sprintf("snap/%d", i), ClientID: "holder",
			TTL: time.Hour, Metadata: map[string]string{"i": fmt.Sprint(i)}})
		if err != nil {
			t.Fatal(err)
		}
		maxVersion = max(maxVersion, r.Lock.Version)
	}
	for _, w := range []string{"w1", "w2"} {
		if _, err := d.Enqueue(ctx, &backend.EnqueueRequest{LockID: "snap/0", ClientID: w, TTL: time.Minute,
			WaitTimeout: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	c.waitConverged()
	for _, n := range c.nodes {
		if err := n.Snapshot(); err != nil {
			t.Fatal(err)
		}
	}
	before := c.nodes[0].fsm.view()
	for i := range c.nodes {
		c.nodes[i].Kill()
		c.nodes[i] = nil
	}
	for i := range c.nodes {
		c.restart(i)
	}
	c.waitConverged()
	for i, n := range c.nodes {
		if after := n.fsm.view(); after != before {
			t.Fatalf("node %d after restart:\n%s\nbefore:\n%s", i, after, before)
		}
	}
	d = c.nodes[c.leader()].NewDriver()
	defer d.Close()
	r, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "snap/new", ClientID: "x", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.Lock.Version <= maxVersion {
		t.Fatalf("token %d after restart, not above %d", r.Lock.Version, maxVersion)
	}
}
