package raftbackend

import (
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// The values of NodeStats.State.
const (
	StateFollower  = "follower"
	StateCandidate = "candidate"
	StateLeader    = "leader"
	StateShutdown  = "shutdown"
)

// NodeStats is a snapshot of one node's figures, for monitoring: its part
// in the Raft cluster, the size of the lock table, and counters of what the
// node did since its process started.
//
// The state-machine counters (Grants to Renewals) count entries as this
// node applies them, so every node of a cluster counts the same events,
// and a restarted node counts again the entries it replays from its log.
// Counters only grow while the process runs; the gauges are read at the
// moment of the call, each on its own, so two of them may disagree by an
// entry under load.
type NodeStats struct {
	// NodeID is the node's Raft server ID.
	NodeID string
	// State is the node's Raft role: StateLeader, StateFollower,
	// StateCandidate or StateShutdown.
	State string
	// LeaderKnown reports whether the node knows a leader of its cluster
	// (itself included); LeaderID names it, "" when none is known. The
	// node's grpc.health.v1 status follows it: SERVING while a leader is
	// known, NOT_SERVING otherwise.
	LeaderKnown bool
	LeaderID    string
	// Term is the node's current Raft term.
	Term uint64
	// CommitIndex is the index of the latest entry the node knows to be
	// committed; AppliedIndex that of the latest entry its state machine
	// applied; LastLogIndex that of the latest entry in its log or
	// snapshot.
	CommitIndex  uint64
	AppliedIndex uint64
	LastLogIndex uint64
	// LastContact is the time since the node last heard from a leader: 0
	// while it leads, negative if it never has since it started.
	LastContact time.Duration
	// Voters counts the voters of the latest cluster configuration, this
	// node included if it votes; Peers the servers in it other than this
	// node.
	Voters int
	Peers  int

	// LocksHeld is the number of locks held; Waiters the number of
	// clients queued over all locks.
	LocksHeld int
	Waiters   int

	// Grants counts every grant, hand-offs included; Handoffs the grants
	// made to the head of a wait queue by a Release or an expiry. Releases
	// counts the grants their holders released, Expiries the grants that
	// ended because their lease ran out, Renewals the successful renewals.
	// A request answered again from the dedupe table counts once.
	Grants   uint64
	Handoffs uint64
	Releases uint64
	Expiries uint64
	Renewals uint64

	// ProposedEntries counts the log entries this node proposed while it
	// led, ProposedCommands the commands packed into them; their ratio is
	// how many commands share an entry.
	ProposedEntries  uint64
	ProposedCommands uint64

	// Commit is the latency of the entries this node proposed, from the
	// proposal to the answer: replication to a quorum, the fsync of the
	// log, and the state machine's apply. Entries that failed (leadership
	// lost) are not counted.
	Commit LatencyStats
	// Apply is the time the state machine took to apply each batch of
	// committed entries that Raft handed it, on every node.
	Apply LatencyStats
}

// LatencyStats is a latency histogram with fixed buckets, in the shape a
// Prometheus histogram takes.
type LatencyStats struct {
	// Count is the number of observations, Sum their total.
	Count uint64
	Sum   time.Duration
	// Buckets are cumulative, by increasing upper bound: each counts the
	// observations at or below its bound. Observations above the last
	// bound are counted only in Count.
	Buckets []LatencyBucket
}

// LatencyBucket is one bucket of a LatencyStats.
type LatencyBucket struct {
	// UpperBound is the bucket's inclusive upper bound.
	UpperBound time.Duration
	// Count is the number of observations at or below UpperBound.
	Count uint64
}

// Stats returns a snapshot of the node's figures. It takes no lock that a
// lock command waits for other than a moment of the state machine's read
// lock, and it is meant to be called every few seconds by a scraper, not
// on a request path.
func (n *Node) Stats() NodeStats {
	s := NodeStats{
		NodeID:           n.cfg.NodeID,
		State:            stateName(n.raft.State()),
		Term:             n.raft.CurrentTerm(),
		CommitIndex:      n.raft.CommitIndex(),
		AppliedIndex:     n.raft.AppliedIndex(),
		LastLogIndex:     n.raft.LastIndex(),
		ProposedEntries:  uint64(n.batch.entries.Load()),
		ProposedCommands: uint64(n.batch.commands.Load()),
		Commit:           n.batch.latency.snapshot(),
	}
	if _, id := n.raft.LeaderWithID(); id != "" {
		s.LeaderKnown, s.LeaderID = true, string(id)
	}
	switch last := n.raft.LastContact(); {
	case s.State == StateLeader:
		// raft updates the time of last contact only on followers; a
		// leader's would be that of its last term as a follower.
	case last.IsZero():
		s.LastContact = -1
	default:
		s.LastContact = time.Since(last)
	}
	// The latest configuration is kept by raft in an atomic value: reading
	// it does not wait for raft's main loop.
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			if srv.Suffrage == raft.Voter {
				s.Voters++
			}
			if string(srv.ID) != n.cfg.NodeID {
				s.Peers++
			}
		}
	}

	n.fsm.mu.RLock()
	s.LocksHeld, s.Waiters = len(n.fsm.locks), n.fsm.waiters
	n.fsm.mu.RUnlock()
	c := &n.fsm.stats
	s.Grants = c.grants.Load()
	s.Handoffs = c.handoffs.Load()
	s.Releases = c.releases.Load()
	s.Expiries = c.expiries.Load()
	s.Renewals = c.renewals.Load()
	s.Apply = c.apply.snapshot()
	return s
}

// stateName is the NodeStats.State of a raft state.
func stateName(s raft.RaftState) string {
	switch s {
	case raft.Leader:
		return StateLeader
	case raft.Candidate:
		return StateCandidate
	case raft.Shutdown:
		return StateShutdown
	}
	return StateFollower
}

// fsmCounters count what the state machine did. The state machine only adds
// to them, with atomics because Stats reads them without its lock; none of
// its decisions reads them, so they cannot make two nodes' states differ.
type fsmCounters struct {
	grants, handoffs, releases, expiries, renewals atomic.Uint64
	apply                                          latencyHistogram
}

func (c *fsmCounters) granted()   { c.grants.Add(1) }
func (c *fsmCounters) handedOff() { c.handoffs.Add(1) }
func (c *fsmCounters) released()  { c.releases.Add(1) }
func (c *fsmCounters) expired()   { c.expiries.Add(1) }
func (c *fsmCounters) renewed()   { c.renewals.Add(1) }

// latencyBounds are the upper bounds of the latency histograms' buckets:
// from a fast local commit (tens of microseconds on an idle machine with a
// fast disk) to a commit stuck behind a slow disk or a lost quorum.
var latencyBounds = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// latencyHistogram counts durations into latencyBounds' buckets with
// atomics: recording takes no lock and allocates nothing.
type latencyHistogram struct {
	// counts are per bucket, not cumulative; the last is above every bound.
	counts [len(latencyBounds) + 1]atomic.Uint64
	sum    atomic.Int64 // nanoseconds
}

// observe records one duration.
func (h *latencyHistogram) observe(d time.Duration) {
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}

// since records the time from start until now.
func (h *latencyHistogram) since(start time.Time) { h.observe(time.Since(start)) }

// snapshot returns the histogram as it stands. Count is the sum of the
// buckets read, so it always agrees with them, even while observations
// are being recorded; Sum may be a few observations ahead or behind.
func (h *latencyHistogram) snapshot() LatencyStats {
	s := LatencyStats{Buckets: make([]LatencyBucket, len(latencyBounds))}
	for i, b := range latencyBounds {
		s.Count += h.counts[i].Load()
		s.Buckets[i] = LatencyBucket{UpperBound: b, Count: s.Count}
	}
	s.Count += h.counts[len(latencyBounds)].Load()
	s.Sum = time.Duration(h.sum.Load())
	return s
}

// timedFSM is the state machine as raft sees it: it measures how long
// each batch of entries takes to apply. The measuring is done here rather
// than in the state machine, which reads no clock.
type timedFSM struct{ *fsm }

var _ raft.BatchingFSM = timedFSM{}

// Apply applies one entry; see fsm.ApplyBatch.
func (t timedFSM) Apply(l *raft.Log) any {
	return t.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed entries; see fsm.ApplyBatch.
func (t timedFSM) ApplyBatch(logs []*raft.Log) []any {
	defer t.stats.apply.since(time.Now())
	return t.fsm.ApplyBatch(logs)
}
