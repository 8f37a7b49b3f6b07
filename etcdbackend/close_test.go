package etcdbackend_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/etcdbackend"
)

// Close wakes a blocked Acquire with CodeClosed and takes its waiter, and
// the waiters it enqueued, out of their queues; the locks its clients hold
// stay held; later calls fail with CodeClosed; a second Close is harmless.
func TestCloseSemantics(t *testing.T) {
	t.Parallel()
	prefix := testPrefix(t, "close")
	holder, d := openDriver(t, prefix), openDriver(t, prefix)
	ctx := context.Background()
	g, err := holder.Acquire(ctx, &backend.AcquireRequest{LockID: "l", ClientID: "h", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	held, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "mine", ClientID: "d", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Enqueue(ctx, &backend.EnqueueRequest{LockID: "l", ClientID: "e", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "l", ClientID: "w", TTL: time.Minute, Wait: true})
		done <- err
	}()
	waitFor(t, func() bool {
		info, err := holder.Get(ctx, &backend.GetRequest{LockID: "l"})
		return err == nil && info.WaiterCount == 2
	})

	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		wantCode(t, err, backend.CodeClosed, "Acquire blocked in a driver that closed")
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake the blocked Acquire")
	}
	info, err := holder.Get(ctx, &backend.GetRequest{LockID: "l", IncludeWaiters: true})
	if err != nil || info.Owner != "h" || info.Version != g.Lock.Version || info.WaiterCount != 0 {
		t.Errorf("after Close the lock is %+v (%v); want held by h with no waiters", info, err)
	}
	info, err = holder.Get(ctx, &backend.GetRequest{LockID: "mine"})
	if err != nil || info.Owner != "d" || info.Version != held.Lock.Version {
		t.Errorf("Close released the lock its client held: %+v, %v", info, err)
	}

	_, err = d.Acquire(ctx, &backend.AcquireRequest{LockID: "x", ClientID: "d", TTL: time.Minute})
	wantCode(t, err, backend.CodeClosed, "Acquire after Close")
	_, err = d.Get(ctx, &backend.GetRequest{LockID: "mine"})
	wantCode(t, err, backend.CodeClosed, "Get after Close")
	_, err = d.Status(ctx)
	wantCode(t, err, backend.CodeClosed, "Status after Close")
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A driver made with NewDriver leaves the caller's client open.
func TestNewDriverKeepsCallersClient(t *testing.T) {
	t.Parallel()
	cli := rawClient(t)
	d, err := etcdbackend.NewDriver(cli, etcdbackend.WithPrefix("/raftlock-close/"+t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "l", ClientID: "c", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Release(ctx, &backend.ReleaseRequest{LockID: "l", ClientID: "c", Version: g.Lock.Version}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Get(ctx, "anything"); err != nil {
		t.Fatalf("the caller's client no longer works after the driver closed: %v", err)
	}
	if d.Client() != cli || !strings.HasSuffix(d.Prefix(), "/") {
		t.Errorf("Client() or Prefix() do not describe the driver")
	}
}

// An unreachable cluster fails Open with a retryable CodeUnavailable, and
// the URL registry reaches the driver.
func TestOpenByURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, err := etcdbackend.Open(ctx, etcdbackend.Config{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: 300 * time.Millisecond})
	if code := backend.CodeOf(err); code != backend.CodeUnavailable || !code.Retryable() {
		t.Errorf("Open of an unreachable cluster = %v (code %v), want CodeUnavailable", err, code)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := etcdbackend.Open(cctx, etcdbackend.Config{Endpoints: []string{"127.0.0.1:1"}}); !errors.Is(err, backend.ErrCanceled) {
		t.Errorf("Open with a cancelled context = %v, want ErrCanceled", err)
	}

	eps := endpoints(t)
	d, err := backend.Open(ctx, "etcd://"+strings.Join(eps, ",")+"?prefix=/raftlock-url/&dial_timeout=5s", backend.OpenOptions{})
	if err != nil {
		t.Fatalf("backend.Open: %v", err)
	}
	defer d.Close()
	if d.Capabilities().TTLGranularity != time.Second || !d.Capabilities().FIFO {
		t.Errorf("capabilities %+v", d.Capabilities())
	}
	if _, err := backend.Open(ctx, "etcd://h:1?bogus=1", backend.OpenOptions{}); !errors.Is(err, backend.ErrInvalidArgument) {
		t.Errorf("backend.Open with an unknown parameter = %v, want ErrInvalidArgument", err)
	}
	// OpenOptions.Endpoints replace the URL's hosts.
	d2, err := backend.Open(ctx, "etcd://unreachable.invalid:1", backend.OpenOptions{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("backend.Open with Endpoints: %v", err)
	}
	d2.Close()
}

// Status and Health describe the member and the driver's locks.
func TestAdmin(t *testing.T) {
	t.Parallel()
	prefix := testPrefix(t, "admin")
	d := openDriver(t, prefix)
	ctx := context.Background()
	if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "a", ClientID: "c", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Enqueue(ctx, &backend.EnqueueRequest{LockID: "a", ClientID: "w", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	st, err := d.Status(ctx)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if st.Store != "etcd" || st.Role != "leader" || st.Locks != 1 || st.HeldLocks != 1 || st.Waiters != 1 ||
		len(st.Peers) == 0 || st.Leader == "" || st.Term == 0 || st.Details["driver_waits"] != "1" {
		t.Errorf("Status = %+v", st)
	}
	h, err := d.Health(ctx)
	if err != nil || !h.Serving {
		t.Errorf("Health = %+v, %v", h, err)
	}
	adv, err := d.BackoffAdvice(ctx, "a")
	if err != nil || adv.InitialBackoff <= 0 || adv.MaxBackoff < adv.InitialBackoff {
		t.Errorf("BackoffAdvice = %+v, %v", adv, err)
	}
	if _, err := d.BackoffAdvice(ctx, ""); !errors.Is(err, backend.ErrInvalidArgument) {
		t.Errorf("BackoffAdvice of an empty ID = %v", err)
	}
}

// A Renew with another TTL moves the grant to a new lease and keeps its
// Version; the old lease is revoked.
func TestRenewWithAnotherTTL(t *testing.T) {
	t.Parallel()
	prefix := testPrefix(t, "renew")
	d := openDriver(t, prefix)
	raw := rawClient(t)
	ctx := context.Background()
	g, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "l", ClientID: "c", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	before, err := raw.Get(ctx, prefix+"/l\x00c")
	if err != nil || len(before.Kvs) != 1 {
		t.Fatal(before, err)
	}
	l, err := d.Renew(ctx, &backend.RenewRequest{LockID: "l", ClientID: "c", Version: g.Lock.Version, TTL: 5 * time.Second})
	if err != nil || l.Version != g.Lock.Version {
		t.Fatalf("Renew = %+v, %v", l, err)
	}
	after, err := raw.Get(ctx, prefix+"/l\x00c")
	if err != nil || len(after.Kvs) != 1 || after.Kvs[0].Lease == before.Kvs[0].Lease || after.Kvs[0].CreateRevision != g.Lock.Version {
		t.Fatalf("after Renew the key is %+v, %v", after, err)
	}
	ttl, err := raw.TimeToLive(ctx, clientv3.LeaseID(after.Kvs[0].Lease))
	if err != nil || ttl.GrantedTTL != 5 {
		t.Errorf("new lease = %+v, %v; want a granted TTL of 5s", ttl, err)
	}
	if old, err := raw.TimeToLive(ctx, clientv3.LeaseID(before.Kvs[0].Lease)); err == nil && old.TTL > 0 {
		t.Errorf("the old lease is still alive: %+v", old)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
