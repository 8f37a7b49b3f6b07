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
