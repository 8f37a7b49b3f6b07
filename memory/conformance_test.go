package memory_test

import (
	"context"
	"testing"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/conformance"
	"github.com/raftlock/raftlock/memory"
)

// conformanceHarness runs the shared suite against one Store on the system
// clock: the suite measures leases with real time, as a client would.
type conformanceHarness struct {
	store *memory.Store
}

var (
	_ conformance.Harness       = conformanceHarness{}
	_ conformance.LimitsHarness = conformanceHarness{}
)

// MakeDriver opens one more client of the store, as another process would.
func (h conformanceHarness) MakeDriver(context.Context) (backend.Driver, error) {
	return h.store.NewDriver(), nil
}

// WithLimits opens a separate store with the limits, so that filling them
// does not disturb the tests sharing the main store.
func (h conformanceHarness) WithLimits(_ context.Context, lim conformance.Limits) (conformance.Harness, func(), error) {
	s := memory.NewStore(memory.WithMaxLocks(lim.MaxLocks), memory.WithMaxWaiters(lim.MaxWaiters))
	return conformanceHarness{store: s}, func() { s.Close() }, nil
}

func newConformanceHarness(tb testing.TB) conformanceHarness {
	s := memory.NewStore()
	tb.Cleanup(func() { s.Close() })
	return conformanceHarness{store: s}
}

func TestConformance(t *testing.T) {
	conformance.Run(t, newConformanceHarness(t))
}

func BenchmarkConformance(b *testing.B) {
	conformance.RunBenchmarks(b, newConformanceHarness(b))
}
