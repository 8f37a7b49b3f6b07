// Package prommetrics exports a raftlock client's metrics to Prometheus.
//
// New returns a *Metrics, an implementation of raftlock.Metrics that feeds
// Prometheus counters, a gauge and a latency histogram, and registers them
// on the given registry. The adapter lives in a package of its own so that
// programs that do not use Prometheus do not link its client library.
//
// Plug it into a client with the builder or the Config:
//
//	m, err := prommetrics.New(prometheus.DefaultRegisterer)
//	if err != nil {
//		return err
//	}
//	client, err := raftlock.NewRaftLockClientBuilder(nil).
//		WithURL("raft://10.0.0.1:7000,10.0.0.2:7000").
//		WithMetricsCollector(m).
//		Build()
//
//	// or
//	cfg := raftlock.DefaultConfig()
//	cfg.URL = "mem://jobs"
//	cfg.Metrics = m
//	client, err := raftlock.OpenConfig(ctx, cfg)
//
// and serve the registry as usual, with promhttp.Handler for the default
// one. One *Metrics may serve several clients; it then adds their figures
// up. To tell clients apart instead, give each its own adapter, all with
// the same WithConstLabels names and each with its own values.
//
// # Series
//
// With the default namespace, "raftlock":
//
//	raftlock_client_operations_total{op, outcome}             counter
//	raftlock_client_retries_total{op}                         counter
//	raftlock_client_leader_redirects_total                    counter
//	raftlock_client_connections                               gauge
//	raftlock_client_operation_duration_seconds{op, outcome}   histogram
//
// op is the operation's name (raftlock.Op.String: "acquire", "release",
// "renew", ...). outcome is "ok" for a success, else the failure's error
// code in snake_case ("lock_held", "timeout", "unavailable", ...), so that
// normal contention and an outage can be told apart; a failure whose error
// carries no code is "unknown". A latency recorded through ObserveLatency,
// which does not carry the outcome, is labelled "unknown" too; the client
// records latencies through ObserveOutcome instead, so with the client
// alone "unknown" means an unclassified failure.
// Durations include retries. A failure the client refuses before sending
// the request (a malformed request, a closed client) is counted in
// operations_total but has no duration.
//
// The (op, outcome) series appear on first use; retries_total has a series
// at zero for every operation from the start.
//
// # The in-process figures
//
// The Get* methods, Snapshot and Reset of raftlock.Metrics are answered by
// in-process counters that every recording method also feeds, so code that
// reads client.GetMetrics() keeps working. Reset zeroes only those: the
// Prometheus counters never go down.
package prommetrics
