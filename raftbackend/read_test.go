package raftbackend

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// TestReadsAreLinearizableUnlessStale: a follower refuses a plain read (the
// client is sent to the leader, which confirms its leadership before it
// answers) and answers a stale read from its own state.
func TestReadsAreLinearizableUnlessStale(t *testing.T) {
	c := startCluster(t, 3, nil)
	ctx := context.Background()
	leader, follower := c.nodes[c.leader()], c.nodes[c.follower()]
	g, err := leader.Acquire(ctx, &backend.AcquireRequest{LockID: "read", ClientID: "c", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	c.waitConverged()

	var e *backend.Error
	if _, err := follower.Get(ctx, &backend.GetRequest{LockID: "read"}); !errors.As(err, &e) ||
		e.Code != backend.CodeNotLeader || e.Leader != leader.APIAddress() {
		t.Fatalf("linearizable Get on a follower: %v, want CodeNotLeader naming %s", err, leader.APIAddress())
	}
	if _, err := follower.List(ctx, &backend.ListRequest{}); backend.CodeOf(err) != backend.CodeNotLeader {
		t.Fatalf("linearizable List on a follower: %v", err)
	}
	info, err := follower.Get(ctx, &backend.GetRequest{LockID: "read", Stale: true})
	if err != nil || info.Version != g.Lock.Version {
		t.Fatalf("stale Get on a follower: %+v, %v", info, err)
	}
	page, err := follower.List(ctx, &backend.ListRequest{Stale: true})
	if err != nil || len(page.Locks) != 1 {
		t.Fatalf("stale List on a follower: %+v, %v", page, err)
	}
	if info, err := leader.Get(ctx, &backend.GetRequest{LockID: "read"}); err != nil || info.Owner != "c" {
		t.Fatalf("linearizable Get on the leader: %+v, %v", info, err)
	}
}
