package raftbackend

import (
	"context"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

func TestStatusMembersAndLeave(t *testing.T) {
	c := startCluster(t, 3, nil)
	ctx := context.Background()
	d, err := Dial(ctx, c.endpoints(c.follower()))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "s", ClientID: "c", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	st, err := d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader := c.nodes[c.leader()]
	if st.Role != "leader" || st.Leader != leader.APIAddress() || st.Term == 0 || st.AppliedIndex == 0 ||
		st.HeldLocks != 1 || len(st.Peers) != 3 {
		t.Fatalf("status %+v", st)
	}
	for _, p := range st.Peers {
		if p.MatchIndex == 0 || !p.Voter {
			t.Fatalf("peer %+v has no replication figures", p)
		}
	}
	h, err := d.Health(ctx)
	if err != nil || !h.Serving {
		t.Fatalf("health %+v, %v", h, err)
	}

	ms, err := d.Members(ctx)
	if err != nil || len(ms) != 3 {
		t.Fatalf("members %+v, %v", ms, err)
	}
	leaders := 0
	for _, m := range ms {
		if m.APIAddress == "" || m.RaftAddress == "" {
			t.Fatalf("member without addresses: %+v", m)
		}
		if m.Leader {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders among %+v", leaders, ms)
	}

	gone := c.follower()
	if err := d.Leave(ctx, c.cfgs[gone].NodeID); err != nil {
		t.Fatal(err)
	}
	if ms, err = d.Members(ctx); err != nil || len(ms) != 2 {
		t.Fatalf("after leave: %+v, %v", ms, err)
	}
	select {
	case <-c.nodes[gone].Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the removed node still looks alive")
	}
	// The cluster of two still serves.
	if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "s2", ClientID: "c", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
}

// Nodes that applied the same log report the same state digest; a node cut
// off from the leader reports an older index and another digest.
func TestLocalStatusStateDigest(t *testing.T) {
	c, fwd := startProxiedCluster(t, nil)
	ctx := context.Background()
	d, err := Dial(ctx, c.endpoints(0))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, id := range []string{"a", "b", "c"} {
		if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "digest/" + id, ClientID: "c-" + id, TTL: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Enqueue(ctx, &backend.EnqueueRequest{LockID: "digest/a", ClientID: "w", TTL: time.Minute, WaitTimeout: time.Minute}); err != nil {
		t.Fatal(err)
	}

	// fingerprints reads each node's state index and digest.
	fingerprints := func() (idx []string, sums []string) {
		t.Helper()
		for _, n := range c.nodes {
			st, err := n.LocalStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			idx = append(idx, st.Details["state_index"])
			sums = append(sums, st.Details["state_digest"])
		}
		return idx, sums
	}
	var idx, sums []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		idx, sums = fingerprints()
		if idx[0] == idx[1] && idx[1] == idx[2] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("state indexes %v never agreed", idx)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(sums[0]) != 32 {
		t.Fatalf("state_digest %q, want 32 hex digits", sums[0])
	}
	if sums[0] != sums[1] || sums[1] != sums[2] {
		t.Fatalf("at state index %s the digests differ: %v", idx[0], sums)
	}

	// n3 cut off falls behind; n1 and n2 still agree.
	fwd.Close()
	res, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "digest/d", ClientID: "c-d", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	c.waitApplied(0, uint64(res.Lock.Version))
	c.waitApplied(1, uint64(res.Lock.Version))
	deadline = time.Now().Add(20 * time.Second)
	for {
		idx, sums = fingerprints()
		if idx[0] == idx[1] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("state indexes of n1 and n2 %v never agreed", idx[:2])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sums[0] != sums[1] {
		t.Fatalf("n1 and n2 at state index %s: digests %v differ", idx[0], sums[:2])
	}
	if idx[2] == idx[0] || sums[2] == sums[0] {
		t.Fatalf("n3 cut off reports index %s digest %s, like n1's %s %s", idx[2], sums[2], idx[0], sums[0])
	}
}
