package raftbackend

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"
)

// testCluster is a Raft store of real nodes on loopback TCP, each with its
// own data directory and gRPC client API.
type testCluster struct {
	t     testing.TB
	cfgs  []Config
	nodes []*Node // nil for a stopped node
}

// testConfig is a node configuration with timeouts short enough for tests
// yet long enough not to flap when the race detector and other packages'
// tests share two cores: at 300 ms a starved leader lost its lease in CI
// and the conformance suite saw "no leader".
func testConfig(t testing.TB, id string) Config {
	return Config{
		NodeID:           id,
		DataDir:          t.TempDir(),
		RaftAddr:         "127.0.0.1:0",
		APIAddr:          "127.0.0.1:0",
		HeartbeatTimeout: time.Second,
		ElectionTimeout:  time.Second,
		Logger:           testLogger(),
	}
}

// testLogger shows the nodes' logs when RAFTLOCK_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("RAFTLOCK_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startCluster bootstraps node 1 and joins the others to it.
func startCluster(t testing.TB, size int, tweak func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	for i := range size {
		cfg := testConfig(t, fmt.Sprintf("n%d", i+1))
		if tweak != nil {
			tweak(&cfg)
		}
		cfg.Bootstrap = i == 0
		if i > 0 {
			cfg.Join = []string{c.nodes[0].APIAddress()}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		n, err := StartNode(ctx, cfg)
		if err == nil && i == 0 {
			err = n.WaitLeader(ctx)
		}
		cancel()
		if err != nil {
			c.close()
			t.Fatalf("start %s: %v", cfg.NodeID, err)
		}
		// A restart must find its peers at the same addresses.
		cfg.RaftAddr, cfg.APIAddr = n.RaftAddress(), n.APIAddress()
		cfg.Bootstrap, cfg.Join = false, nil
		c.cfgs = append(c.cfgs, cfg)
		c.nodes = append(c.nodes, n)
	}
	t.Cleanup(c.close)
	c.waitConverged()
	return c
}

func (c *testCluster) close() {
	for i, n := range c.nodes {
		if n != nil {
			n.Kill()
			c.nodes[i] = nil
		}
	}
}

// leader waits for a node that leads and serves, and returns its index.
func (c *testCluster) leader() int {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for i, n := range c.nodes {
			if n != nil && n.IsLeader() {
				return i
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("no leader within 20s")
	return -1
}

// follower returns the index of a running node that does not lead.
func (c *testCluster) follower() int {
	l := c.leader()
	for i, n := range c.nodes {
		if n != nil && i != l {
			return i
		}
	}
	c.t.Fatal("no follower")
	return -1
}

// waitConverged waits until every running node has applied the leader's
// commit index and knows the leader's client API address.
func (c *testCluster) waitConverged() {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		l := c.nodes[c.leader()]
		want := l.raft.CommitIndex()
		ok := true
		for _, n := range c.nodes {
			if n == nil {
				continue
			}
			if n.raft.AppliedIndex() < want || (n != l && n.notLeader("").Leader != l.APIAddress()) {
				ok = false
			}
		}
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("the cluster did not converge within 20s")
}

// endpoints lists the running nodes' client API addresses, starting at
// index first.
func (c *testCluster) endpoints(first int) []string {
	var out []string
	for k := range c.nodes {
		i := (first + k) % len(c.nodes)
		if c.nodes[i] != nil {
			out = append(out, c.nodes[i].APIAddress())
		}
	}
	return out
}

// restart starts node i again from its data directory.
func (c *testCluster) restart(i int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := StartNode(ctx, c.cfgs[i])
	if err != nil {
		c.t.Fatalf("restart %s: %v", c.cfgs[i].NodeID, err)
	}
	c.nodes[i] = n
}
