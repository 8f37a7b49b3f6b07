package raftlock

import (
	"sync/atomic"
	"time"
)

// Metrics receives what the client observes and answers questions about it.
// The client calls the recording methods (Incr*, ObserveLatency,
// SetConnectionCount) on every operation, from many goroutines at once, so
// an implementation must be safe for concurrent use and cheap: no blocking,
// no I/O. NewInMemoryMetrics is the default; NoopMetrics records nothing; an
// adapter to Prometheus lives in its own package so that programs that do
// not use Prometheus do not link it.
type Metrics interface {
	// IncrSuccess counts an operation that succeeded.
	IncrSuccess(op Op)
	// IncrFailure counts an operation that failed, by its error's class.
	IncrFailure(op Op, code Code)
	// IncrRetry counts one retry of an operation (not the first attempt).
	IncrRetry(op Op)
	// IncrLeaderRedirect counts a request the driver followed to the leader.
	IncrLeaderRedirect()
	// ObserveLatency records how long an operation took, retries included.
	ObserveLatency(op Op, d time.Duration)
	// SetConnectionCount records the driver's open connections.
	SetConnectionCount(n int)

	// GetSuccessCount is the number of operations op that succeeded.
	GetSuccessCount(op Op) int64
	// GetFailureCount is the number of operations op that failed.
	GetFailureCount(op Op) int64
	// GetRetryCount is the number of retries of op.
	GetRetryCount(op Op) int64
	// GetSuccessRate is successes / (successes + failures) of op, or 0
	// when there were none.
	GetSuccessRate(op Op) float64
	// GetAverageLatency is the mean latency of op.
	GetAverageLatency(op Op) time.Duration
	// GetMaxLatency is the largest latency of op seen.
	GetMaxLatency(op Op) time.Duration
	// GetLeaderRedirectCount is the number of leader redirects followed.
	GetLeaderRedirectCount() int64
	// GetConnectionCount is the last connection count reported.
	GetConnectionCount() int64

	// Reset zeroes every figure.
	Reset()
	// Snapshot copies every figure at once.
	Snapshot() MetricsSnapshot
}

// OutcomeObserver is an optional interface of a Metrics that records each
// operation's latency together with how it ended, such as a histogram
// labelled by outcome. For a Metrics that implements it, the client calls
// ObserveOutcome where it would call ObserveLatency; the Incr* calls are
// made as always.
type OutcomeObserver interface {
	// ObserveOutcome records how long operation op took, retries included,
	// and its error: nil for success, else an error whose Code (see CodeOf)
	// classifies the failure.
	ObserveOutcome(op Op, err error, d time.Duration)
}

// MetricsSnapshot is a copy of a Metrics' figures.
type MetricsSnapshot struct {
	Ops             map[Op]OpMetrics // operations seen at least once
	LeaderRedirects int64
	Connections     int64
}

// OpMetrics are one operation's figures.
type OpMetrics struct {
	Successes      int64
	Failures       int64
	Retries        int64
	AverageLatency time.Duration
	MaxLatency     time.Duration
	// FailuresByCode counts failures by error class; nil when none.
	FailuresByCode map[Code]int64
}

// SuccessRate is Successes / (Successes + Failures), or 0 when both are 0.
func (m OpMetrics) SuccessRate() float64 {
	n := m.Successes + m.Failures
	if n == 0 {
		return 0
	}
	return float64(m.Successes) / float64(n)
}

// numCodes bounds the per-code failure counters; codes past it share the
// last slot.
const numCodes = 32

// opCounters are one operation's counters. Every field is an atomic, so
// recording never takes a lock and never waits on a reader.
type opCounters struct {
	successes  atomic.Int64
	failures   atomic.Int64
	retries    atomic.Int64
	latencySum atomic.Int64 // nanoseconds
	latencyN   atomic.Int64
	latencyMax atomic.Int64 // nanoseconds
	byCode     [numCodes]atomic.Int64
}

// InMemoryMetrics keeps the figures in process, with atomic counters: safe
// for concurrent use, lock-free, allocation-free on the recording path.
type InMemoryMetrics struct {
	ops         [numOps + 1]opCounters // the last slot takes unknown Ops
	redirects   atomic.Int64
	connections atomic.Int64
}

// NewInMemoryMetrics returns empty in-memory metrics.
func NewInMemoryMetrics() *InMemoryMetrics { return &InMemoryMetrics{} }

func (m *InMemoryMetrics) op(op Op) *opCounters {
	if op >= numOps {
		return &m.ops[numOps]
	}
	return &m.ops[op]
}

// IncrSuccess implements Metrics.
func (m *InMemoryMetrics) IncrSuccess(op Op) { m.op(op).successes.Add(1) }

// IncrFailure implements Metrics.
func (m *InMemoryMetrics) IncrFailure(op Op, code Code) {
	c := m.op(op)
	c.failures.Add(1)
	c.byCode[min(int(code), numCodes-1)].Add(1)
}

// IncrRetry implements Metrics.
func (m *InMemoryMetrics) IncrRetry(op Op) { m.op(op).retries.Add(1) }

// IncrLeaderRedirect implements Metrics.
func (m *InMemoryMetrics) IncrLeaderRedirect() { m.redirects.Add(1) }

// ObserveLatency implements Metrics.
func (m *InMemoryMetrics) ObserveLatency(op Op, d time.Duration) {
	c := m.op(op)
	c.latencySum.Add(int64(d))
	c.latencyN.Add(1)
	for {
		cur := c.latencyMax.Load()
		if int64(d) <= cur || c.latencyMax.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// SetConnectionCount implements Metrics.
func (m *InMemoryMetrics) SetConnectionCount(n int) { m.connections.Store(int64(n)) }

// GetSuccessCount implements Metrics.
func (m *InMemoryMetrics) GetSuccessCount(op Op) int64 { return m.op(op).successes.Load() }

// GetFailureCount implements Metrics.
func (m *InMemoryMetrics) GetFailureCount(op Op) int64 { return m.op(op).failures.Load() }

// GetRetryCount implements Metrics.
func (m *InMemoryMetrics) GetRetryCount(op Op) int64 { return m.op(op).retries.Load() }

// GetSuccessRate implements Metrics.
func (m *InMemoryMetrics) GetSuccessRate(op Op) float64 {
	return OpMetrics{Successes: m.GetSuccessCount(op), Failures: m.GetFailureCount(op)}.SuccessRate()
}

// GetAverageLatency implements Metrics.
func (m *InMemoryMetrics) GetAverageLatency(op Op) time.Duration {
	c := m.op(op)
	n := c.latencyN.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(c.latencySum.Load() / n)
}

// GetMaxLatency implements Metrics.
func (m *InMemoryMetrics) GetMaxLatency(op Op) time.Duration {
	return time.Duration(m.op(op).latencyMax.Load())
}

// GetLeaderRedirectCount implements Metrics.
func (m *InMemoryMetrics) GetLeaderRedirectCount() int64 { return m.redirects.Load() }

// GetConnectionCount implements Metrics.
func (m *InMemoryMetrics) GetConnectionCount() int64 { return m.connections.Load() }

// Reset implements Metrics. Figures recorded while Reset runs may survive
// it; each counter on its own is zeroed atomically.
func (m *InMemoryMetrics) Reset() {
	for i := range m.ops {
		c := &m.ops[i]
		c.successes.Store(0)
		c.failures.Store(0)
		c.retries.Store(0)
		c.latencySum.Store(0)
		c.latencyN.Store(0)
		c.latencyMax.Store(0)
		for j := range c.byCode {
			c.byCode[j].Store(0)
		}
	}
	m.redirects.Store(0)
	m.connections.Store(0)
}

// Snapshot implements Metrics.
func (m *InMemoryMetrics) Snapshot() MetricsSnapshot {
	s := MetricsSnapshot{
		Ops:             make(map[Op]OpMetrics),
		LeaderRedirects: m.redirects.Load(),
		Connections:     m.connections.Load(),
	}
	for op := Op(0); op < numOps; op++ {
		om := OpMetrics{
			Successes:      m.GetSuccessCount(op),
			Failures:       m.GetFailureCount(op),
			Retries:        m.GetRetryCount(op),
			AverageLatency: m.GetAverageLatency(op),
			MaxLatency:     m.GetMaxLatency(op),
		}
		if om.Successes == 0 && om.Failures == 0 && om.Retries == 0 {
			continue
		}
		c := m.op(op)
		for code := range c.byCode {
			if n := c.byCode[code].Load(); n > 0 {
				if om.FailuresByCode == nil {
					om.FailuresByCode = make(map[Code]int64)
				}
				om.FailuresByCode[Code(code)] = n
			}
		}
		s.Ops[op] = om
	}
	return s
}

// NoopMetrics records nothing and answers zero. Use it to take metrics off
// the hot path entirely.
type NoopMetrics struct{}

// IncrSuccess implements Metrics.
func (NoopMetrics) IncrSuccess(Op) {}

// IncrFailure implements Metrics.
func (NoopMetrics) IncrFailure(Op, Code) {}

// IncrRetry implements Metrics.
func (NoopMetrics) IncrRetry(Op) {}

// IncrLeaderRedirect implements Metrics.
func (NoopMetrics) IncrLeaderRedirect() {}

// ObserveLatency implements Metrics.
func (NoopMetrics) ObserveLatency(Op, time.Duration) {}

// SetConnectionCount implements Metrics.
func (NoopMetrics) SetConnectionCount(int) {}

// GetSuccessCount implements Metrics.
func (NoopMetrics) GetSuccessCount(Op) int64 { return 0 }

// GetFailureCount implements Metrics.
func (NoopMetrics) GetFailureCount(Op) int64 { return 0 }

// GetRetryCount implements Metrics.
func (NoopMetrics) GetRetryCount(Op) int64 { return 0 }

// GetSuccessRate implements Metrics.
func (NoopMetrics) GetSuccessRate(Op) float64 { return 0 }

// GetAverageLatency implements Metrics.
func (NoopMetrics) GetAverageLatency(Op) time.Duration { return 0 }

// GetMaxLatency implements Metrics.
func (NoopMetrics) GetMaxLatency(Op) time.Duration { return 0 }

// GetLeaderRedirectCount implements Metrics.
func (NoopMetrics) GetLeaderRedirectCount() int64 { return 0 }

// GetConnectionCount implements Metrics.
func (NoopMetrics) GetConnectionCount() int64 { return 0 }

// Reset implements Metrics.
func (NoopMetrics) Reset() {}

// Snapshot implements Metrics.
func (NoopMetrics) Snapshot() MetricsSnapshot { return MetricsSnapshot{Ops: map[Op]OpMetrics{}} }

var (
	_ Metrics = (*InMemoryMetrics)(nil)
	_ Metrics = NoopMetrics{}
)
