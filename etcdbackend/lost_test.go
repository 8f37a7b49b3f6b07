package etcdbackend_test

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/etcdbackend"
)

// openDriver opens a driver on the test cluster under a prefix of the
// test's own, closed when the test ends.
func openDriver(t *testing.T, prefix string) *etcdbackend.Driver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := etcdbackend.Open(ctx, etcdbackend.Config{Endpoints: endpoints(t), Prefix: prefix})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// rawClient is a plain etcd client, to change the store behind the
// drivers' backs.
func rawClient(t *testing.T) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints(t), DialTimeout: 5 * time.Second, Logger: nopZap()})
	if err != nil {
		t.Fatalf("clientv3.New: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func wantCode(t *testing.T, err error, code backend.Code, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want %v", what, code)
	}
	var e *backend.Error
	if !errors.As(err, &e) || e.Code != code || !errors.Is(err, code.Sentinel()) {
		t.Fatalf("%s: got %v (code %v), want %v", what, err, backend.CodeOf(err), code)
	}
}

// The store loses the lock behind the holder's back: an operator (or a
// compaction of leases, or a bug elsewhere) revokes the grant's lease. The
// holder's next Renew and Release fail with the contract's typed errors,
// a new grant by another client has a greater Version, and the stale
// holder's Version can never touch it.
func TestLockLostBehindTheHoldersBack(t *testing.T) {
	t.Parallel()
	prefix := testPrefix(t, "lost")
	a, b := openDriver(t, prefix), openDriver(t, prefix)
	raw := rawClient(t)
	ctx := context.Background()
	const lockID = "jobs/nightly"

	ga, err := a.Acquire(ctx, &backend.AcquireRequest{LockID: lockID, ClientID: "a", TTL: time.Minute})
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	key := prefix + "/" + lockID + "\x00a"
	kv, err := raw.Get(ctx, key)
	if err != nil || len(kv.Kvs) != 1 {
		t.Fatalf("raw Get(%q) = %v, %v; want the holder's key", key, kv, err)
	}
	if kv.Kvs[0].CreateRevision != ga.Lock.Version {
		t.Errorf("holder's key was created at revision %d, the grant's Version is %d", kv.Kvs[0].CreateRevision, ga.Lock.Version)
	}
	if _, err := raw.Revoke(ctx, clientv3.LeaseID(kv.Kvs[0].Lease)); err != nil {
		t.Fatalf("raw Revoke: %v", err)
	}

	_, err = a.Renew(ctx, &backend.RenewRequest{LockID: lockID, ClientID: "a", Version: ga.Lock.Version, TTL: time.Minute})
	wantCode(t, err, backend.CodeNotFound, "Renew of a grant whose lease was revoked")
	_, err = a.Renew(ctx, &backend.RenewRequest{LockID: lockID, ClientID: "a", Version: ga.Lock.Version, TTL: 2 * time.Minute})
	wantCode(t, err, backend.CodeNotFound, "Renew with another TTL of a grant whose lease was revoked")
	_, err = a.Release(ctx, &backend.ReleaseRequest{LockID: lockID, ClientID: "a", Version: ga.Lock.Version})
	wantCode(t, err, backend.CodeNotFound, "Release of a grant whose lease was revoked")

	gb, err := b.Acquire(ctx, &backend.AcquireRequest{LockID: lockID, ClientID: "b", TTL: time.Minute})
	if err != nil {
		t.Fatalf("Acquire by another client after the loss: %v", err)
	}
	if gb.Lock.Version <= ga.Lock.Version {
		t.Fatalf("new grant has Version %d, not above the lost grant's %d", gb.Lock.Version, ga.Lock.Version)
	}
	_, err = a.Renew(ctx, &backend.RenewRequest{LockID: lockID, ClientID: "a", Version: ga.Lock.Version, TTL: time.Minute})
	wantCode(t, err, backend.CodeNotLockOwner, "stale holder's Renew of the new grant")
	_, err = a.Release(ctx, &backend.ReleaseRequest{LockID: lockID, ClientID: "a", Version: gb.Lock.Version})
	wantCode(t, err, backend.CodeNotLockOwner, "stale holder's Release at the new grant's Version")

	// The stale holder's client ID takes the lock again later: its old
	// Version still touches nothing.
	if _, err := b.Release(ctx, &backend.ReleaseRequest{LockID: lockID, ClientID: "b", Version: gb.Lock.Version}); err != nil {
		t.Fatalf("Release: %v", err)
	}
	ga2, err := a.Acquire(ctx, &backend.AcquireRequest{LockID: lockID, ClientID: "a", TTL: time.Minute})
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	if ga2.Lock.Version <= gb.Lock.Version {
		t.Fatalf("third grant has Version %d, not above %d", ga2.Lock.Version, gb.Lock.Version)
	}
	_, err = a.Release(ctx, &backend.ReleaseRequest{LockID: lockID, ClientID: "a", Version: ga.Lock.Version})
	wantCode(t, err, backend.CodeVersionMismatch, "Release with the lost grant's Version")
	info, err := b.Get(ctx, &backend.GetRequest{LockID: lockID})
	if err != nil || info.Owner != "a" || info.Version != ga2.Lock.Version {
		t.Fatalf("Get = %+v, %v; want held by a at %d", info, err, ga2.Lock.Version)
	}
}

// A waiter whose predecessor's lease is revoked behind its back is granted
// the lock at once, with a greater Version.
func TestWaiterGrantedWhenHolderLeaseRevoked(t *testing.T) {
	t.Parallel()
	prefix := testPrefix(t, "lost")
	a, b := openDriver(t, prefix), openDriver(t, prefix)
	raw := rawClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ga, err := a.Acquire(ctx, &backend.AcquireRequest{LockID: "l", ClientID: "a", TTL: time.Minute})
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	done := make(chan error, 1)
	var gb *backend.AcquireResult
	go func() {
		var err error
		gb, err = b.Acquire(ctx, &backend.AcquireRequest{LockID: "l", ClientID: "b", TTL: time.Minute, Wait: true})
		done <- err
	}()
	for {
		info, err := a.Get(ctx, &backend.GetRequest{LockID: "l"})
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if info.WaiterCount == 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	kv, err := raw.Get(ctx, prefix+"/l\x00a")
	if err != nil || len(kv.Kvs) != 1 {
		t.Fatalf("raw Get: %v, %v", kv, err)
	}
	if _, err := raw.Revoke(ctx, clientv3.LeaseID(kv.Kvs[0].Lease)); err != nil {
		t.Fatalf("raw Revoke: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("waiter's Acquire: %v", err)
	}
	if !gb.Waited || gb.Lock.Version <= ga.Lock.Version {
		t.Fatalf("waiter got %+v, want a waited grant above version %d", gb, ga.Lock.Version)
	}
}
