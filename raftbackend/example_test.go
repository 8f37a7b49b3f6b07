package raftbackend_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/raftbackend"
)

// A single embedded node, used through the portable client.
func Example() {
	dir, err := os.MkdirTemp("", "raftlock-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	client, err := raftlock.Open(ctx, "raft+embed://"+dir)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	grant, err := client.Acquire(ctx, &raftlock.AcquireRequest{LockID: "jobs/nightly", ClientID: "worker-1", TTL: 30 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("held by", grant.Owner, "with a token above zero:", grant.Version > 0)
	_, err = client.Release(ctx, &raftlock.ReleaseRequest{LockID: "jobs/nightly", ClientID: "worker-1", Version: grant.Version})
	fmt.Println("released:", err == nil)
	// Output:
	// held by worker-1 with a token above zero: true
	// released: true
}

// A node started from code, with its client API on a TCP port so that
// other processes can reach it (raft://127.0.0.1:PORT) and other nodes can
// join it.
func ExampleStartNode() {
	dir, err := os.MkdirTemp("", "raftlock-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	node, err := raftbackend.StartNode(ctx, raftbackend.Config{
		NodeID:    "n1",
		DataDir:   dir,
		RaftAddr:  "127.0.0.1:0",
		APIAddr:   "127.0.0.1:0",
		Bootstrap: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	if err := node.WaitLeader(ctx); err != nil {
		log.Fatal(err)
	}

	// In-process drivers call the node directly.
	d := node.NewDriver()
	defer d.Close()
	r, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "a", ClientID: "c1", TTL: time.Minute})
	if err != nil {
		log.Fatal(err)
	}

	// Remote drivers reach the same lock table over gRPC.
	remote, err := raftbackend.Dial(ctx, []string{node.APIAddress()})
	if err != nil {
		log.Fatal(err)
	}
	defer remote.Close()
	info, err := remote.Get(ctx, &backend.GetRequest{LockID: "a"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.Owner, info.Version == r.Lock.Version)
	// Output: c1 true
}
