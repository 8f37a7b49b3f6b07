package raftlock_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"time"

	"github.com/raftlock/raftlock"
	_ "github.com/raftlock/raftlock/memory" // registers mem://
)

// A LockHandle holds one lock and knows, from the local clock alone,
// whether its lease can still be trusted.
func ExampleLockHandle() {
	ctx := context.Background()
	client, err := raftlock.Open(ctx, "mem://example-handle")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	h, err := raftlock.NewLockHandle(client, "reports/nightly", "worker-1")
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close(ctx) // releases the lock if still held

	if err := h.Acquire(ctx, 30*time.Second, true); err != nil {
		log.Fatal(err)
	}
	fmt.Println("held:", h.IsHeld(), "token > 0:", h.Token() > 0)
	fmt.Println("lease left about 29.4s:", h.RemainingLease() > 29*time.Second)

	select {
	case <-h.Lost():
		fmt.Println("lost")
	default:
		fmt.Println("not lost")
	}
	if err := h.Release(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("held after release:", h.IsHeld())
	// Output:
	// held: true token > 0: true
	// lease left about 29.4s: true
	// not lost
	// held after release: false
}

// An AutoRenewer keeps a lease alive while a job runs, and cancels the
// job's context if the lease is lost.
func ExampleAutoRenewer() {
	ctx := context.Background()
	client, err := raftlock.Open(ctx, "mem://example-renewer")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	h, _ := raftlock.NewLockHandle(client, "shards/7", "")
	if err := h.Acquire(ctx, time.Second, false); err != nil {
		log.Fatal(err)
	}
	renewer, err := raftlock.NewAutoRenewer(h, 300*time.Millisecond, time.Second)
	if err != nil {
		log.Fatal(err)
	}
	jobCtx, err := renewer.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}

	// The job outlives several TTLs; the renewer keeps the lock.
	select {
	case <-time.After(2500 * time.Millisecond):
		fmt.Println("still held after 2.5s with a 1s TTL:", h.IsHeld())
	case <-jobCtx.Done():
		fmt.Println("lost:", renewer.Err())
	}
	renewer.Stop()
	fmt.Println("renewer error:", renewer.Err())
	_ = h.Release(ctx)
	// Output:
	// still held after 2.5s with a 1s TTL: true
	// renewer error: <nil>
}

// RunWithLock runs a function while holding a lock, and releases it when
// the function returns.
func ExampleRunWithLock() {
	ctx := context.Background()
	client, err := raftlock.Open(ctx, "mem://example-run")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	err = raftlock.RunWithLock(ctx, client, "migrations", 30*time.Second, func(ctx context.Context) error {
		// ctx is cancelled the moment the lock is lost: pass it to
		// everything the job does.
		fmt.Println("migrating")
		return nil
	})
	if errors.Is(err, raftlock.ErrLockLost) {
		fmt.Println("the lock was lost; the migration was interrupted")
	}
	fmt.Println("done:", err)
	// Output:
	// migrating
	// done: <nil>
}

// Two candidates for one service: the first leads, the second takes over
// the moment the first resigns.
func ExampleElection() {
	ctx := context.Background()
	client, err := raftlock.Open(ctx, "mem://example-election")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	events := make(chan string, 10)
	candidate := func(name string) *raftlock.Election {
		e, err := raftlock.NewElection(client, "billing", "production", 10*time.Second,
			raftlock.WithClientID(name),
			raftlock.WithCallbacks(raftlock.Callbacks{
				OnElected: func(int64) { events <- name + " elected" },
				OnLost:    func(error) { events <- name + " stepped down" },
			}))
		if err != nil {
			log.Fatal(err)
		}
		return e
	}
	a, b := candidate("a"), candidate("b")
	defer a.Close()
	defer b.Close()

	if err := a.Campaign(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-events)
	if err := a.StartKeepAlive(ctx); err != nil {
		log.Fatal(err)
	}
	ok, _ := b.TryAcquire(ctx)
	leader, _ := b.Leader(ctx)
	fmt.Println("b leads:", ok, "leader:", leader)

	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := b.Campaign(ctx); err != nil { // waits for its turn
			log.Fatal(err)
		}
	}()
	for {
		if info, err := client.GetLockInfo(ctx, &raftlock.GetLockInfoRequest{LockID: b.LockID()}); err == nil && info.WaiterCount == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := a.Resign(ctx); err != nil {
		log.Fatal(err)
	}
	<-done
	// Each candidate calls its own callbacks, so the two may come in
	// either order here.
	handOver := []string{<-events, <-events}
	slices.Sort(handOver)
	fmt.Println(handOver[0])
	fmt.Println(handOver[1])
	fmt.Println("a leads:", a.IsLeader(), "b leads:", b.IsLeader())
	// Output:
	// a elected
	// b leads: false leader: a
	// a stepped down
	// b elected
	// a leads: false b leads: true
}
