package main

import (
	"context"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftlock/raftlock/internal/raftpb"
	"github.com/raftlock/raftlock/raftbackend"
)

// metricsNamespace starts every series name of the server, as it does the
// client's (package prommetrics), whose series are under
// raftlock_client_ and so never collide with these.
const metricsNamespace = "raftlock"

// nodeCollector exports raftbackend.Node.Stats as Prometheus series. It
// reads the node at each scrape, so recording costs the node nothing beyond
// its own atomic counters; before the node runs it exports nothing.
type nodeCollector struct {
	node *atomic.Pointer[raftbackend.Node]
}

// A desc of nodeCollector and how its value is read from a NodeStats.
type nodeGauge struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*raftbackend.NodeStats) float64
}

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "", name), help, labels, nil)
}

var (
	infoDesc = newDesc("node_info",
		"Always 1; the labels name the node and the addresses it serves.", "node", "raft_address", "api_address")
	stateDesc = newDesc("raft_state",
		`1 for the node's current Raft role, 0 for the others.`, "state")
	commitDesc = newDesc("commit_duration_seconds",
		"Time from proposing a log entry to its answer on this node while it leads: replication to a quorum, fsync and apply. Entries that failed are not counted.")
	applyDesc = newDesc("apply_duration_seconds",
		"Time the state machine took to apply each batch of committed log entries.")

	// raftStates are the values of the raft_state label, all exported so
	// that a query sees a 0 rather than no series.
	raftStates = []string{raftbackend.StateFollower, raftbackend.StateCandidate, raftbackend.StateLeader, raftbackend.StateShutdown}

	nodeGauges = []nodeGauge{
		{newDesc("raft_leader_known", "1 while the node knows a leader of its cluster (and its health check says SERVING), 0 otherwise."),
			prometheus.GaugeValue, func(s *raftbackend.NodeStats) float64 { return boolValue(s.LeaderKnown) }},
		{newDesc("raft_term", "The node's current Raft term."),
			prometheus.GaugeValue, func(s *raftbackend.NodeStats) float64 { return float64(s.Term) }},
		{newDesc("raft_commit_index", "Index of the latest log entry the node knows to be committed."),
			prometheus.GaugeValue, func(s *raftbackend.NodeStats) float64 { return float64(s.CommitIndex) }},
		{newDesc("raft_applied_index", "Index of the latest log entry the node's state machine applied."),
			prometheus.GaugeValue, func(s *raftbackend.NodeStats) float64 { return float64(s.AppliedIndex) }},
		{newDesc("raft_last_log_index", "Index of the latest entry in the node's log or snapshot."),
			prometheus.GaugeValue, func(s *raftbackend.NodeStats) float64 { return float64(s.LastLogIndex) }},
		{newDesc("raft_last_contact_seconds", "Time since the node last heard from a leader: 0 while it leads, +Inf if it never has since it started."),
			prometheus.GaugeValue, func(s *raftbackend.NodeStats) float64 {
				if s.LastContact < 0 {
					return math.Inf(1)
				}
				return s.LastContact.Seconds()
			}},
		{newDesc("raft_voters", "Voters in the latest cluster configuration, this node included if it votes."),
			prometheus.GaugeValue, func(s *raftbackend.NodeStats) float64 { return float64(s.Voters) }},
		{newDesc("raft_peers", "Servers in the latest cluster configuration other than this node."),
			prometheus.GaugeValue, func(s *raftbackend.NodeStats) float64 { return float64(s.Peers) }},
		{newDesc("locks_held", "Locks held, in the node's copy of the lock table."),
			prometheus.GaugeValue, func(s *raftbackend.NodeStats) float64 { return float64(s.LocksHeld) }},
		{newDesc("waiters", "Clients queued for a lock, over all locks, in the node's copy of the lock table."),
			prometheus.GaugeValue, func(s *raftbackend.NodeStats) float64 { return float64(s.Waiters) }},
		{newDesc("grants_total", "Lock grants the node applied, hand-offs to waiters included. Every node counts the same grants."),
			prometheus.CounterValue, func(s *raftbackend.NodeStats) float64 { return float64(s.Grants) }},
		{newDesc("handoffs_total", "Grants to the head of a wait queue, by a release or an expiry, that the node applied."),
			prometheus.CounterValue, func(s *raftbackend.NodeStats) float64 { return float64(s.Handoffs) }},
		{newDesc("releases_total", "Grants released by their holders that the node applied."),
			prometheus.CounterValue, func(s *raftbackend.NodeStats) float64 { return float64(s.Releases) }},
		{newDesc("expiries_total", "Grants whose lease ran out that the node applied."),
			prometheus.CounterValue, func(s *raftbackend.NodeStats) float64 { return float64(s.Expiries) }},
		{newDesc("renewals_total", "Successful lease renewals the node applied."),
			prometheus.CounterValue, func(s *raftbackend.NodeStats) float64 { return float64(s.Renewals) }},
		{newDesc("proposed_entries_total", "Log entries the node proposed while it led."),
			prometheus.CounterValue, func(s *raftbackend.NodeStats) float64 { return float64(s.ProposedEntries) }},
		{newDesc("proposed_commands_total", "Commands packed into the log entries the node proposed; over proposed_entries_total, how many commands share an entry."),
			prometheus.CounterValue, func(s *raftbackend.NodeStats) float64 { return float64(s.ProposedCommands) }},
	}
)

var _ prometheus.Collector = (*nodeCollector)(nil)

// Describe sends every desc of the collector.
func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- infoDesc
	ch <- stateDesc
	ch <- commitDesc
	ch <- applyDesc
	for _, g := range nodeGauges {
		ch <- g.desc
	}
}

// Collect reads the node's stats once and sends every series.
func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.node.Load()
	if n == nil {
		return
	}
	s := n.Stats()
	send := func(m prometheus.Metric, err error) {
		// The descs and label counts are fixed above, so an error here is
		// a bug; the series is left out rather than the scrape failed.
		if err == nil {
			ch <- m
		}
	}
	send(prometheus.NewConstMetric(infoDesc, prometheus.GaugeValue, 1, s.NodeID, n.RaftAddress(), n.APIAddress()))
	for _, st := range raftStates {
		send(prometheus.NewConstMetric(stateDesc, prometheus.GaugeValue, boolValue(s.State == st), st))
	}
	for _, g := range nodeGauges {
		send(prometheus.NewConstMetric(g.desc, g.kind, g.value(&s)))
	}
	send(constHistogram(commitDesc, s.Commit))
	send(constHistogram(applyDesc, s.Apply))
}

// constHistogram turns a node's latency histogram into a Prometheus one.
func constHistogram(desc *prometheus.Desc, h raftbackend.LatencyStats) (prometheus.Metric, error) {
	buckets := make(map[float64]uint64, len(h.Buckets))
	for _, b := range h.Buckets {
		buckets[b.UpperBound.Seconds()] = b.Count
	}
	return prometheus.NewConstHistogram(desc, h.Count, h.Sum.Seconds(), buckets)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// rpcBuckets are the upper bounds, in seconds, of the RPC latency
// histogram. They reach a minute because a waiting Acquire lasts as long as
// its wait.
var rpcBuckets = []float64{
	0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05,
	0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 30, 60,
}

// rpcMetrics counts and times the calls of the gRPC server: the unary and
// stream interceptors record each call when it ends, with its full method
// name ("raftlock.v1.RaftLock/TryAcquire") and its status code ("OK",
// "Unavailable"); a lock call on a Calls stream counts as the call it
// replaces. gRPC runs interceptors only for the methods the server
// registered, so the method label takes a bounded set of values, whatever
// names clients send.
type rpcMetrics struct {
	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec

	// byMethod caches each method's children, so that recording a call
	// neither hashes label values nor allocates after its method's first
	// call: method name -> *methodMetrics.
	byMethod sync.Map
}

// methodMetrics are one method's children of rpcMetrics' vectors.
type methodMetrics struct {
	name     string
	duration prometheus.Observer
	// byCode holds a counter per status code, made on the code's first
	// use: most (method, code) pairs never happen, and a series made up
	// front would be exported at zero forever.
	byCode [codes.Unauthenticated + 1]atomic.Pointer[prometheus.Counter]
}

var _ prometheus.Collector = (*rpcMetrics)(nil)

func newRPCMetrics() *rpcMetrics {
	return &rpcMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "rpc_requests_total",
			Help:      `gRPC calls the node's client API finished, by full method name and status code.`,
		}, []string{"method", "code"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace,
			Name:      "rpc_duration_seconds",
			Help:      "Duration of the gRPC calls of the node's client API, by full method name; a waiting Acquire's includes its wait.",
			Buckets:   rpcBuckets,
		}, []string{"method"}),
	}
}

// Describe sends the descs of both vectors.
func (m *rpcMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.requests.Describe(ch)
	m.durations.Describe(ch)
}

// Collect sends the series of both vectors.
func (m *rpcMetrics) Collect(ch chan<- prometheus.Metric) {
	m.requests.Collect(ch)
	m.durations.Collect(ch)
}

// unary is the grpc.UnaryServerInterceptor that records unary calls.
func (m *rpcMetrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	m.record(info.FullMethod, start, err)
	return resp, err
}

// stream is the grpc.StreamServerInterceptor that records streams, and
// each call on a Calls stream as the call it stands for.
func (m *rpcMetrics) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	if info.FullMethod == raftpb.RaftLock_Calls_FullMethodName {
		ss = &callsStream{ServerStream: ss, m: m, started: make(map[uint64]callStart)}
	}
	err := handler(srv, ss)
	m.record(info.FullMethod, start, err)
	return err
}

// callsStream records the calls of a Calls stream one by one: from the
// Call's arrival to its Reply, under the full method name of the unary
// call (or Acquire stream) it replaces, so that a node's series mean the
// same whichever way its clients send.
type callsStream struct {
	grpc.ServerStream
	m *rpcMetrics

	mu      sync.Mutex
	started map[uint64]callStart // by call id, until its Reply
}

// callStart is when a call came and what it stands for.
type callStart struct {
	method string
	at     time.Time
}

// RecvMsg implements grpc.ServerStream.
func (s *callsStream) RecvMsg(msg any) error {
	if err := s.ServerStream.RecvMsg(msg); err != nil {
		return err
	}
	if c, ok := msg.(*raftpb.Call); ok {
		if method := callMethod(c); method != "" {
			s.mu.Lock()
			if _, dup := s.started[c.GetId()]; !dup {
				s.started[c.GetId()] = callStart{method: method, at: time.Now()}
			}
			s.mu.Unlock()
		}
	}
	return nil
}

// SendMsg implements grpc.ServerStream.
func (s *callsStream) SendMsg(msg any) error {
	if r, ok := msg.(*raftpb.Reply); ok {
		s.mu.Lock()
		c, found := s.started[r.GetId()]
		delete(s.started, r.GetId())
		s.mu.Unlock()
		if found {
			var err error
			if e := r.GetError(); e != nil {
				err = status.Error(codes.Code(e.GetGrpcCode()), e.GetMessage())
			}
			s.m.record(c.method, c.at, err)
		}
	}
	return s.ServerStream.SendMsg(msg)
}

// callMethod is the full method name of the call c replaces; "" for a
// cancel or a call of a kind this build does not know.
func callMethod(c *raftpb.Call) string {
	switch op := c.GetOp().(type) {
	case *raftpb.Call_Acquire:
		if op.Acquire.GetWait() {
			return raftpb.RaftLock_Acquire_FullMethodName
		}
		return raftpb.RaftLock_TryAcquire_FullMethodName
	case *raftpb.Call_Release:
		return raftpb.RaftLock_Release_FullMethodName
	case *raftpb.Call_Renew:
		return raftpb.RaftLock_Renew_FullMethodName
	case *raftpb.Call_GetLockInfo:
		return raftpb.RaftLock_GetLockInfo_FullMethodName
	}
	return ""
}

// record counts one call of fullMethod that began at start and ended with
// err.
func (m *rpcMetrics) record(fullMethod string, start time.Time, err error) {
	elapsed := time.Since(start)
	mm := m.method(fullMethod)
	mm.duration.Observe(elapsed.Seconds())
	code := status.Code(err)
	if int(code) >= len(mm.byCode) {
		// A code newer than this build's list: rare enough to look up.
		m.requests.WithLabelValues(mm.name, code.String()).Inc()
		return
	}
	slot := &mm.byCode[code]
	c := slot.Load()
	if c == nil {
		// Two calls may both get here; the vector returns the same child
		// to both.
		counter := m.requests.WithLabelValues(mm.name, code.String())
		c = &counter
		slot.Store(c)
	}
	(*c).Inc()
}

// method returns fullMethod's children, making them on its first call.
func (m *rpcMetrics) method(fullMethod string) *methodMetrics {
	if mm, ok := m.byMethod.Load(fullMethod); ok {
		return mm.(*methodMetrics)
	}
	name := strings.TrimPrefix(fullMethod, "/")
	mm := &methodMetrics{name: name, duration: m.durations.WithLabelValues(name)}
	actual, _ := m.byMethod.LoadOrStore(fullMethod, mm)
	return actual.(*methodMetrics)
}
