package raftbackend

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftlock/raftlock/backend"
)

// TestLimitsAreTheLeaders runs three nodes configured with different
// limits. The limits of the leader apply on every node, as its Status
// says; when another node takes over, its own limits apply.
func TestLimitsAreTheLeaders(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-node cluster in -short mode")
	}
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.MaxLocks, cfg.MaxWaiters = 3, 2
		if cfg.NodeID == "n1" {
			cfg.MaxLocks, cfg.MaxWaiters = 2, 1
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if l := c.leader(); l != 0 {
		t.Fatalf("node %d leads, want n1, which bootstrapped the cluster", l)
	}
	wantLimitsEverywhere(t, c, 2, 1)

	d, err := Dial(ctx, c.endpoints(c.follower()))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	acquire := func(id string) error {
		_, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: id, ClientID: "holder", TTL: time.Minute})
		return err
	}
	enqueue := func(id, who string) error {
		_, err := d.Enqueue(ctx, &backend.EnqueueRequest{LockID: id, ClientID: who, TTL: time.Minute, WaitTimeout: time.Minute})
		return err
	}
	for _, id := range []string{"l1", "l2"} {
		if err := acquire(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := acquire("l3"); !errors.Is(err, backend.ErrResourceExhausted) {
		t.Fatalf("a third lock under n1's limit of 2: %v, want ErrResourceExhausted", err)
	}
	if err := enqueue("l1", "w1"); err != nil {
		t.Fatal(err)
	}
	if err := enqueue("l1", "w2"); !errors.Is(err, backend.ErrWaitQueueFull) {
		t.Fatalf("a second waiter under n1's limit of 1: %v, want ErrWaitQueueFull", err)
	}

	// n2 takes over: its limits are written with its first entry.
	if err := c.nodes[0].raft.LeadershipTransferToServer(raft.ServerID("n2"),
		raft.ServerAddress(c.nodes[1].RaftAddress())).Error(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "n2 to lead", c.nodes[1].IsLeader)
	c.waitConverged()
	wantLimitsEverywhere(t, c, 3, 2)

	if err := acquire("l3"); err != nil {
		t.Fatalf("a third lock under n2's limit of 3: %v", err)
	}
	if err := acquire("l4"); !errors.Is(err, backend.ErrResourceExhausted) {
		t.Fatalf("a fourth lock under n2's limit of 3: %v, want ErrResourceExhausted", err)
	}
	if err := enqueue("l1", "w2"); err != nil {
		t.Fatalf("a second waiter under n2's limit of 2: %v", err)
	}
	if err := enqueue("l1", "w3"); !errors.Is(err, backend.ErrWaitQueueFull) {
		t.Fatalf("a third waiter under n2's limit of 2: %v, want ErrWaitQueueFull", err)
	}

	// Every node decided alike.
	c.waitConverged()
	want := c.nodes[0].fsm.view()
	for i, n := range c.nodes {
		if got := n.fsm.view(); got != want {
			t.Fatalf("node %d:\n%s\nnode 0:\n%s", i, got, want)
		}
	}
}

// wantLimitsEverywhere checks that every running node reports the limits
// in its status.
func wantLimitsEverywhere(t *testing.T, c *testCluster, maxLocks, maxWaiters int) {
	t.Helper()
	want := [2]string{fmt.Sprint(maxLocks), fmt.Sprint(maxWaiters)}
	for i, n := range c.nodes {
		waitUntil(t, fmt.Sprintf("node %d to report limits %v", i, want), func() bool {
			st, err := n.LocalStatus(context.Background())
			return err == nil && [2]string{st.Details["max_locks"], st.Details["max_waiters"]} == want
		})
	}
}
