package memory_test

import (
	"context"
	"fmt"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/memory"
)

// Two clients of one store: the second waits in the queue and is granted the
// lock when the first one's lease runs out on the fake clock.
func Example() {
	clock := memory.NewFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	store := memory.NewStore(memory.WithClock(clock))
	defer store.Close()
	alice, bob := store.NewDriver(), store.NewDriver()
	defer alice.Close()
	defer bob.Close()
	ctx := context.Background()

	first, err := alice.Acquire(ctx, &backend.AcquireRequest{LockID: "reports/daily", ClientID: "alice", TTL: 10 * time.Second})
	if err != nil {
		panic(err)
	}
	fmt.Println(first.Lock.Owner, "holds it until", first.Lock.ExpiresAt.Format(time.TimeOnly))

	_, err = bob.Acquire(ctx, &backend.AcquireRequest{LockID: "reports/daily", ClientID: "bob", TTL: 10 * time.Second})
	fmt.Println("bob without waiting:", err)

	granted := make(chan *backend.AcquireResult)
	go func() {
		res, err := bob.Acquire(ctx, &backend.AcquireRequest{LockID: "reports/daily", ClientID: "bob", TTL: 10 * time.Second, Wait: true})
		if err != nil {
			panic(err)
		}
		granted <- res
	}()
	for {
		info, _ := bob.Get(ctx, &backend.GetRequest{LockID: "reports/daily"})
		if info.WaiterCount == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}

	clock.Advance(10 * time.Second) // alice's lease ends
	second := <-granted
	fmt.Println(second.Lock.Owner, "holds it at a later version:", second.Lock.Version > first.Lock.Version)
	fmt.Println("granted at", second.Lock.AcquiredAt.Format(time.TimeOnly), "until", second.Lock.ExpiresAt.Format(time.TimeOnly))
	// Output:
	// alice holds it until 00:00:10
	// bob without waiting: raftlock: lock held (lock "reports/daily")
	// bob holds it at a later version: true
	// granted at 00:00:10 until 00:00:20
}

// Drivers opened from one mem://NAME URL share a store, like processes that
// share a lock service.
func Example_uRL() {
	ctx := context.Background()
	a, err := backend.Open(ctx, "mem://example?max_ttl=1h", backend.OpenOptions{})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := backend.Open(ctx, "mem://example", backend.OpenOptions{})
	if err != nil {
		panic(err)
	}
	defer b.Close()

	if _, err := a.Acquire(ctx, &backend.AcquireRequest{LockID: "leader", ClientID: "node-1", TTL: time.Minute}); err != nil {
		panic(err)
	}
	info, err := b.Get(ctx, &backend.GetRequest{LockID: "leader"})
	if err != nil {
		panic(err)
	}
	fmt.Println("seen through the other driver:", info.Owner)
	fmt.Println("max TTL:", b.Capabilities().MaxTTL)
	// Output:
	// seen through the other driver: node-1
	// max TTL: 1h0m0s
}
