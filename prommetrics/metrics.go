package prommetrics

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/backend"
)

// The variable labels of the series.
const (
	labelOp      = "op"
	labelOutcome = "outcome"
)

// The outcome label values that are not error codes.
const (
	// OutcomeOK labels an operation that succeeded.
	OutcomeOK = "ok"
	// OutcomeUnknown labels a latency recorded by ObserveLatency, which is
	// not told the outcome. It is also the label of a failure whose error
	// has no Code (backend.CodeUnknown).
	OutcomeUnknown = "unknown"
)

// subsystem is the middle part of every series name.
const subsystem = "client"

// An outcome is indexed as okIndex for a success and codeIndex(code) for a
// failure with that code, so that one flat array holds every (op, outcome)
// pair. CodeUnknown's index doubles as ObserveLatency's "unknown".
const okIndex = 0

func codeIndex(c raftlock.Code) int { return 1 + int(c) }

// Metrics is a raftlock.Metrics that exports what the client records to
// Prometheus, and keeps answering the Get* methods, Snapshot and Reset from
// in-process counters (a raftlock.InMemoryMetrics) that every recording
// method also feeds.
//
// Reset zeroes only those in-process figures. The Prometheus series keep
// their values: a counter that went down would read as a restart of the
// process to every rate() over it.
//
// Metrics is also the prometheus.Collector of its series; New registers it.
// Create it with New; the zero value is not usable. It is safe for
// concurrent use, and one Metrics may serve several clients, whose figures
// it then adds up.
type Metrics struct {
	mem *raftlock.InMemoryMetrics

	operations *prometheus.CounterVec
	retries    *prometheus.CounterVec
	redirects  prometheus.Counter
	conns      prometheus.Gauge
	durations  *prometheus.HistogramVec

	// The label values, by op and by outcome index, computed once so that
	// recording never builds a string.
	opLabels      []string
	outcomeLabels []string

	// Children of the vectors, looked up once and kept, so that a hot call
	// neither hashes label values nor takes the vector's lock. The
	// (op, outcome) pairs are filled in on first use rather than up front:
	// most never happen, and every child is a series (a histogram's, one
	// line per bucket) that each scrape would carry at zero forever.
	retryByOp     []prometheus.Counter
	opCounters    []atomic.Pointer[prometheus.Counter]  // [op*len(outcomeLabels)+outcome]
	durationByOut []atomic.Pointer[prometheus.Observer] // same index
}

// Compile-time checks that Metrics is what the client and a registry take.
var (
	_ raftlock.Metrics         = (*Metrics)(nil)
	_ raftlock.OutcomeObserver = (*Metrics)(nil)
	_ prometheus.Collector     = (*Metrics)(nil)
)

// New creates the adapter and registers its series on reg, or on
// prometheus.DefaultRegisterer when reg is nil.
//
// It returns an error, and registers nothing, when an option is invalid or
// registration fails. A second adapter with the same namespace and const
// labels on one registry fails with a prometheus.AlreadyRegisteredError
// (test with errors.As), whose ExistingCollector is the first *Metrics and
// can be used instead.
func New(reg prometheus.Registerer, opts ...Option) (*Metrics, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if reg == nil {
		reg = prometheus.DefaultRegisterer
	}

	m := &Metrics{
		mem: raftlock.NewInMemoryMetrics(),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace:   cfg.namespace,
			Subsystem:   subsystem,
			Name:        "operations_total",
			Help:        `Client operations that ended, by operation and outcome ("ok" or the failure's error code).`,
			ConstLabels: cfg.constLabels,
		}, []string{labelOp, labelOutcome}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace:   cfg.namespace,
			Subsystem:   subsystem,
			Name:        "retries_total",
			Help:        "Retries of client operations, first attempts not included.",
			ConstLabels: cfg.constLabels,
		}, []string{labelOp}),
		redirects: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace:   cfg.namespace,
			Subsystem:   subsystem,
			Name:        "leader_redirects_total",
			Help:        "Requests the store's driver followed to the leader.",
			ConstLabels: cfg.constLabels,
		}),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace:   cfg.namespace,
			Subsystem:   subsystem,
			Name:        "connections",
			Help:        "Connections the store's driver has open.",
			ConstLabels: cfg.constLabels,
		}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace:   cfg.namespace,
			Subsystem:   subsystem,
			Name:        "operation_duration_seconds",
			Help:        `Duration of client operations, retries included, by operation and outcome ("ok", the failure's error code, or "unknown").`,
			ConstLabels: cfg.constLabels,
			Buckets:     append([]float64(nil), cfg.buckets...),
		}, []string{labelOp, labelOutcome}),
	}

	ops := raftlock.Ops()
	m.opLabels = make([]string, len(ops))
	for i, op := range ops {
		m.opLabels[i] = op.String()
	}
	nCodes := knownCodes()
	m.outcomeLabels = make([]string, 1+nCodes)
	m.outcomeLabels[okIndex] = OutcomeOK
	for c := range nCodes {
		m.outcomeLabels[codeIndex(raftlock.Code(c))] = codeLabel(raftlock.Code(c))
	}
	n := len(m.opLabels) * len(m.outcomeLabels)
	m.opCounters = make([]atomic.Pointer[prometheus.Counter], n)
	m.durationByOut = make([]atomic.Pointer[prometheus.Observer], n)

	// Retries have one child per op, few enough to create now; a series at
	// zero also lets rate() see the first retry.
	m.retryByOp = make([]prometheus.Counter, len(ops))
	for i, l := range m.opLabels {
		c, err := m.retries.GetMetricWithLabelValues(l)
		if err != nil {
			return nil, fmt.Errorf("prommetrics: %w", err)
		}
		m.retryByOp[i] = c
	}

	if err := reg.Register(m); err != nil {
		return nil, fmt.Errorf("prommetrics: registering the client metrics: %w", err)
	}
	return m, nil
}

// knownCodes is the number of error codes the backend package defines.
// Codes are numbered from 0 without gaps and new ones are appended, and
// every one but CodeUnknown has a sentinel error, so the first code past
// CodeUnknown without a sentinel ends the list. Asking the backend rather
// than naming its last code keeps the fast path covering codes added later.
func knownCodes() int {
	c := backend.CodeUnknown + 1
	for c != 0 && c.Sentinel() != nil {
		c++
	}
	return int(c)
}

// codeLabel is the outcome label of a failure with code c: its name in
// snake_case ("lock held" becomes "lock_held"), the usual form of a label
// value, which needs no quoting in a PromQL regular expression.
func codeLabel(c raftlock.Code) string {
	return strings.ReplaceAll(c.String(), " ", "_")
}

// outcomeLabel is the label of outcome index i, which may lie past the
// precomputed ones for a code this package did not know when New ran.
func (m *Metrics) outcomeLabel(i int) string {
	if i < len(m.outcomeLabels) {
		return m.outcomeLabels[i]
	}
	return codeLabel(raftlock.Code(i - 1))
}

// opLabel is the label of op, which may be past the precomputed ones.
func (m *Metrics) opLabel(op raftlock.Op) string {
	if int(op) < len(m.opLabels) {
		return m.opLabels[op]
	}
	return op.String()
}

// child returns vec's child for (op, outcome index i), from cells when the
// pair is a known one. Two goroutines may both miss and look it up; the vector
// hands both the same child, so it does not matter whose store wins. A nil
// result means the vector refused the label values, which cannot happen
// with the labels built here; recording then drops the figure rather than
// panic inside a client call.
func child[T any](m *Metrics, cells []atomic.Pointer[T], get func(...string) (T, error), op raftlock.Op, i int) (T, bool) {
	known := int(op) < len(m.opLabels) && i < len(m.outcomeLabels)
	var cell *atomic.Pointer[T]
	if known {
		cell = &cells[int(op)*len(m.outcomeLabels)+i]
		if p := cell.Load(); p != nil {
			return *p, true
		}
	}
	c, err := get(m.opLabel(op), m.outcomeLabel(i))
	if err != nil {
		var zero T
		return zero, false
	}
	if known {
		cell.Store(&c)
	}
	return c, true
}

// count adds one to operations_total{op, outcome index i}.
func (m *Metrics) count(op raftlock.Op, i int) {
	if c, ok := child(m, m.opCounters, m.operations.GetMetricWithLabelValues, op, i); ok {
		c.Inc()
	}
}

// observe records d in operation_duration_seconds{op, outcome index i}.
func (m *Metrics) observe(op raftlock.Op, i int, d time.Duration) {
	m.mem.ObserveLatency(op, d)
	if o, ok := child(m, m.durationByOut, m.durations.GetMetricWithLabelValues, op, i); ok {
		o.Observe(d.Seconds())
	}
}

// IncrSuccess implements raftlock.Metrics: operations_total{outcome="ok"}.
func (m *Metrics) IncrSuccess(op raftlock.Op) {
	m.mem.IncrSuccess(op)
	m.count(op, okIndex)
}

// IncrFailure implements raftlock.Metrics: operations_total with the
// code's name as outcome.
func (m *Metrics) IncrFailure(op raftlock.Op, code raftlock.Code) {
	m.mem.IncrFailure(op, code)
	m.count(op, codeIndex(code))
}

// IncrRetry implements raftlock.Metrics: retries_total.
func (m *Metrics) IncrRetry(op raftlock.Op) {
	m.mem.IncrRetry(op)
	if int(op) < len(m.retryByOp) {
		m.retryByOp[op].Inc()
		return
	}
	if c, err := m.retries.GetMetricWithLabelValues(op.String()); err == nil {
		c.Inc()
	}
}

// IncrLeaderRedirect implements raftlock.Metrics: leader_redirects_total.
func (m *Metrics) IncrLeaderRedirect() {
	m.mem.IncrLeaderRedirect()
	m.redirects.Inc()
}

// ObserveLatency implements raftlock.Metrics. It is called by code that
// does not know the operation's outcome, so the histogram sample is
// labelled outcome="unknown". The client itself calls ObserveOutcome.
func (m *Metrics) ObserveLatency(op raftlock.Op, d time.Duration) {
	m.observe(op, codeIndex(backend.CodeUnknown), d)
}

// ObserveOutcome implements raftlock.OutcomeObserver: the histogram sample
// is labelled outcome="ok" when err is nil, else with the name of
// raftlock.CodeOf(err), as in operations_total.
func (m *Metrics) ObserveOutcome(op raftlock.Op, err error, d time.Duration) {
	i := okIndex
	if err != nil {
		i = codeIndex(raftlock.CodeOf(err))
	}
	m.observe(op, i, d)
}

// SetConnectionCount implements raftlock.Metrics: the connections gauge.
func (m *Metrics) SetConnectionCount(n int) {
	m.mem.SetConnectionCount(n)
	m.conns.Set(float64(n))
}

// GetSuccessCount implements raftlock.Metrics, from the in-process figures.
func (m *Metrics) GetSuccessCount(op raftlock.Op) int64 { return m.mem.GetSuccessCount(op) }

// GetFailureCount implements raftlock.Metrics, from the in-process figures.
func (m *Metrics) GetFailureCount(op raftlock.Op) int64 { return m.mem.GetFailureCount(op) }

// GetRetryCount implements raftlock.Metrics, from the in-process figures.
func (m *Metrics) GetRetryCount(op raftlock.Op) int64 { return m.mem.GetRetryCount(op) }

// GetSuccessRate implements raftlock.Metrics, from the in-process figures.
func (m *Metrics) GetSuccessRate(op raftlock.Op) float64 { return m.mem.GetSuccessRate(op) }

// GetAverageLatency implements raftlock.Metrics, from the in-process
// figures.
func (m *Metrics) GetAverageLatency(op raftlock.Op) time.Duration {
	return m.mem.GetAverageLatency(op)
}

// GetMaxLatency implements raftlock.Metrics, from the in-process figures.
func (m *Metrics) GetMaxLatency(op raftlock.Op) time.Duration { return m.mem.GetMaxLatency(op) }

// GetLeaderRedirectCount implements raftlock.Metrics, from the in-process
// figures.
func (m *Metrics) GetLeaderRedirectCount() int64 { return m.mem.GetLeaderRedirectCount() }

// GetConnectionCount implements raftlock.Metrics, from the in-process
// figures.
func (m *Metrics) GetConnectionCount() int64 { return m.mem.GetConnectionCount() }

// Reset implements raftlock.Metrics. It zeroes the in-process figures that
// the Get* methods and Snapshot answer from, and leaves every Prometheus
// series as it is: counters must never go down, and the connections gauge
// still tells how many connections are open.
func (m *Metrics) Reset() { m.mem.Reset() }

// Snapshot implements raftlock.Metrics, from the in-process figures.
func (m *Metrics) Snapshot() raftlock.MetricsSnapshot { return m.mem.Snapshot() }

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.operations.Describe(ch)
	m.retries.Describe(ch)
	m.redirects.Describe(ch)
	m.conns.Describe(ch)
	m.durations.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.operations.Collect(ch)
	m.retries.Collect(ch)
	m.redirects.Collect(ch)
	m.conns.Collect(ch)
	m.durations.Collect(ch)
}
