package bench

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/bench/servers"
	"github.com/raftlock/raftlock/bench/workload"
)

var rounds = flag.Int("rounds", 5, "interleaved rounds of each comparison; medians are reported")

// clients is how many clients the workloads for many clients run.
const clients = 16

// TestMain lets this test binary be the servers it starts (see
// servers.Child).
func TestMain(m *testing.M) {
	servers.Child()
	os.Exit(m.Run())
}

// compare runs w on the contenders, b.N operations each per round, for
// -rounds rounds, and reports each contender's medians and raftlock's
// ratio to each peer (the first contender is raftlock's).
func compare(b *testing.B, w *workload.Workload, contenders ...*workload.Contender) {
	p := workload.Params{Clients: clients, Ops: b.N}
	res, err := workload.Compare(b.Context(), w, contenders, p, *rounds, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	for i, s := range res.Summaries {
		if s.Err != nil {
			b.Fatalf("%s: %v", s.Contender, s.Err)
		}
		if !s.OK() {
			continue
		}
		// Metric units must not hold spaces.
		name := strings.ReplaceAll(s.Contender, " ", "-")
		unit := "pairs/s"
		if w.Kind == workload.KindHandoff {
			unit = "grants/s"
			b.ReportMetric(s.HandoffRate, name+"-handoffs/s")
		}
		b.ReportMetric(s.Rate, name+"-"+unit)
		b.ReportMetric(float64(s.P50.Microseconds()), name+"-p50-µs")
		b.ReportMetric(float64(s.P99.Microseconds()), name+"-p99-µs")
		if i > 0 && s.Ratio > 0 {
			b.ReportMetric(s.Ratio, "ratio-vs-"+name)
		}
	}
	b.ReportMetric(0, "ns/op")
}

// steady are the workloads the benchmarks run.
func steady() []*workload.Workload {
	return []*workload.Workload{workload.Pairs(1), workload.Pairs(clients), workload.Handoff()}
}

// started fails b when its servers did not start, and stops them when b
// ends.
func started(b *testing.B, cl *servers.Cluster, err error) *servers.Cluster {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Stop() })
	return cl
}

// opened fails b when its contender did not open, and closes it when b
// ends.
func opened(b *testing.B, c *workload.Contender, err error) *workload.Contender {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// config is how raftlock's contender opens the store at url: as
// raftlock.Open would.
func config(url string) raftlock.Config {
	cfg := raftlock.DefaultConfig()
	cfg.URL = url
	return cfg
}
