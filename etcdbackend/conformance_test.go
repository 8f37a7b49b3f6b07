package etcdbackend_test

import (
	"context"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/conformance"
	"github.com/raftlock/raftlock/etcdbackend"
)

// harness opens each driver with a client of its own, as a separate
// process would, on one cluster and prefix.
type harness struct{ cfg etcdbackend.Config }

func (h harness) MakeDriver(ctx context.Context) (backend.Driver, error) {
	d, err := etcdbackend.Open(ctx, h.cfg)
	if err != nil {
		return nil, err // not d: a nil *Driver in a Driver is not a nil Driver
	}
	return d, nil
}

// Timing lengthens the stress runs of the Concurrency group. Every grant
// costs this store several Raft commits (lease, put, delete, revoke); with
// the server in the test process and both under the race detector, 750ms
// holds only a handful of them, too few to tell progress from a stall; 3s
// once made exactly the suite's minimum while other tests loaded the
// machine, so the runs take 6s.
func (harness) Timing(backend.Capabilities) conformance.Timing {
	return conformance.Timing{StressDuration: 6 * time.Second}
}

func newHarness(tb testing.TB) harness {
	return harness{cfg: etcdbackend.Config{Endpoints: endpoints(tb), Prefix: "/raftlock-test/"}}
}

func TestConformance(t *testing.T) {
	conformance.Run(t, newHarness(t))
}

func BenchmarkEtcd(b *testing.B) {
	conformance.RunBenchmarks(b, newHarness(b))
}
