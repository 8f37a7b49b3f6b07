package raftbackend

import (
	"context"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/conformance"
)

// embeddedHarness opens in-process drivers of one node.
type embeddedHarness struct{ node *Node }

func (h embeddedHarness) MakeDriver(ctx context.Context) (backend.Driver, error) {
	return h.node.NewDriver(), nil
}

// remoteHarness opens gRPC drivers whose first endpoint is a follower, so
// every first call of a driver follows a redirect to the leader.
type remoteHarness struct{ endpoints []string }

func (h remoteHarness) MakeDriver(ctx context.Context) (backend.Driver, error) {
	return Dial(ctx, h.endpoints)
}

// Timing: a commit on this store takes a few milliseconds, but under the
// race detector on a loaded machine an expiry can lag by a few hundred.
func (remoteHarness) Timing() conformance.Timing {
	return conformance.Timing{ShortTTL: 300 * time.Millisecond}
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
