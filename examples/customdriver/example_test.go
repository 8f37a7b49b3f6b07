//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package dirlock_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/url"
	"os"
	"time"

	"github.com/raftlock/raftlock"
	_ "github.com/raftlock/raftlock/examples/customdriver" // registers dirlock://
)

// Two clients of one lock directory, as two processes on one machine
// would be: the second is refused while the first holds the lock, and its
// grant after the release carries a greater fencing token.
func Example() {
	dir, err := os.MkdirTemp("", "dirlock-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store := (&url.URL{Scheme: "dirlock", Path: dir}).String() // dirlock:///tmp/dirlock-example...

	ctx := context.Background()
	alice, err := raftlock.Open(ctx, store)
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Close()
	bob, err := raftlock.Open(ctx, store)
	if err != nil {
		log.Fatal(err)
	}
	defer bob.Close()

	const lock = "reports/nightly"
	a, err := alice.Acquire(ctx, &raftlock.AcquireRequest{LockID: lock, ClientID: "alice", TTL: time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("alice holds it with token", a.Version)

	_, err = bob.Acquire(ctx, &raftlock.AcquireRequest{LockID: lock, ClientID: "bob", TTL: time.Minute})
	fmt.Println("bob is refused:", errors.Is(err, raftlock.ErrLockHeld))

	if _, err := alice.Release(ctx, &raftlock.ReleaseRequest{LockID: lock, ClientID: "alice", Version: a.Version}); err != nil {
		log.Fatal(err)
	}
	b, err := bob.Acquire(ctx, &raftlock.AcquireRequest{LockID: lock, ClientID: "bob", TTL: time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("bob holds it with token", b.Version)
	// Output:
	// alice holds it with token 1
	// bob is refused: true
	// bob holds it with token 2
}
