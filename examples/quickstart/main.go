// Command quickstart walks through raftlock's client API on the embedded
// Raft store, which needs no server: a Raft node runs inside this process
// and keeps its log in a data directory. Two clients take turns on one
// lock, and the fencing token grows with each grant.
//
//	go run ./examples/quickstart              # data in a temporary directory
//	go run ./examples/quickstart -data ./locks # data kept in ./locks
//
// Run it twice with the same -data and the tokens carry on from the first
// run: the lock table lives in the node's replicated log.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/raftlock/raftlock"
	_ "github.com/raftlock/raftlock/raftbackend" // registers raft:// and raft+embed://
)

func main() {
	data := flag.String("data", "", "data directory of the embedded Raft node (default: a temporary directory, removed at exit)")
	flag.Parse()
	if err := run(context.Background(), *data); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, data string) error {
	if data == "" {
		tmp, err := os.MkdirTemp("", "raftlock-quickstart-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		data = tmp
	}
	abs, err := filepath.Abs(data)
	if err != nil {
		return err
	}
	// Two clients on one store, as two processes would be. Both open the
	// same data directory, so they share the one embedded node. Changing
	// this URL (raft://host:port,..., etcd://, redis://, mem://) changes
	// the store and nothing else.
	store := "raft+embed://" + filepath.ToSlash(abs)
	fmt.Printf("store: %s\n", store)
	alice, err := raftlock.Open(ctx, store)
	if err != nil {
		return err
	}
	defer alice.Close()
	bob, err := raftlock.Open(ctx, store)
	if err != nil {
		return err
	}
	defer bob.Close()

	const lock = "reports/nightly"
	const ttl = 10 * time.Second
	out := os.Stdout

	// 1. Alice takes the lock. Its Version is the fencing token: pass it to
	// whatever the lock protects, which refuses writes with an older one.
	a1, err := alice.Acquire(ctx, &raftlock.AcquireRequest{LockID: lock, ClientID: "alice", TTL: ttl})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "alice holds %s with token %d, safe to use for %v\n", lock, a1.Version, time.Until(a1.Deadline).Round(time.Second))

	// 2. She renews it: same token, a new local deadline.
	r, err := alice.Renew(ctx, &raftlock.RenewRequest{LockID: lock, ClientID: "alice", Version: a1.Version, TTL: ttl})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "alice renewed it, token still %d\n", r.Version)

	// 3. Bob tries without waiting and is refused.
	_, err = bob.Acquire(ctx, &raftlock.AcquireRequest{LockID: lock, ClientID: "bob", TTL: ttl})
	var e *raftlock.Error
	if !errors.Is(err, raftlock.ErrLockHeld) || !errors.As(err, &e) {
		return fmt.Errorf("bob should have been refused, got %v", err)
	}
	fmt.Fprintf(out, "bob is refused: %v (held by %s)\n", err, e.Owner)

	// 4. Bob queues; Alice releases; the store hands the lock to Bob in the
	// same step, with a greater token.
	granted := make(chan *raftlock.AcquireResult, 1)
	failed := make(chan error, 1)
	go func() {
		res, err := bob.Acquire(ctx, &raftlock.AcquireRequest{LockID: lock, ClientID: "bob", TTL: ttl, Wait: true, WaitTimeout: time.Minute})
		if err != nil {
			failed <- err
			return
		}
		granted <- res
	}()
	if err := waitForQueue(ctx, alice, lock); err != nil {
		return err
	}
	fmt.Fprintln(out, "bob is waiting in the queue")
	rel, err := alice.Release(ctx, &raftlock.ReleaseRequest{LockID: lock, ClientID: "alice", Version: a1.Version})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "alice released it; handed to %s\n", rel.NextOwner)

	var b1 *raftlock.AcquireResult
	select {
	case b1 = <-granted:
	case err := <-failed:
		return err
	}
	fmt.Fprintf(out, "bob holds %s with token %d (from the queue: %v)\n", lock, b1.Version, b1.Waited)

	// 5. Alice's old token can no longer release Bob's grant.
	_, err = alice.Release(ctx, &raftlock.ReleaseRequest{LockID: lock, ClientID: "alice", Version: a1.Version})
	fmt.Fprintf(out, "alice's stale release: %v\n", err)
	if _, err := bob.Release(ctx, &raftlock.ReleaseRequest{LockID: lock, ClientID: "bob", Version: b1.Version}); err != nil {
		return err
	}

	// 6. Every grant's token is greater than the one before.
	a2, err := alice.Acquire(ctx, &raftlock.AcquireRequest{LockID: lock, ClientID: "alice", TTL: ttl})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "tokens in grant order: %d < %d < %d\n", a1.Version, b1.Version, a2.Version)
	if !(a1.Version < b1.Version && b1.Version < a2.Version) {
		return errors.New("fencing tokens did not grow")
	}
	_, err = alice.Release(ctx, &raftlock.ReleaseRequest{LockID: lock, ClientID: "alice", Version: a2.Version})
	return err
}

// waitForQueue returns once someone waits for lockID.
func waitForQueue(ctx context.Context, c *raftlock.Client, lockID string) error {
	for range 1000 {
		info, err := c.GetLockInfo(ctx, &raftlock.GetLockInfoRequest{LockID: lockID})
		if err != nil {
			return err
		}
		if info.WaiterCount > 0 {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return errors.New("nobody queued for " + lockID)
}
