package raftbackend

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/conformance"
)

// embeddedHarness opens in-process drivers of one node.
type embeddedHarness struct{ node *Node }

var (
	_ conformance.LimitsHarness = embeddedHarness{}
	_ conformance.LimitsHarness = remoteHarness{}
	_ conformance.TimingHarness = remoteHarness{}
)

func (h embeddedHarness) MakeDriver(ctx context.Context) (backend.Driver, error) {
	return h.node.NewDriver(), nil
}

// WithLimits starts a node of its own with the limits, so that filling
// them does not disturb the tests sharing the main node.
func (embeddedHarness) WithLimits(ctx context.Context, lim conformance.Limits) (conformance.Harness, func(), error) {
	nodes, done, err := startLimitedCluster(ctx, 1, lim)
	if err != nil {
		return nil, nil, err
	}
	return embeddedHarness{node: nodes[0]}, done, nil
}

// remoteHarness opens gRPC drivers whose first endpoint is a follower, so
// every first call of a driver follows a redirect to the leader.
type remoteHarness struct{ endpoints []string }

func (h remoteHarness) MakeDriver(ctx context.Context) (backend.Driver, error) {
	return Dial(ctx, h.endpoints)
}

// Timing: a commit on this store takes a few milliseconds, but under the
// race detector on a loaded machine an expiry can lag by a few hundred.
func (remoteHarness) Timing(backend.Capabilities) conformance.Timing {
	return conformance.Timing{ShortTTL: 300 * time.Millisecond}
}

// WithLimits starts a 3-node cluster of its own with the limits on every
// node, reached from a follower like the main one.
func (remoteHarness) WithLimits(ctx context.Context, lim conformance.Limits) (conformance.Harness, func(), error) {
	nodes, done, err := startLimitedCluster(ctx, 3, lim)
	if err != nil {
		return nil, nil, err
	}
	// The first node bootstrapped the cluster and leads it.
	var eps []string
	for _, n := range append(nodes[1:], nodes[0]) {
		eps = append(eps, n.APIAddress())
	}
	return remoteHarness{endpoints: eps}, done, nil
}

// startLimitedCluster starts size nodes configured with lim, each with a
// client API, the first bootstrapping the cluster and the others joining
// it, and waits until every node knows the leader. It reports failure
// rather than failing a test, because the suite calls it from a subtest.
func startLimitedCluster(ctx context.Context, size int, lim conformance.Limits) ([]*Node, func(), error) {
	var nodes []*Node
	var dirs []string
	done := func() {
		for _, n := range nodes {
			n.Kill()
		}
		for _, d := range dirs {
			os.RemoveAll(d)
		}
	}
	for i := range size {
		dir, err := os.MkdirTemp("", "raftlock-limits-")
		if err != nil {
			done()
			return nil, nil, err
		}
		dirs = append(dirs, dir)
		cfg := Config{NodeID: fmt.Sprintf("n%d", i+1), DataDir: dir, APIAddr: "127.0.0.1:0",
			HeartbeatTimeout: time.Second, ElectionTimeout: time.Second, Logger: testLogger(),
			MaxLocks: lim.MaxLocks, MaxWaiters: lim.MaxWaiters, Bootstrap: i == 0}
		if i > 0 {
			cfg.Join = []string{nodes[0].APIAddress()}
		}
		n, err := StartNode(ctx, cfg)
		if err != nil {
			done()
			return nil, nil, err
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		if err := n.WaitLeader(ctx); err != nil {
			done()
			return nil, nil, errors.Join(errors.New("no leader in the limited cluster"), err)
		}
	}
	return nodes, done, nil
}

func TestConformanceEmbeddedSingleNode(t *testing.T) {
	c := startCluster(t, 1, nil)
	// Once every subtest has finished (parallel ones included), every call
	// that waited has let go of its slot.
	t.Cleanup(func() {
		if n := c.nodes[0].waits.count(); n != 0 {
			t.Errorf("%d wait slots left after the suite", n)
		}
	})
	conformance.Run(t, embeddedHarness{node: c.nodes[0]})
}

func TestConformanceThreeNodesOverGRPCFromFollower(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-node cluster in -short mode")
	}
	c := startCluster(t, 3, nil)
	conformance.Run(t, remoteHarness{endpoints: c.endpoints(c.follower())})
}
