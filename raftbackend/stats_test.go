package raftbackend

import (
	"context"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// Stats counts what a burst of operations did on a real cluster: grants,
// a hand-off to a waiter, releases, a renewal and an expiry, each once even
// when its request is sent again; and every node counts the same events.
func TestStatsCountOperations(t *testing.T) {
	c := startCluster(t, 3, nil)
	n := c.nodes[c.leader()]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	before := n.Stats()
	if before.Grants != 0 || before.Releases != 0 || before.LocksHeld != 0 {
		t.Fatalf("a fresh cluster's stats: %+v", before)
	}

	acq := &backend.AcquireRequest{LockID: "stats/a", ClientID: "c1", TTL: time.Minute, RequestID: "c1-1"}
	first, err := n.Acquire(ctx, acq)
	must("acquire", err)
	// The same request again, and the holder asking again: no new grant.
	_, err = n.Acquire(ctx, acq)
	must("acquire again", err)
	_, err = n.Acquire(ctx, &backend.AcquireRequest{LockID: "stats/a", ClientID: "c1", TTL: time.Minute, RequestID: "c1-2"})
	must("acquire by the holder", err)

	q, err := n.Enqueue(ctx, &backend.EnqueueRequest{LockID: "stats/a", ClientID: "c2", TTL: time.Minute, WaitTimeout: time.Minute, RequestID: "c2-1"})
	must("enqueue", err)
	if q.Granted {
		t.Fatal("enqueue behind a holder was granted")
	}
	if s := n.Stats(); s.LocksHeld != 1 || s.Waiters != 1 {
		t.Errorf("with a holder and a waiter: %d locks held, %d waiters", s.LocksHeld, s.Waiters)
	}

	_, err = n.Renew(ctx, &backend.RenewRequest{LockID: "stats/a", ClientID: "c1", Version: first.Lock.Version, TTL: time.Minute, RequestID: "c1-3"})
	must("renew", err)
	rel := &backend.ReleaseRequest{LockID: "stats/a", ClientID: "c1", Version: first.Lock.Version, RequestID: "c1-4"}
	res, err := n.Release(ctx, rel)
	must("release", err)
	if res.NextOwner != "c2" {
		t.Fatalf("release handed the lock to %q, want c2", res.NextOwner)
	}
	_, err = n.Release(ctx, rel) // a retry: answered from the dedupe table
	must("release again", err)

	info, err := n.Get(ctx, &backend.GetRequest{LockID: "stats/a"})
	must("get", err)
	_, err = n.Release(ctx, &backend.ReleaseRequest{LockID: "stats/a", ClientID: "c2", Version: info.Version, RequestID: "c2-2"})
	must("release by the new holder", err)

	_, err = n.Acquire(ctx, &backend.AcquireRequest{LockID: "stats/short", ClientID: "c3", TTL: 50 * time.Millisecond, RequestID: "c3-1"})
	must("acquire with a short TTL", err)
	deadline := time.Now().Add(20 * time.Second)
	for n.Stats().Expiries == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the short lease did not expire within 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}

	want := NodeStats{Grants: 3, Handoffs: 1, Releases: 2, Expiries: 1, Renewals: 1}
	got := n.Stats()
	checkCounters(t, "leader", got, want)
	if got.LocksHeld != 0 || got.Waiters != 0 {
		t.Errorf("leader: %d locks held, %d waiters after everything ended, want 0 and 0", got.LocksHeld, got.Waiters)
	}
	if got.State != StateLeader || !got.LeaderKnown || got.LeaderID != n.ID() || got.NodeID != n.ID() {
		t.Errorf("leader: state %q, leader known %v, leader %q, node %q", got.State, got.LeaderKnown, got.LeaderID, got.NodeID)
	}
	if got.Term == 0 || got.AppliedIndex == 0 || got.CommitIndex < got.AppliedIndex || got.LastLogIndex < got.CommitIndex {
		t.Errorf("leader: term %d, commit %d, applied %d, last log %d", got.Term, got.CommitIndex, got.AppliedIndex, got.LastLogIndex)
	}
	if got.LastContact != 0 || got.Voters != 3 || got.Peers != 2 {
		t.Errorf("leader: last contact %v, %d voters, %d peers; want 0, 3, 2", got.LastContact, got.Voters, got.Peers)
	}
	// Nine commands went through the log one by one, besides the
	// LeaderChange and the expiry: at least that many committed entries.
	if got.ProposedEntries < 9 || got.ProposedCommands < got.ProposedEntries {
		t.Errorf("leader: %d entries proposed with %d commands", got.ProposedEntries, got.ProposedCommands)
	}
	checkLatency(t, "leader commit", got.Commit, 9, got.ProposedEntries)
	checkLatency(t, "leader apply", got.Apply, 1, got.AppliedIndex)

	c.waitConverged()
	for i, f := range c.nodes {
		if f == n {
			continue
		}
		s := f.Stats()
		checkCounters(t, c.cfgs[i].NodeID, s, want)
		if s.State != StateFollower || s.LeaderID != n.ID() || s.LastContact < 0 || s.Voters != 3 || s.Peers != 2 {
			t.Errorf("%s: state %q, leader %q, last contact %v, %d voters, %d peers",
				c.cfgs[i].NodeID, s.State, s.LeaderID, s.LastContact, s.Voters, s.Peers)
		}
		if s.Commit.Count > s.ProposedEntries {
			t.Errorf("%s: %d commits of %d entries proposed", c.cfgs[i].NodeID, s.Commit.Count, s.ProposedEntries)
		}
		checkLatency(t, c.cfgs[i].NodeID+" apply", s.Apply, 1, s.AppliedIndex)
	}
}

func checkCounters(t *testing.T, who string, got, want NodeStats) {
	t.Helper()
	if got.Grants != want.Grants || got.Handoffs != want.Handoffs || got.Releases != want.Releases ||
		got.Expiries != want.Expiries || got.Renewals != want.Renewals {
		t.Errorf("%s: grants %d, hand-offs %d, releases %d, expiries %d, renewals %d; want %d, %d, %d, %d, %d", who,
			got.Grants, got.Handoffs, got.Releases, got.Expiries, got.Renewals,
			want.Grants, want.Handoffs, want.Releases, want.Expiries, want.Renewals)
	}
}

// checkLatency checks a histogram's shape: between least and most
// observations, a positive sum, cumulative buckets.
func checkLatency(t *testing.T, what string, h LatencyStats, least, most uint64) {
	t.Helper()
	if h.Count < least || h.Count > most || h.Sum <= 0 {
		t.Errorf("%s: %d observations summing to %v, want %d to %d and a positive sum", what, h.Count, h.Sum, least, most)
	}
	if len(h.Buckets) == 0 {
		t.Fatalf("%s: no buckets", what)
	}
	var prev LatencyBucket
	for _, b := range h.Buckets {
		if b.UpperBound <= prev.UpperBound || b.Count < prev.Count || b.Count > h.Count {
			t.Errorf("%s: buckets not cumulative: %+v", what, h.Buckets)
			break
		}
		prev = b
	}
}

func TestLatencyHistogram(t *testing.T) {
	var h latencyHistogram
	for _, d := range []time.Duration{0, 100 * time.Microsecond, 101 * time.Microsecond, time.Millisecond, time.Minute} {
		h.observe(d)
	}
	s := h.snapshot()
	if s.Count != 5 || s.Sum != time.Minute+1201*time.Microsecond {
		t.Errorf("count %d, sum %v", s.Count, s.Sum)
	}
	at := func(bound time.Duration) uint64 {
		for _, b := range s.Buckets {
			if b.UpperBound == bound {
				return b.Count
			}
		}
		t.Fatalf("no bucket with bound %v", bound)
		return 0
	}
	// Bounds are inclusive; a minute is above the last bound.
	if at(100*time.Microsecond) != 2 || at(250*time.Microsecond) != 3 || at(time.Millisecond) != 4 || at(10*time.Second) != 4 {
		t.Errorf("buckets %+v", s.Buckets)
	}
}

// Recording allocates nothing: it runs for every committed entry.
func TestLatencyHistogramAllocs(t *testing.T) {
	var h latencyHistogram
	if a := testing.AllocsPerRun(100, func() { h.observe(3 * time.Millisecond) }); a != 0 {
		t.Errorf("observe allocates %v times", a)
	}
}
