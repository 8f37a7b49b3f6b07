//go:build unix

package chaos

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/raftbackend"
)

// TestCluster runs real serve processes, built once for both subtests.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds raftlock and runs a cluster of processes; skipped with -short")
	}
	noLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := BuildBinary(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("faults", func(t *testing.T) { testClusterFaults(t, bin) })
	t.Run("nemesis", func(t *testing.T) { testNemesisSmoke(t, bin) })
}

// startTestCluster starts three nodes whose logs the test shows if it
// fails; the cluster closes with the test.
func startTestCluster(t *testing.T, bin string) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := StartCluster(ctx, ClusterConfig{Nodes: 3, Binary: bin, Dir: t.TempDir(), Logf: t.Logf, SnapshotThreshold: 50})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, id := range c.NodeIDs() {
				t.Logf("last lines of %s:\n%s", id, c.LogTail(id, 30))
			}
		}
		if races := c.Races(); len(races) > 0 {
			t.Errorf("data races reported by %v", races)
		}
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

// client is a driver on the cluster that retries what a client retries.
type client struct {
	t *testing.T
	d *raftbackend.RemoteDriver
	n atomic.Int64
}

func newClient(t *testing.T, c *Cluster) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := raftbackend.Dial(ctx, c.APIAddrs(), raftbackend.RemoteConnectTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &client{t: t, d: d}
}

// acquire takes a fresh lock, retrying for up to a minute while the
// cluster has no leader, and returns its fencing token.
func (cl *client) acquire() int64 {
	cl.t.Helper()
	lockID := fmt.Sprintf("chaos/test/%d", cl.n.Add(1))
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		res, err := cl.d.Acquire(ctx, &backend.AcquireRequest{LockID: lockID, ClientID: "tester", TTL: time.Hour})
		cancel()
		if err == nil {
			return res.Lock.Version
		}
		// An attempt granted whose answer was lost makes the next one
		// answer the same grant (the holder asks again).
		code := backend.CodeOf(err)
		if !code.Retryable() && code != backend.CodeTimeout {
			cl.t.Fatalf("acquire %s: %v", lockID, err)
		}
		if time.Now().After(deadline) {
			cl.t.Fatalf("acquire %s: still failing after a minute: %v", lockID, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitConverged(t *testing.T, c *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
}

func testClusterFaults(t *testing.T, bin string) {
	c := startTestCluster(t, bin)
	cl := newClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl.acquire()

	// An isolated leader is replaced by one of the other two.
	old, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Net().Isolate(old)
	t.Logf("isolated %s; network %s", old, c.Net())
	for {
		lctx, lcancel := context.WithTimeout(ctx, 2*time.Second)
		now, err := c.Leader(lctx)
		lcancel()
		if err == nil && now != old {
			t.Logf("new leader %s", now)
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no new leader after isolating %s: %v", old, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cl.acquire()
	c.Net().Heal()
	waitConverged(t, c)

	// A killed node restarts from its data directory and catches up.
	victim, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	if c.Running(victim) {
		t.Fatalf("%s still runs after Kill", victim)
	}
	for range 60 { // past the snapshot threshold: the others snapshot
		cl.acquire()
	}
	if err := c.Restart(ctx, victim); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, c)

	// A paused leader is left behind, then catches up. The client's
	// connection to it stays open and its calls hang rather than fail, so
	// the client must move on by itself once a call runs out of time.
	cl.acquire()
	paused, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Pause(paused); err != nil {
		t.Fatal(err)
	}
	if !c.Paused(paused) {
		t.Fatalf("%s not paused", paused)
	}
	cl.acquire()
	time.Sleep(2 * time.Second) // past an election timeout: the others go on without it
	if ds, _ := c.Digests(ctx); len(ds) != 2 {
		t.Errorf("digests %v while %s is paused, want the two others'", ds, paused)
	}
	if err := c.Resume(paused); err != nil {
		t.Fatal(err)
	}
	cl.acquire()
	waitConverged(t, c)
	ds, err := c.Digests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("converged: %v", ds)
}

func testNemesisSmoke(t *testing.T, bin string) {
	c := startTestCluster(t, bin)
	cl := newClient(t, c)

	// Some load, so that the state moves under the faults.
	loadCtx, stopLoad := context.WithCancel(context.Background())
	var load sync.WaitGroup
	load.Go(func() {
		for i := 0; loadCtx.Err() == nil; i++ {
			ctx, cancel := context.WithTimeout(loadCtx, time.Second)
			_, _ = cl.d.Acquire(ctx, &backend.AcquireRequest{LockID: fmt.Sprintf("chaos/load/%d", i%20), ClientID: "load", TTL: time.Second})
			cancel()
			time.Sleep(20 * time.Millisecond)
		}
	})
	defer func() { stopLoad(); load.Wait() }()

	var restarts atomic.Int64
	nem := NewNemesis(c, NemesisConfig{
		Seed:      3, // draws kills, pauses, cuts and delays in ten seconds
		Logf:      t.Logf,
		MinGap:    300 * time.Millisecond,
		MaxGap:    time.Second,
		OnRestart: func(string) { restarts.Add(1) },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nem.Run(ctx); err != nil {
		t.Fatal(err)
	}
	counts := nem.Counts()
	t.Logf("faults: %v", counts)
	if len(counts) == 0 {
		t.Fatal("the nemesis injected nothing")
	}
	if int64(counts[FaultKill]) != restarts.Load() {
		t.Errorf("%d kills but %d restarts", counts[FaultKill], restarts.Load())
	}
	for _, id := range c.NodeIDs() {
		if !c.Running(id) || c.Paused(id) {
			t.Errorf("%s after the nemesis: running %v, paused %v", id, c.Running(id), c.Paused(id))
		}
	}
	if s := c.Net().String(); s != "healthy" {
		t.Errorf("network after the nemesis: %s", s)
	}
	stopLoad()
	load.Wait()
	waitConverged(t, c)
}
