//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package dirlock_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/raftlock/raftlock"
	dirlock "github.com/raftlock/raftlock/examples/customdriver"
)

// storeURL is the dirlock:// URL of dir, escaped as a URL must be.
func storeURL(dir string) string {
	return (&url.URL{Scheme: dirlock.Scheme, Path: dir}).String()
}

// openClient opens a raftlock client on the lock directory by URL, as an
// application would, and closes it when the test ends.
func openClient(t *testing.T, dir string) *raftlock.Client {
	t.Helper()
	c, err := raftlock.Open(context.Background(), storeURL(dir))
	if err != nil {
		t.Fatalf("raftlock.Open(%s): %v", storeURL(dir), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A client that asks to wait on a store without server-side waiting polls:
// it gets the lock once the holder, through another client, lets go.
func TestClientWaitPollsUntilRelease(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	alice, bob := openClient(t, dir), openClient(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if caps := bob.Capabilities(); caps.ServerSideWait || caps.FIFO {
		t.Fatalf("capabilities %+v: the store cannot hold waiters", caps)
	}
	const lock = "jobs/a b/ü" // any UTF-8 is a lock ID
	a, err := alice.Acquire(ctx, &raftlock.AcquireRequest{LockID: lock, ClientID: "alice", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bob.Acquire(ctx, &raftlock.AcquireRequest{LockID: lock, ClientID: "bob", TTL: time.Minute})
	var e *raftlock.Error
	if !errors.Is(err, raftlock.ErrLockHeld) || !errors.As(err, &e) || e.Owner != "alice" {
		t.Fatalf("bob's try: %v, want ErrLockHeld naming alice", err)
	}

	type result struct {
		res *raftlock.AcquireResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := bob.Acquire(ctx, &raftlock.AcquireRequest{
			LockID: lock, ClientID: "bob", TTL: time.Minute, Wait: true, WaitTimeout: 20 * time.Second,
		})
		done <- result{res, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("bob's wait returned while alice held the lock: %+v, %v", r.res, r.err)
	case <-time.After(300 * time.Millisecond): // several polls
	}

	if _, err := alice.Release(ctx, &raftlock.ReleaseRequest{LockID: lock, ClientID: "alice", Version: a.Version}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("bob's wait: %v", r.err)
	}
	if r.res.Owner != "bob" || r.res.Version <= a.Version || !r.res.Waited {
		t.Errorf("bob's grant %+v: want owner bob, a version above %d, Waited", r.res.Lock, a.Version)
	}
	info, err := alice.GetLockInfo(ctx, &raftlock.GetLockInfoRequest{LockID: lock})
	if err != nil || info.Owner != "bob" || info.Version != r.res.Version {
		t.Errorf("GetLockInfo = %+v, %v: want held by bob at version %d", info, err, r.res.Version)
	}
}

// A wait that runs out leaves the holder alone and reports ErrTimeout.
func TestClientWaitTimesOut(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	alice, bob := openClient(t, dir), openClient(t, dir)
	ctx := context.Background()
	a, err := alice.Acquire(ctx, &raftlock.AcquireRequest{LockID: "l", ClientID: "alice", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = bob.Acquire(ctx, &raftlock.AcquireRequest{
		LockID: "l", ClientID: "bob", TTL: time.Minute, Wait: true, WaitTimeout: 200 * time.Millisecond,
	})
	if !errors.Is(err, raftlock.ErrTimeout) {
		t.Fatalf("wait on a held lock: %v, want ErrTimeout", err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("gave up after %v, before its WaitTimeout", waited)
	}
	info, err := bob.GetLockInfo(ctx, &raftlock.GetLockInfoRequest{LockID: "l"})
	if err != nil || info.Owner != "alice" || info.Version != a.Version {
		t.Errorf("after the timed-out wait: %+v, %v; want alice's grant unchanged", info, err)
	}
}

// Malformed URLs are refused at Open with ErrInvalidArgument.
func TestOpenURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, u := range []string{
		"dirlock:relative/dir",
		"dirlock://host/dir",
		"dirlock:///dir?sync=false",
		"dirlock://",
	} {
		c, err := raftlock.Open(ctx, u)
		if err == nil {
			c.Close()
		}
		if !errors.Is(err, raftlock.ErrInvalidArgument) {
			t.Errorf("Open(%q): %v, want ErrInvalidArgument", u, err)
		}
	}
}
