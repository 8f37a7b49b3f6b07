package prommetrics_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/raftlock/raftlock"
	_ "github.com/raftlock/raftlock/memory" // registers mem://
	"github.com/raftlock/raftlock/prommetrics"
)

// Example plugs the adapter into a client and shows what a scrape of the
// registry reports after one acquire and one release. A program would serve
// reg with promhttp.HandlerFor instead of printing it.
func Example() {
	reg := prometheus.NewRegistry()
	metrics, err := prommetrics.New(reg, prommetrics.WithConstLabels(prometheus.Labels{"service": "jobs"}))
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	client, err := raftlock.NewRaftLockClientBuilder(nil).
		WithURL("mem://prommetrics-example").
		WithMetricsCollector(metrics).
		BuildClient(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	grant, err := client.Acquire(ctx, &raftlock.AcquireRequest{LockID: "nightly", ClientID: "worker-1", TTL: time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.Release(ctx, &raftlock.ReleaseRequest{LockID: "nightly", ClientID: "worker-1", Version: grant.Version}); err != nil {
		log.Fatal(err)
	}

	families, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() == "raftlock_client_operations_total" {
			if _, err := expfmt.MetricFamilyToText(os.Stdout, mf); err != nil {
				log.Fatal(err)
			}
		}
	}
	// The in-process figures agree.
	fmt.Println("acquired:", metrics.GetSuccessCount(raftlock.OpAcquire))
	// Output:
	// # HELP raftlock_client_operations_total Client operations that ended, by operation and outcome ("ok" or the failure's error code).
	// # TYPE raftlock_client_operations_total counter
	// raftlock_client_operations_total{op="acquire",outcome="ok",service="jobs"} 1
	// raftlock_client_operations_total{op="release",outcome="ok",service="jobs"} 1
	// acquired: 1
}
