package raftbackend

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/raftpb"
	"github.com/raftlock/raftlock/memory"
)

// olderService is the service of a node from before the Calls stream.
type olderService struct{ *lockService }

func (olderService) Calls(raftpb.RaftLock_CallsServer) error {
	return status.Error(codes.Unimplemented, "unknown method Calls")
}

// A node without the Calls stream still serves every call: the driver
// sends them as unary calls and Acquire streams.
func TestRemoteFallsBackWithoutCalls(t *testing.T) {
	store := memory.NewStore()
	defer store.Close()
	stopping, stop := context.WithCancel(context.Background())
	defer stop()
	srv := grpc.NewServer()
	raftpb.RegisterRaftLockServer(srv, olderService{&lockService{api: newMemNode(store), log: slog.New(slog.DiscardHandler), stopping: stopping, stop: stop}})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()

	d := dialTest(t, lis.Addr().String())
	ctx := testCtx(t)
	held, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "x", ClientID: "a", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		_, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "x", ClientID: "b", TTL: time.Minute, Wait: true})
		waited <- err
	}()
	waitUntil(t, "b to queue", func() bool { return len(queued(t, store.NewDriver(), "x")) == 1 })
	if _, err := d.Renew(ctx, &backend.RenewRequest{LockID: "x", ClientID: "a", Version: held.Lock.Version, TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Release(ctx, &backend.ReleaseRequest{LockID: "x", ClientID: "a", Version: held.Lock.Version}); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("the waiting Acquire: %v", err)
	}
	info, err := d.Get(ctx, &backend.GetRequest{LockID: "x"})
	if err != nil || info.Lock.Owner != "b" {
		t.Fatalf("Get = %+v, %v; want b's grant", info, err)
	}
	d.mu.Lock()
	noCalls := d.conns[lis.Addr().String()].client.mux.noCalls
	d.mu.Unlock()
	if !noCalls {
		t.Fatal("the driver did not notice that the node has no Calls stream")
	}
}

// A waited grant that comes after the caller gave up and its cancel grace
// ran out is released by the driver: nobody will use it.
func TestRemoteReleasesGrantThatCameTooLate(t *testing.T) {
	store := memory.NewStore()
	defer store.Close()
	// The grant comes 300ms after the call ended, well past the grace.
	api := &grantOnGiveUpAPI{memNode: newMemNode(store), released: make(chan *backend.ReleaseRequest, 1), after: 300 * time.Millisecond}
	s := startRPCServer(t, api)
	d := dialTestWith(t, []string{s.addr}, RemoteCancelGrace(50*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "late", ClientID: "c", TTL: time.Minute, Wait: true})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire past its deadline: %v, want the context's error", err)
	}
	wantReleased(t, api.released, "late", "c")
}

// Calls from many goroutines share one stream, and each gets its own
// answer.
func TestRemoteCallsShareOneStream(t *testing.T) {
	s, _ := startMemServer(t)
	d := dialTest(t, s.addr)
	ctx := testCtx(t)
	const n = 64
	errs := make(chan error, n)
	for i := range n {
		go func() {
			lock := string(rune('a'+i%26)) + string(rune('0'+i/26))
			r, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: lock, ClientID: "c", TTL: time.Minute})
			if err == nil && r.Lock.LockID != lock {
				err = errors.New("answer of another call: " + r.Lock.LockID + " for " + lock)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	d.mu.Lock()
	m := d.conns[s.addr].client.mux
	d.mu.Unlock()
	m.mu.Lock()
	cur := m.cur
	m.mu.Unlock()
	if cur == nil || cur.next != n {
		t.Fatalf("the stream carried %d calls, want %d", cur.next, n)
	}
}

// A waiting Acquire without WaitTimeout leaves the queue at its caller's
// deadline even if the node holding the call dies (docs/raft-store.md): the
// node records that deadline, so it must learn it over the network too.
func TestRemoteWaitCarriesCallerDeadline(t *testing.T) {
	c := startCluster(t, 1, nil)
	d := dialTest(t, c.endpoints(0)...)
	ctx := testCtx(t)
	if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "dl", ClientID: "holder", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	deadline, _ := wctx.Deadline()
	done := make(chan error, 1)
	go func() {
		_, err := d.Acquire(wctx, &backend.AcquireRequest{LockID: "dl", ClientID: "waiter", TTL: time.Minute, Wait: true})
		done <- err
	}()
	var w backend.Waiter
	waitUntil(t, "the waiter to queue", func() bool {
		info, err := d.Get(ctx, &backend.GetRequest{LockID: "dl", IncludeWaiters: true})
		if err != nil || len(info.Waiters) == 0 {
			return false
		}
		w = info.Waiters[0]
		return true
	})
	// The store's clock is this machine's; allow for the trip.
	if w.TimeoutAt.IsZero() || w.TimeoutAt.After(deadline.Add(time.Second)) || w.TimeoutAt.Before(deadline.Add(-time.Second)) {
		t.Fatalf("the queued waiter times out at %v, want about the caller's deadline %v", w.TimeoutAt, deadline)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the canceled wait: %v", err)
	}
}
