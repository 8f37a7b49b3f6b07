package prommetrics_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/backend"
	_ "github.com/raftlock/raftlock/memory" // registers mem://
	"github.com/raftlock/raftlock/prommetrics"
)

const (
	opsName       = "raftlock_client_operations_total"
	retriesName   = "raftlock_client_retries_total"
	redirectsName = "raftlock_client_leader_redirects_total"
	connsName     = "raftlock_client_connections"
	durationName  = "raftlock_client_operation_duration_seconds"
)

// newMetrics returns an adapter registered on a registry of its own.
func newMetrics(t *testing.T, opts ...prommetrics.Option) (*prommetrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := prommetrics.New(reg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m, reg
}

// find returns the series of family name whose labels include want, or
// nil when there is none.
func find(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) *dto.Metric {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			have := make(map[string]string)
			for _, lp := range s.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue series
				}
			}
			return s
		}
	}
	return nil
}

// counter is the value of a counter or gauge series; a missing series
// fails the test.
func counter(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	s := find(t, g, name, labels)
	switch {
	case s == nil:
		t.Fatalf("no series %s%v", name, labels)
	case s.Counter != nil:
		return s.Counter.GetValue()
	case s.Gauge != nil:
		return s.Gauge.GetValue()
	}
	t.Fatalf("%s%v is neither a counter nor a gauge", name, labels)
	return 0
}

// samples is the sample count of a histogram series; a missing series
// fails the test.
func samples(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) uint64 {
	t.Helper()
	s := find(t, g, name, labels)
	if s == nil || s.Histogram == nil {
		t.Fatalf("no histogram %s%v", name, labels)
	}
	return s.Histogram.GetSampleCount()
}

// families gathers g and keeps the families named.
func families(t *testing.T, g prometheus.Gatherer, names ...string) []*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	return slices.DeleteFunc(mfs, func(mf *dto.MetricFamily) bool {
		return !slices.Contains(names, mf.GetName())
	})
}

// count is the number of series in the families named.
func count(t *testing.T, g prometheus.Gatherer, names ...string) int {
	t.Helper()
	n := 0
	for _, mf := range families(t, g, names...) {
		n += len(mf.GetMetric())
	}
	return n
}

// compare checks the families named against want, in the text exposition
// format a scrape would read. Gather sorts families by name and series by
// label values, so the text is deterministic.
func compare(t *testing.T, g prometheus.Gatherer, want string, names ...string) {
	t.Helper()
	var got strings.Builder
	for _, mf := range families(t, g, names...) {
		if _, err := expfmt.MetricFamilyToText(&got, mf); err != nil {
			t.Fatalf("MetricFamilyToText: %v", err)
		}
	}
	if w := strings.TrimLeft(want, "\n"); got.String() != w {
		t.Errorf("exposition of %v:\n%s\nwant:\n%s", names, got.String(), w)
	}
}

func labels(op, outcome string) map[string]string {
	return map[string]string{"op": op, "outcome": outcome}
}

func TestOperationsByOpAndOutcome(t *testing.T) {
	m, reg := newMetrics(t)
	m.IncrSuccess(raftlock.OpAcquire)
	m.IncrSuccess(raftlock.OpAcquire)
	m.IncrFailure(raftlock.OpAcquire, backend.CodeLockHeld)
	m.IncrFailure(raftlock.OpRelease, backend.CodeNotLockOwner)
	m.IncrSuccess(raftlock.OpGetBackoffAdvice)

	want := `
# HELP raftlock_client_operations_total Client operations that ended, by operation and outcome ("ok" or the failure's error code).
# TYPE raftlock_client_operations_total counter
raftlock_client_operations_total{op="acquire",outcome="lock_held"} 1
raftlock_client_operations_total{op="acquire",outcome="ok"} 2
raftlock_client_operations_total{op="get_backoff_advice",outcome="ok"} 1
raftlock_client_operations_total{op="release",outcome="not_lock_owner"} 1
`
	compare(t, reg, want, opsName)
}

// TestEveryOpAndOutcomeHasItsOwnSeries records each (op, outcome) pair once
// and finds each in a series of its own, in both the counter and the
// histogram, labelled with the op's name and a snake_case outcome.
func TestEveryOpAndOutcomeHasItsOwnSeries(t *testing.T) {
	m, reg := newMetrics(t)
	outcomes := []string{"ok"}
	for c := backend.CodeUnknown; c <= backend.CodeInternal; c++ {
		outcomes = append(outcomes, strings.ReplaceAll(c.String(), " ", "_"))
	}
	for _, op := range raftlock.Ops() {
		m.IncrSuccess(op)
		m.ObserveOutcome(op, nil, time.Millisecond)
		for c := backend.CodeUnknown; c <= backend.CodeInternal; c++ {
			m.IncrFailure(op, c)
			m.ObserveOutcome(op, &backend.Error{Code: c}, time.Millisecond)
		}
	}

	// One gather, read by (op, outcome): a lookup per pair would gather
	// hundreds of histograms hundreds of times.
	type pair struct{ op, outcome string }
	counts := make(map[pair]float64)
	histograms := make(map[pair]uint64)
	for _, mf := range families(t, reg, opsName, durationName) {
		for _, s := range mf.GetMetric() {
			var p pair
			for _, lp := range s.GetLabel() {
				switch lp.GetName() {
				case "op":
					p.op = lp.GetValue()
				case "outcome":
					p.outcome = lp.GetValue()
				}
			}
			if s.Histogram != nil {
				histograms[p] = s.Histogram.GetSampleCount()
			} else {
				counts[p] = s.Counter.GetValue()
			}
		}
	}

	want := len(raftlock.Ops()) * len(outcomes)
	if len(counts) != want || len(histograms) != want {
		t.Errorf("%d operations_total and %d duration series, want %d of each", len(counts), len(histograms), want)
	}
	snake := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	for _, outcome := range outcomes {
		if !snake.MatchString(outcome) {
			t.Errorf("outcome %q is not snake_case", outcome)
		}
		for _, op := range raftlock.Ops() {
			p := pair{op.String(), outcome}
			if got := counts[p]; got != 1 {
				t.Errorf("operations_total%v = %v, want 1", p, got)
			}
			if got := histograms[p]; got != 1 {
				t.Errorf("duration samples %v = %v, want 1", p, got)
			}
		}
	}
}

func TestObserveOutcomeLabelsTheHistogram(t *testing.T) {
	m, reg := newMetrics(t, prommetrics.WithBuckets([]float64{0.002, 1}))
	m.ObserveOutcome(raftlock.OpAcquire, nil, 3*time.Millisecond)
	m.ObserveOutcome(raftlock.OpAcquire, nil, time.Millisecond)
	// The client hands over a *raftlock.Error; a wrapped one must do too.
	m.ObserveOutcome(raftlock.OpAcquire, fmt.Errorf("try later: %w", raftlock.ErrLockHeld), time.Millisecond)
	m.ObserveOutcome(raftlock.OpRenew, errors.New("unclassified"), 2*time.Second)
	m.ObserveLatency(raftlock.OpRelease, 500*time.Millisecond)

	want := `
# HELP raftlock_client_operation_duration_seconds Duration of client operations, retries included, by operation and outcome ("ok", the failure's error code, or "unknown").
# TYPE raftlock_client_operation_duration_seconds histogram
raftlock_client_operation_duration_seconds_bucket{op="acquire",outcome="lock_held",le="0.002"} 1
raftlock_client_operation_duration_seconds_bucket{op="acquire",outcome="lock_held",le="1"} 1
raftlock_client_operation_duration_seconds_bucket{op="acquire",outcome="lock_held",le="+Inf"} 1
raftlock_client_operation_duration_seconds_sum{op="acquire",outcome="lock_held"} 0.001
raftlock_client_operation_duration_seconds_count{op="acquire",outcome="lock_held"} 1
raftlock_client_operation_duration_seconds_bucket{op="acquire",outcome="ok",le="0.002"} 1
raftlock_client_operation_duration_seconds_bucket{op="acquire",outcome="ok",le="1"} 2
raftlock_client_operation_duration_seconds_bucket{op="acquire",outcome="ok",le="+Inf"} 2
raftlock_client_operation_duration_seconds_sum{op="acquire",outcome="ok"} 0.004
raftlock_client_operation_duration_seconds_count{op="acquire",outcome="ok"} 2
raftlock_client_operation_duration_seconds_bucket{op="release",outcome="unknown",le="0.002"} 0
raftlock_client_operation_duration_seconds_bucket{op="release",outcome="unknown",le="1"} 1
raftlock_client_operation_duration_seconds_bucket{op="release",outcome="unknown",le="+Inf"} 1
raftlock_client_operation_duration_seconds_sum{op="release",outcome="unknown"} 0.5
raftlock_client_operation_duration_seconds_count{op="release",outcome="unknown"} 1
raftlock_client_operation_duration_seconds_bucket{op="renew",outcome="unknown",le="0.002"} 0
raftlock_client_operation_duration_seconds_bucket{op="renew",outcome="unknown",le="1"} 0
raftlock_client_operation_duration_seconds_bucket{op="renew",outcome="unknown",le="+Inf"} 1
raftlock_client_operation_duration_seconds_sum{op="renew",outcome="unknown"} 2
raftlock_client_operation_duration_seconds_count{op="renew",outcome="unknown"} 1
`
	compare(t, reg, want, durationName)
	// Latency alone counts no operation.
	if n := count(t, reg, opsName); n != 0 {
		t.Fatalf("%d operations_total series after latencies only, want 0", n)
	}
}

func TestRetriesRedirectsAndConnections(t *testing.T) {
	m, reg := newMetrics(t)
	// Every operation has a retries series from the start.
	if n, want := count(t, reg, retriesName), len(raftlock.Ops()); n != want {
		t.Fatalf("%d retries_total series before any retry, want %d", n, want)
	}
	for range 3 {
		m.IncrRetry(raftlock.OpRenew)
	}
	m.IncrRetry(raftlock.OpAcquire)
	m.IncrLeaderRedirect()
	m.IncrLeaderRedirect()
	m.SetConnectionCount(4)
	m.SetConnectionCount(2)

	for op, want := range map[string]float64{"renew": 3, "acquire": 1, "release": 0} {
		if got := counter(t, reg, retriesName, map[string]string{"op": op}); got != want {
			t.Errorf("retries_total{op=%q} = %v, want %v", op, got, want)
		}
	}
	if got := counter(t, reg, redirectsName, nil); got != 2 {
		t.Errorf("leader_redirects_total = %v, want 2", got)
	}
	if got := counter(t, reg, connsName, nil); got != 2 {
		t.Errorf("connections = %v, want 2 (the last value set)", got)
	}
}

func TestGettersAgree(t *testing.T) {
	m, _ := newMetrics(t)
	m.IncrSuccess(raftlock.OpAcquire)
	m.IncrSuccess(raftlock.OpAcquire)
	m.IncrSuccess(raftlock.OpAcquire)
	m.IncrFailure(raftlock.OpAcquire, backend.CodeLockHeld)
	m.IncrRetry(raftlock.OpAcquire)
	m.IncrLeaderRedirect()
	m.SetConnectionCount(5)
	m.ObserveOutcome(raftlock.OpAcquire, nil, 10*time.Millisecond)
	m.ObserveOutcome(raftlock.OpAcquire, raftlock.ErrLockHeld, 30*time.Millisecond)
	m.ObserveLatency(raftlock.OpAcquire, 20*time.Millisecond)

	op := raftlock.OpAcquire
	if got := m.GetSuccessCount(op); got != 3 {
		t.Errorf("GetSuccessCount = %d, want 3", got)
	}
	if got := m.GetFailureCount(op); got != 1 {
		t.Errorf("GetFailureCount = %d, want 1", got)
	}
	if got := m.GetRetryCount(op); got != 1 {
		t.Errorf("GetRetryCount = %d, want 1", got)
	}
	if got := m.GetSuccessRate(op); got != 0.75 {
		t.Errorf("GetSuccessRate = %v, want 0.75", got)
	}
	if got := m.GetAverageLatency(op); got != 20*time.Millisecond {
		t.Errorf("GetAverageLatency = %v, want 20ms", got)
	}
	if got := m.GetMaxLatency(op); got != 30*time.Millisecond {
		t.Errorf("GetMaxLatency = %v, want 30ms", got)
	}
	if got := m.GetLeaderRedirectCount(); got != 1 {
		t.Errorf("GetLeaderRedirectCount = %d, want 1", got)
	}
	if got := m.GetConnectionCount(); got != 5 {
		t.Errorf("GetConnectionCount = %d, want 5", got)
	}

	s := m.Snapshot()
	om, ok := s.Ops[op]
	if !ok {
		t.Fatalf("Snapshot has no acquire: %+v", s)
	}
	if om.Successes != 3 || om.Failures != 1 || om.Retries != 1 || om.FailuresByCode[backend.CodeLockHeld] != 1 {
		t.Errorf("Snapshot acquire = %+v, want 3 successes, 1 failure (lock held), 1 retry", om)
	}
	if s.LeaderRedirects != 1 || s.Connections != 5 {
		t.Errorf("Snapshot redirects, connections = %d, %d; want 1, 5", s.LeaderRedirects, s.Connections)
	}
	if len(s.Ops) != 1 {
		t.Errorf("Snapshot has %d ops, want only acquire", len(s.Ops))
	}
}

func TestResetLeavesPrometheusAlone(t *testing.T) {
	m, reg := newMetrics(t)
	m.IncrSuccess(raftlock.OpRelease)
	m.IncrFailure(raftlock.OpRelease, backend.CodeTimeout)
	m.IncrRetry(raftlock.OpRelease)
	m.IncrLeaderRedirect()
	m.SetConnectionCount(3)
	m.ObserveOutcome(raftlock.OpRelease, nil, time.Millisecond)

	m.Reset()

	if m.GetSuccessCount(raftlock.OpRelease) != 0 || m.GetFailureCount(raftlock.OpRelease) != 0 ||
		m.GetRetryCount(raftlock.OpRelease) != 0 || m.GetLeaderRedirectCount() != 0 ||
		m.GetConnectionCount() != 0 || m.GetMaxLatency(raftlock.OpRelease) != 0 {
		t.Errorf("getters after Reset: %+v", m.Snapshot())
	}
	if s := m.Snapshot(); len(s.Ops) != 0 {
		t.Errorf("Snapshot after Reset has ops: %+v", s.Ops)
	}

	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{opsName, labels("release", "ok"), 1},
		{opsName, labels("release", "timeout"), 1},
		{retriesName, map[string]string{"op": "release"}, 1},
		{redirectsName, nil, 1},
		{connsName, nil, 3},
	}
	for _, c := range checks {
		if got := counter(t, reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v after Reset = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := samples(t, reg, durationName, labels("release", "ok")); got != 1 {
		t.Errorf("duration samples after Reset = %d, want 1", got)
	}

	// Counting goes on from where Prometheus was, and from zero in process.
	m.IncrSuccess(raftlock.OpRelease)
	if got := counter(t, reg, opsName, labels("release", "ok")); got != 2 {
		t.Errorf("operations_total after Reset and one more success = %v, want 2", got)
	}
	if got := m.GetSuccessCount(raftlock.OpRelease); got != 1 {
		t.Errorf("GetSuccessCount after Reset and one more success = %d, want 1", got)
	}
}

func TestRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, err := prommetrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	second, err := prommetrics.New(reg)
	if second != nil {
		t.Errorf("second New returned a Metrics with error %v", err)
	}
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Fatalf("second New: %v, want an AlreadyRegisteredError", err)
	}
	if are.ExistingCollector != first {
		t.Errorf("ExistingCollector = %v, want the first Metrics", are.ExistingCollector)
	}

	// Another namespace makes other series.
	if _, err := prommetrics.New(reg, prommetrics.WithNamespace("other")); err != nil {
		t.Errorf("New with another namespace: %v", err)
	}
}

func TestConstLabelsTellAdaptersApart(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := prommetrics.New(reg, prommetrics.WithConstLabels(prometheus.Labels{"client": "a"}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := prommetrics.New(reg, prommetrics.WithConstLabels(prometheus.Labels{"client": "b"}))
	if err != nil {
		t.Fatalf("New with another const label value: %v", err)
	}
	_, err = prommetrics.New(reg, prommetrics.WithConstLabels(prometheus.Labels{"client": "a"}))
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) || are.ExistingCollector != a {
		t.Errorf("New with a const label value in use: %v, want an AlreadyRegisteredError naming the first", err)
	}

	a.IncrSuccess(raftlock.OpAcquire)
	b.IncrSuccess(raftlock.OpAcquire)
	b.IncrSuccess(raftlock.OpAcquire)
	for client, want := range map[string]float64{"a": 1, "b": 2} {
		l := map[string]string{"client": client, "op": "acquire", "outcome": "ok"}
		if got := counter(t, reg, opsName, l); got != want {
			t.Errorf("operations_total%v = %v, want %v", l, got, want)
		}
	}
}

func TestNamespaceAndConstLabels(t *testing.T) {
	m, reg := newMetrics(t,
		prommetrics.WithNamespace("jobs"),
		prommetrics.WithConstLabels(prometheus.Labels{"client": "scheduler"}))
	m.IncrSuccess(raftlock.OpAcquire)
	m.ObserveOutcome(raftlock.OpAcquire, nil, time.Millisecond)
	m.IncrLeaderRedirect()

	want := `
# HELP jobs_client_leader_redirects_total Requests the store's driver followed to the leader.
# TYPE jobs_client_leader_redirects_total counter
jobs_client_leader_redirects_total{client="scheduler"} 1
# HELP jobs_client_operations_total Client operations that ended, by operation and outcome ("ok" or the failure's error code).
# TYPE jobs_client_operations_total counter
jobs_client_operations_total{client="scheduler",op="acquire",outcome="ok"} 1
`
	compare(t, reg, want, "jobs_client_operations_total", "jobs_client_leader_redirects_total")
	got := samples(t, reg, "jobs_client_operation_duration_seconds",
		map[string]string{"client": "scheduler", "op": "acquire", "outcome": "ok"})
	if got != 1 {
		t.Errorf("duration samples = %d, want 1", got)
	}
	if n := count(t, reg, opsName, retriesName, redirectsName, connsName, durationName); n != 0 {
		t.Errorf("%d series under the default namespace, want 0", n)
	}
}

func TestInvalidOptions(t *testing.T) {
	cases := map[string][]prommetrics.Option{
		"const label op":      {prommetrics.WithConstLabels(prometheus.Labels{"op": "x"})},
		"const label outcome": {prommetrics.WithConstLabels(prometheus.Labels{"outcome": "x"})},
		"const label le":      {prommetrics.WithConstLabels(prometheus.Labels{"le": "x"})},
		"bad label name":      {prommetrics.WithConstLabels(prometheus.Labels{"__reserved": "x"})},
		"buckets decrease":    {prommetrics.WithBuckets([]float64{1, 0.5})},
		"buckets repeat":      {prommetrics.WithBuckets([]float64{1, 1})},
		"bucket NaN":          {prommetrics.WithBuckets([]float64{0.1, nan()})},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m, err := prommetrics.New(reg, opts...)
			if err == nil || m != nil {
				t.Fatalf("New = %v, %v; want an error", m, err)
			}
			// A failed New registers nothing, so a good one can follow.
			if _, err := prommetrics.New(reg); err != nil {
				t.Errorf("New after a failed New: %v", err)
			}
		})
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

func TestNilRegistererMeansDefault(t *testing.T) {
	const ns = "prommetrics_test_default"
	m, err := prommetrics.New(nil, prommetrics.WithNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prometheus.DefaultRegisterer.Unregister(m) })
	m.IncrSuccess(raftlock.OpHealth)
	if got := counter(t, prometheus.DefaultGatherer, ns+"_client_operations_total", labels("health", "ok")); got != 1 {
		t.Errorf("operations_total on the default registry = %v, want 1", got)
	}
}

func TestUnknownOpAndCodeAreRecorded(t *testing.T) {
	m, reg := newMetrics(t)
	op, code := raftlock.Op(200), raftlock.Code(250)
	m.IncrSuccess(op)
	m.IncrFailure(op, code)
	m.IncrRetry(op)
	m.ObserveOutcome(raftlock.OpAcquire, &backend.Error{Code: code}, time.Millisecond)

	if got := counter(t, reg, opsName, labels(op.String(), "ok")); got != 1 {
		t.Errorf("operations_total{%s,ok} = %v, want 1", op, got)
	}
	if got := counter(t, reg, opsName, labels(op.String(), code.String())); got != 1 {
		t.Errorf("operations_total{%s,%s} = %v, want 1", op, code, got)
	}
	if got := counter(t, reg, retriesName, map[string]string{"op": op.String()}); got != 1 {
		t.Errorf("retries_total{%s} = %v, want 1", op, got)
	}
	if got := samples(t, reg, durationName, labels("acquire", code.String())); got != 1 {
		t.Errorf("duration samples {acquire,%s} = %d, want 1", code, got)
	}
	if got := m.GetSuccessCount(op); got != 1 {
		t.Errorf("GetSuccessCount(%s) = %d, want 1", op, got)
	}
}

func TestRecordingDoesNotAllocate(t *testing.T) {
	m, _ := newMetrics(t)
	calls := map[string]func(){
		"IncrSuccess":        func() { m.IncrSuccess(raftlock.OpAcquire) },
		"IncrFailure":        func() { m.IncrFailure(raftlock.OpAcquire, backend.CodeLockHeld) },
		"IncrRetry":          func() { m.IncrRetry(raftlock.OpRenew) },
		"IncrLeaderRedirect": m.IncrLeaderRedirect,
		"SetConnectionCount": func() { m.SetConnectionCount(3) },
		"ObserveLatency":     func() { m.ObserveLatency(raftlock.OpRelease, time.Millisecond) },
		"ObserveOutcome":     func() { m.ObserveOutcome(raftlock.OpRelease, nil, time.Millisecond) },
	}
	for name, f := range calls {
		f() // the first call of a pair creates its series
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, n)
		}
	}
}

func TestConcurrentRecording(t *testing.T) {
	m, reg := newMetrics(t)
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for i := range each {
				// Every goroutine races for the first use of each pair.
				if i%2 == 0 {
					m.IncrSuccess(raftlock.OpRenew)
					m.ObserveOutcome(raftlock.OpRenew, nil, time.Microsecond)
				} else {
					m.IncrFailure(raftlock.OpRenew, backend.CodeUnavailable)
					m.ObserveOutcome(raftlock.OpRenew, raftlock.ErrUnavailable, time.Microsecond)
				}
				m.IncrRetry(raftlock.OpRenew)
			}
		})
	}
	wg.Wait()

	half := float64(goroutines * each / 2)
	if got := counter(t, reg, opsName, labels("renew", "ok")); got != half {
		t.Errorf("operations_total{renew,ok} = %v, want %v", got, half)
	}
	if got := counter(t, reg, opsName, labels("renew", "unavailable")); got != half {
		t.Errorf("operations_total{renew,unavailable} = %v, want %v", got, half)
	}
	if got := samples(t, reg, durationName, labels("renew", "ok")); got != uint64(half) {
		t.Errorf("duration samples {renew,ok} = %d, want %v", got, half)
	}
	if got := counter(t, reg, retriesName, map[string]string{"op": "renew"}); got != 2*half {
		t.Errorf("retries_total{renew} = %v, want %v", got, 2*half)
	}
	if got := m.GetSuccessCount(raftlock.OpRenew) + m.GetFailureCount(raftlock.OpRenew); got != 2*int64(half) {
		t.Errorf("in-process operations = %d, want %v", got, 2*half)
	}
}

// TestClientEndToEnd runs real clients on the in-memory store with the
// adapter plugged in through the Config and through the builder.
func TestClientEndToEnd(t *testing.T) {
	ctx := context.Background()
	m, reg := newMetrics(t)
	const url = "mem://prommetrics-end-to-end"

	cfg := raftlock.DefaultConfig()
	cfg.URL = url
	cfg.Metrics = m
	a, err := raftlock.OpenConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := raftlock.NewRaftLockClientBuilder(nil).WithURL(url).WithMetricsCollector(m).BuildClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.GetMetrics() != raftlock.Metrics(m) || b.GetMetrics() != raftlock.Metrics(m) {
		t.Fatal("the clients do not use the adapter")
	}

	grant, err := a.Acquire(ctx, &raftlock.AcquireRequest{LockID: "job", ClientID: "a", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx, &raftlock.AcquireRequest{LockID: "job", ClientID: "b", TTL: time.Minute}); !errors.Is(err, raftlock.ErrLockHeld) {
		t.Fatalf("second Acquire: %v, want ErrLockHeld", err)
	}
	if _, err := a.Release(ctx, &raftlock.ReleaseRequest{LockID: "job", ClientID: "a", Version: grant.Version}); err != nil {
		t.Fatal(err)
	}

	want := `
# HELP raftlock_client_operations_total Client operations that ended, by operation and outcome ("ok" or the failure's error code).
# TYPE raftlock_client_operations_total counter
raftlock_client_operations_total{op="acquire",outcome="lock_held"} 1
raftlock_client_operations_total{op="acquire",outcome="ok"} 1
raftlock_client_operations_total{op="release",outcome="ok"} 1
`
	compare(t, reg, want, opsName)
	for _, l := range []map[string]string{
		labels("acquire", "ok"), labels("acquire", "lock_held"), labels("release", "ok"),
	} {
		if got := samples(t, reg, durationName, l); got != 1 {
			t.Errorf("duration samples %v = %d, want 1", l, got)
		}
	}
	if n := count(t, reg, durationName); n != 3 {
		t.Errorf("%d duration series, want 3", n)
	}
	if got := m.GetSuccessCount(raftlock.OpAcquire); got != 1 {
		t.Errorf("GetSuccessCount(acquire) = %d, want 1", got)
	}
	if got := m.Snapshot().Ops[raftlock.OpAcquire].FailuresByCode[backend.CodeLockHeld]; got != 1 {
		t.Errorf("Snapshot acquire lock held failures = %d, want 1", got)
	}
}
