package raftlock_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/raftlock/raftlock"
	_ "github.com/raftlock/raftlock/memory" // registers mem://
)

func ExampleOpen() {
	ctx := context.Background()
	client, err := raftlock.Open(ctx, "mem://example-open")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	grant, err := client.Acquire(ctx, &raftlock.AcquireRequest{LockID: "reports/nightly", ClientID: "worker-1", TTL: 30 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("held by", grant.Owner, "until the local deadline:", time.Until(grant.Deadline) > 0)

	_, err = client.Release(ctx, &raftlock.ReleaseRequest{LockID: "reports/nightly", ClientID: "worker-1", Version: grant.Version})
	fmt.Println("released:", err == nil)
	// Output:
	// held by worker-1 until the local deadline: true
	// released: true
}

func ExampleClient_Acquire_held() {
	ctx := context.Background()
	a, _ := raftlock.Open(ctx, "mem://example-held")
	defer a.Close()
	b, _ := raftlock.Open(ctx, "mem://example-held")
	defer b.Close()

	if _, err := a.Acquire(ctx, &raftlock.AcquireRequest{LockID: "l", ClientID: "a", TTL: time.Minute}); err != nil {
		log.Fatal(err)
	}
	_, err := b.Acquire(ctx, &raftlock.AcquireRequest{LockID: "l", ClientID: "b", TTL: time.Minute})

	var e *raftlock.Error
	if errors.Is(err, raftlock.ErrLockHeld) && errors.As(err, &e) {
		fmt.Println("held by", e.Owner)
	}
	// Output: held by a
}

func ExampleClient_Acquire_fencing() {
	ctx := context.Background()
	client, _ := raftlock.Open(ctx, "mem://example-fencing")
	defer client.Close()

	var tokens []int64
	for _, id := range []string{"a", "b", "a"} {
		g, err := client.Acquire(ctx, &raftlock.AcquireRequest{LockID: "l", ClientID: id, TTL: time.Minute})
		if err != nil {
			log.Fatal(err)
		}
		tokens = append(tokens, g.Version)
		if _, err := client.Release(ctx, &raftlock.ReleaseRequest{LockID: "l", ClientID: id, Version: g.Version}); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("tokens grow:", tokens[0] < tokens[1] && tokens[1] < tokens[2])
	// Output: tokens grow: true
}

func ExampleNewRaftLockClientBuilder() {
	client, err := raftlock.NewRaftLockClientBuilder(nil).
		WithURL("mem://example-builder").
		WithTimeouts(5*time.Second, 2*time.Second).
		WithRetryOptions(5, 20*time.Millisecond, time.Second).
		BuildAdvanced()
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	fmt.Println("connected:", client.IsConnected())
	// Output: connected: true
}

func ExampleClient_GetLocks() {
	ctx := context.Background()
	client, _ := raftlock.Open(ctx, "mem://example-list")
	defer client.Close()
	for _, id := range []string{"jobs/b", "jobs/a", "other"} {
		if _, err := client.Acquire(ctx, &raftlock.AcquireRequest{LockID: id, ClientID: "w", TTL: time.Minute}); err != nil {
			log.Fatal(err)
		}
	}
	page, err := client.GetLocks(ctx, &raftlock.GetLocksRequest{Filter: raftlock.LockFilter{Pattern: "jobs/*"}})
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range page.Locks {
		fmt.Println(l.LockID, l.Owner)
	}
	// Output:
	// jobs/a w
	// jobs/b w
}
