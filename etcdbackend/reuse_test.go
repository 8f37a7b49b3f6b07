package etcdbackend_test

import (
	"context"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/raftlock/raftlock/backend"
)

// leaseOf returns the lease the key of (lockID, clientID) carries, failing
// the test when the key is missing.
func leaseOf(t *testing.T, raw *clientv3.Client, prefix, lockID, clientID string) clientv3.LeaseID {
	t.Helper()
	resp, err := raw.Get(context.Background(), prefix+"/"+lockID+"\x00"+clientID)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("raw Get of %s's key under %s = %v, %v; want one key", clientID, lockID, resp, err)
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease)
}

// A released grant's lease serves the driver's next grant, and that grant
// still runs its full TTL from its own request: the lease is kept alive
// as the lock is taken, however long it sat in the stock.
func TestReleasedLeaseServesTheNextGrantForItsFullTTL(t *testing.T) {
	t.Parallel()
	prefix := testPrefix(t, "reuse")
	d := openDriver(t, prefix)
	raw := rawClient(t)
	ctx := context.Background()
	const ttl = 4 * time.Second

	g1, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "a", ClientID: "c", TTL: ttl})
	if err != nil {
		t.Fatalf("Acquire a: %v", err)
	}
	first := leaseOf(t, raw, prefix, "a", "c")
	if _, err := d.Release(ctx, &backend.ReleaseRequest{LockID: "a", ClientID: "c", Version: g1.Lock.Version}); err != nil {
		t.Fatalf("Release a: %v", err)
	}
	// The released lease carries nothing now.
	if ttlResp, err := raw.TimeToLive(ctx, first, clientv3.WithAttachedKeys()); err != nil || len(ttlResp.Keys) != 0 {
		t.Fatalf("TimeToLive of the released lease = %+v, %v; want a live lease with no keys", ttlResp, err)
	}

	time.Sleep(1500 * time.Millisecond) // the stocked lease runs down
	sent := time.Now()
	if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "b", ClientID: "c", TTL: ttl}); err != nil {
		t.Fatalf("Acquire b: %v", err)
	}
	if got := leaseOf(t, raw, prefix, "b", "c"); got != first {
		t.Fatalf("the next grant got lease %x, want the released grant's %x back from the stock", got, first)
	}
	left, err := raw.TimeToLive(ctx, first)
	if err != nil {
		t.Fatalf("TimeToLive: %v", err)
	}
	// etcd reports whole seconds, truncated: a lease kept alive at the
	// Acquire has ttl-1s or more left however long it sat in the stock.
	if min := ttl - time.Second - time.Since(sent); time.Duration(left.TTL)*time.Second < min {
		t.Fatalf("the reused lease has %ds left, want at least %v: it was not kept alive with the grant", left.TTL, min)
	}
}

// A lease that carried a grant this driver did not make (another driver
// of the same client made it) is revoked after Release, not reused: only
// the driver that gave a lease to a grant knows that nothing else will
// end it by its ID.
func TestLeaseOfAnotherDriversGrantIsNotReused(t *testing.T) {
	t.Parallel()
	prefix := testPrefix(t, "reuse-other")
	a, b := openDriver(t, prefix), openDriver(t, prefix)
	raw := rawClient(t)
	ctx := context.Background()

	g, err := a.Acquire(ctx, &backend.AcquireRequest{LockID: "x", ClientID: "c", TTL: time.Minute})
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	lease := leaseOf(t, raw, prefix, "x", "c")
	if _, err := b.Release(ctx, &backend.ReleaseRequest{LockID: "x", ClientID: "c", Version: g.Lock.Version}); err != nil {
		t.Fatalf("Release through the other driver: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := raw.TimeToLive(ctx, lease)
		if err != nil {
			t.Fatalf("TimeToLive: %v", err)
		}
		if resp.TTL == -1 {
			return // revoked
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lease of a grant released through another driver is still alive (%ds left)", resp.TTL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A waiter whose predecessor held the lock takes it from the deletion
// event alone, and the grants of a queue drained that way keep FIFO order
// and growing Versions.
func TestQueueDrainsInOrder(t *testing.T) {
	t.Parallel()
	prefix := testPrefix(t, "drain")
	d := openDriver(t, prefix)
	ctx := context.Background()
	const waiters = 6

	g, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "q", ClientID: "holder", TTL: time.Minute})
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	type grant struct {
		client  int
		version int64
	}
	grants := make(chan grant, waiters)
	releases := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "q", ClientID: string(rune('a' + i)), TTL: time.Minute, Wait: true, WaitTimeout: 30 * time.Second})
			if err != nil {
				t.Errorf("waiter %d: %v", i, err)
				grants <- grant{client: i}
				return
			}
			grants <- grant{client: i, version: r.Lock.Version}
			<-releases
			if _, err := d.Release(ctx, &backend.ReleaseRequest{LockID: "q", ClientID: string(rune('a' + i)), Version: r.Lock.Version}); err != nil {
				t.Errorf("waiter %d Release: %v", i, err)
			}
		}()
		// Queue them one after the other, so their order is known.
		waitForPosition(t, d, "q", string(rune('a'+i)))
	}
	if _, err := d.Release(ctx, &backend.ReleaseRequest{LockID: "q", ClientID: "holder", Version: g.Lock.Version}); err != nil {
		t.Fatalf("Release: %v", err)
	}
	last := g.Lock.Version
	for want := range waiters {
		got := <-grants
		if got.client != want || got.version <= last {
			t.Fatalf("grant %d went to waiter %d at version %d (last %d); want waiter %d at a greater version", want, got.client, got.version, last, want)
		}
		last = got.version
		releases <- struct{}{}
	}
}

// waitForPosition returns once clientID waits in lockID's queue.
func waitForPosition(t *testing.T, d backend.Driver, lockID, clientID string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		info, err := d.Get(context.Background(), &backend.GetRequest{LockID: lockID, IncludeWaiters: true})
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		for _, w := range info.Waiters {
			if w.ClientID == clientID {
				return
			}
		}
	}
	t.Fatalf("%s never showed up in %s's queue", clientID, lockID)
}
