package raftlock

import (
	"sync"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

func TestInMemoryMetricsCounts(t *testing.T) {
	m := NewInMemoryMetrics()
	m.IncrSuccess(OpAcquire)
	m.IncrSuccess(OpAcquire)
	m.IncrSuccess(OpAcquire)
	m.IncrFailure(OpAcquire, backend.CodeLockHeld)
	m.IncrRetry(OpRelease)
	m.IncrLeaderRedirect()
	m.SetConnectionCount(3)
	m.ObserveLatency(OpAcquire, 10*time.Millisecond)
	m.ObserveLatency(OpAcquire, 30*time.Millisecond)

	if got := m.GetSuccessCount(OpAcquire); got != 3 {
		t.Errorf("successes = %d, want 3", got)
	}
	if got := m.GetFailureCount(OpAcquire); got != 1 {
		t.Errorf("failures = %d, want 1", got)
	}
	if got := m.GetSuccessRate(OpAcquire); got != 0.75 {
		t.Errorf("success rate = %v, want 0.75", got)
	}
	if got := m.GetSuccessRate(OpRenew); got != 0 {
		t.Errorf("success rate of an unused op = %v, want 0", got)
	}
	if got := m.GetRetryCount(OpRelease); got != 1 {
		t.Errorf("retries = %d, want 1", got)
	}
	if got := m.GetAverageLatency(OpAcquire); got != 20*time.Millisecond {
		t.Errorf("average latency = %v, want 20ms", got)
	}
	if got := m.GetMaxLatency(OpAcquire); got != 30*time.Millisecond {
		t.Errorf("max latency = %v, want 30ms", got)
	}
	if m.GetLeaderRedirectCount() != 1 || m.GetConnectionCount() != 3 {
		t.Errorf("redirects, connections = %d, %d; want 1, 3", m.GetLeaderRedirectCount(), m.GetConnectionCount())
	}

	s := m.Snapshot()
	if len(s.Ops) != 2 {
		t.Errorf("snapshot has %d ops, want 2 (acquire, release): %+v", len(s.Ops), s.Ops)
	}
	a := s.Ops[OpAcquire]
	if a.Successes != 3 || a.Failures != 1 || a.FailuresByCode[backend.CodeLockHeld] != 1 || a.SuccessRate() != 0.75 {
		t.Errorf("snapshot of acquire = %+v", a)
	}

	m.Reset()
	if m.GetSuccessCount(OpAcquire) != 0 || m.GetMaxLatency(OpAcquire) != 0 || m.GetLeaderRedirectCount() != 0 || len(m.Snapshot().Ops) != 0 {
		t.Errorf("Reset left figures behind: %+v", m.Snapshot())
	}
}

func TestInMemoryMetricsConcurrent(t *testing.T) {
	m := NewInMemoryMetrics()
	const goroutines, each = 8, 1000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				m.IncrSuccess(OpRenew)
				m.ObserveLatency(OpRenew, time.Duration(g*each+i))
				if i%100 == 0 {
					_ = m.Snapshot() // readers never block writers
				}
			}
		})
	}
	wg.Wait()
	if got := m.GetSuccessCount(OpRenew); got != goroutines*each {
		t.Fatalf("successes = %d, want %d", got, goroutines*each)
	}
	if got := m.GetMaxLatency(OpRenew); got != time.Duration(goroutines*each-1) {
		t.Fatalf("max latency = %d, want %d", got, goroutines*each-1)
	}
}

func TestInMemoryMetricsUnknownOp(t *testing.T) {
	m := NewInMemoryMetrics()
	m.IncrSuccess(Op(200))
	m.IncrFailure(Op(200), Code(250))
	if m.GetSuccessCount(Op(201)) != 1 {
		t.Fatal("unknown ops should share one bucket, not panic or vanish")
	}
}

func TestNoopMetrics(t *testing.T) {
	var m Metrics = NoopMetrics{}
	m.IncrSuccess(OpAcquire)
	m.ObserveLatency(OpAcquire, time.Second)
	if m.GetSuccessCount(OpAcquire) != 0 || m.Snapshot().Ops == nil {
		t.Fatal("NoopMetrics must record nothing and return an empty, usable snapshot")
	}
}

func TestOpString(t *testing.T) {
	seen := map[string]bool{}
	for _, op := range Ops() {
		s := op.String()
		if s == "" || seen[s] {
			t.Fatalf("op %d has an empty or duplicate name %q", op, s)
		}
		seen[s] = true
	}
	if Op(99).String() != "op(99)" {
		t.Fatalf("unknown op = %q", Op(99).String())
	}
}
