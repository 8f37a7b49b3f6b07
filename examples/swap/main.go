// Command swap runs one lock scenario, unchanged, on whichever store its
// -store flag names: the store is chosen by URL at run time, and the
// program links every driver in. Two clients, A and B, share the lock
// swap/demo: A takes it, B is refused and told who holds it, B waits for
// it, A renews and releases, and B is granted it with a greater fencing
// token.
//
//	go run ./examples/swap                                              # in-memory store
//	go run ./examples/swap -store 'raft+embed:///tmp/swap-data'         # Raft node in this process
//	go run ./examples/swap -store 'etcd://127.0.0.1:2379?prefix=/swap'
//	go run ./examples/swap -store 'redis://127.0.0.1:6379/0?prefix=swap'
//	go run ./examples/swap -store 'raft://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003'
//
// A store whose driver cannot wait for a lock on the caller's behalf still
// runs the scenario: the client then waits by polling, and the program
// cannot tell the difference. An in-memory store must be named
// (mem://NAME): mem:// alone gives each client a private store, so A and
// B would not meet.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/raftlock/raftlock"
	_ "github.com/raftlock/raftlock/etcdbackend"  // etcd://
	_ "github.com/raftlock/raftlock/memory"       // mem://
	_ "github.com/raftlock/raftlock/raftbackend"  // raft:// and raft+embed://
	_ "github.com/raftlock/raftlock/redisbackend" // redis://
)

const (
	lockID = "swap/demo"
	ttl    = 10 * time.Second
	// maxWait bounds B's wait, so that a store that never hands the lock
	// over ends the run with an error instead of a hang.
	maxWait = 30 * time.Second
)

func main() {
	store := flag.String("store", "mem://swap", "URL of the lock store (mem://, raft+embed://, raft://, etcd://, redis://)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *store, os.Stdout); err != nil {
		// Straight to stderr rather than through package log, whose output
		// a linked-in store client may have redirected to its own format.
		fmt.Fprintf(os.Stderr, "swap: %v\n", err)
		stop()
		os.Exit(1)
	}
}

// run plays the scenario on the store at storeURL and writes one line per
// step to out.
func run(ctx context.Context, storeURL string, out io.Writer) error {
	// Two clients, as two processes would have: each opens its own
	// connection to the store.
	a, err := raftlock.Open(ctx, storeURL)
	if err != nil {
		return fmt.Errorf("open %s: %w", storeURL, err)
	}
	defer a.Close()
	b, err := raftlock.Open(ctx, storeURL)
	if err != nil {
		return fmt.Errorf("open %s: %w", storeURL, err)
	}
	defer b.Close()
	fmt.Fprintf(out, "store: %s\n", storeURL)
	fmt.Fprintf(out, "capabilities: %s\n", describe(a.Capabilities()))

	// A waits rather than failing at once, so that a lock left behind by an
	// earlier run that was killed only delays this one until it expires.
	ga, err := a.Acquire(ctx, &raftlock.AcquireRequest{LockID: lockID, ClientID: "A", TTL: ttl, Wait: true, WaitTimeout: maxWait})
	if err != nil {
		return fmt.Errorf("A acquires %s: %w", lockID, err)
	}
	fmt.Fprintf(out, "A acquired %s with token %d\n", lockID, ga.Version)

	_, err = b.Acquire(ctx, &raftlock.AcquireRequest{LockID: lockID, ClientID: "B", TTL: ttl})
	if err == nil {
		return fmt.Errorf("B was granted %s while A held it: do both clients reach the same store?", lockID)
	}
	if !errors.Is(err, raftlock.ErrLockHeld) {
		return fmt.Errorf("B tries %s: %w", lockID, err)
	}
	holder := "a holder the store does not name"
	var e *raftlock.Error
	if errors.As(err, &e) && e.Owner != "" {
		holder = e.Owner
	}
	fmt.Fprintf(out, "B was refused: %s is held by %s\n", lockID, holder)

	// B now waits for the lock on its own goroutine, as a second process
	// would block in Acquire while the first one works.
	waitCtx, cancelWait := context.WithCancel(ctx)
	type grant struct {
		res *raftlock.AcquireResult
		err error
	}
	granted := make(chan grant, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err := b.Acquire(waitCtx, &raftlock.AcquireRequest{LockID: lockID, ClientID: "B", TTL: ttl, Wait: true, WaitTimeout: maxWait})
		granted <- grant{res, err}
	}()
	// On an early return, stop B's wait and let it end before the clients
	// close under it.
	defer func() {
		cancelWait()
		<-done
	}()
	fmt.Fprintf(out, "B is waiting for %s\n", lockID)
	awaitQueued(ctx, a)

	r, err := a.Renew(ctx, &raftlock.RenewRequest{LockID: lockID, ClientID: "A", Version: ga.Version, TTL: ttl})
	if err != nil {
		return fmt.Errorf("A renews %s: %w", lockID, err)
	}
	fmt.Fprintf(out, "A renewed %s, token still %d\n", lockID, r.Version)

	rel, err := a.Release(ctx, &raftlock.ReleaseRequest{LockID: lockID, ClientID: "A", Version: ga.Version})
	if err != nil {
		return fmt.Errorf("A releases %s: %w", lockID, err)
	}
	if rel.NextOwner != "" {
		fmt.Fprintf(out, "A released %s, handed straight to %s\n", lockID, rel.NextOwner)
	} else {
		fmt.Fprintf(out, "A released %s\n", lockID)
	}

	g := <-granted
	if g.err != nil {
		return fmt.Errorf("B waits for %s: %w", lockID, g.err)
	}
	fmt.Fprintf(out, "B acquired %s with token %d\n", lockID, g.res.Version)
	// The fencing token is what makes the hand-over safe: a resource that
	// remembers the greatest token it has seen refuses A's late writes.
	if g.res.Version <= ga.Version {
		return fmt.Errorf("B's token %d is not greater than A's %d", g.res.Version, ga.Version)
	}

	if _, err := b.Release(ctx, &raftlock.ReleaseRequest{LockID: lockID, ClientID: "B", Version: g.res.Version}); err != nil {
		return fmt.Errorf("B releases %s: %w", lockID, err)
	}
	fmt.Fprintf(out, "B released %s\n", lockID)
	return nil
}

// awaitQueued gives B's request a moment to join the queue before A lets
// go, so that a store with a queue shows the hand-over. It never fails and
// waits at most half a second: a store that waits by polling has no queue
// to show, and the scenario is correct either way.
func awaitQueued(ctx context.Context, c *raftlock.Client) {
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		info, err := c.GetLockInfo(ctx, &raftlock.GetLockInfoRequest{LockID: lockID})
		if err != nil || info.WaiterCount > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// describe renders a store's capabilities on one line.
func describe(c raftlock.Capabilities) string {
	var has []string
	for _, f := range []struct {
		ok   bool
		name string
	}{
		{c.FIFO, "FIFO queue"},
		{c.Priorities, "priorities"},
		{c.ServerSideWait, "server-side wait"},
		{c.Metadata, "metadata"},
		{c.Replicated, "replicated"},
	} {
		if f.ok {
			has = append(has, f.name)
		}
	}
	s := "none of FIFO, priorities, server-side wait, metadata, replication"
	if len(has) > 0 {
		s = strings.Join(has, ", ")
	}
	// A zero bound is no bound (see backend.ValidateAcquire).
	switch {
	case c.MinTTL > 0 && c.MaxTTL > 0:
		s += fmt.Sprintf("; TTL %v to %v", c.MinTTL, c.MaxTTL)
	case c.MinTTL > 0:
		s += fmt.Sprintf("; TTL %v or more", c.MinTTL)
	case c.MaxTTL > 0:
		s += fmt.Sprintf("; TTL up to %v", c.MaxTTL)
	default:
		s += "; any TTL"
	}
	if c.TTLGranularity > 0 {
		s += fmt.Sprintf(" in steps of %v", c.TTLGranularity)
	}
	return s
}
