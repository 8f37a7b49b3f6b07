package raftbackend

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/raftpb"
	"github.com/raftlock/raftlock/memory"
)

// openCalls opens a raw Calls stream to the server at addr.
func openCalls(t *testing.T, ctx context.Context, addr string) raftpb.RaftLock_CallsClient {
	t.Helper()
	stream, err := raftpb.NewRaftLockClient(rawConn(t, addr)).Calls(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

func sendCall(t *testing.T, stream raftpb.RaftLock_CallsClient, c *raftpb.Call) {
	t.Helper()
	if err := stream.Send(c); err != nil {
		t.Fatal(err)
	}
}

func recvReply(t *testing.T, stream raftpb.RaftLock_CallsClient) *raftpb.Reply {
	t.Helper()
	r, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func acquireCall(id uint64, lock, client string, wait bool) *raftpb.Call {
	return &raftpb.Call{Id: id, Op: &raftpb.Call_Acquire{Acquire: &raftpb.AcquireRequest{
		LockId: lock, ClientId: client, TtlNanos: int64(time.Minute), Wait: wait}}}
}

// A call that waits does not hold up the calls after it on the stream:
// each answers when it is done, under its own id.
func TestCallsAnswerOutOfOrder(t *testing.T) {
	s, store := startMemServer(t)
	local := store.NewDriver()
	ctx := testCtx(t)
	held, err := local.Acquire(ctx, &backend.AcquireRequest{LockID: "busy", ClientID: "holder", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	stream := openCalls(t, ctx, s.addr)
	sendCall(t, stream, acquireCall(7, "busy", "waiter", true))
	sendCall(t, stream, acquireCall(8, "free", "other", false))
	if r := recvReply(t, stream); r.GetId() != 8 || r.GetAcquire().GetLock().GetOwner() != "other" {
		t.Fatalf("first reply %v, want call 8's grant", r)
	}
	waitUntil(t, "the waiter to queue", func() bool { return len(queued(t, local, "busy")) == 1 })
	if _, err := local.Release(ctx, &backend.ReleaseRequest{LockID: "busy", ClientID: "holder", Version: held.Lock.Version}); err != nil {
		t.Fatal(err)
	}
	r := recvReply(t, stream)
	if r.GetId() != 7 || !r.GetAcquire().GetWaited() || r.GetAcquire().GetLock().GetOwner() != "waiter" {
		t.Fatalf("second reply %v, want call 7's waited grant", r)
	}
}

// A cancel ends a waiting call, and its answer comes only once the waiter
// has left the queue.
func TestCallsCancelConfirmsWaiterLeft(t *testing.T) {
	s, store := startMemServer(t)
	local := store.NewDriver()
	ctx := testCtx(t)
	if _, err := local.Acquire(ctx, &backend.AcquireRequest{LockID: "busy", ClientID: "holder", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	stream := openCalls(t, ctx, s.addr)
	sendCall(t, stream, acquireCall(1, "busy", "waiter", true))
	waitUntil(t, "the waiter to queue", func() bool { return len(queued(t, local, "busy")) == 1 })
	sendCall(t, stream, &raftpb.Call{Id: 1, Op: &raftpb.Call_Cancel{Cancel: &raftpb.CallCancel{}}})
	r := recvReply(t, stream)
	if r.GetId() != 1 || r.GetError() == nil || backend.Code(r.GetError().GetDetail().GetCode()) != backend.CodeCanceled {
		t.Fatalf("reply to the canceled wait: %v, want CodeCanceled", r)
	}
	if ids := queued(t, local, "busy"); len(ids) != 0 {
		t.Fatalf("after the answer the queue is %v", ids)
	}
	// A cancel of a call that has already answered changes nothing.
	sendCall(t, stream, &raftpb.Call{Id: 1, Op: &raftpb.Call_Cancel{Cancel: &raftpb.CallCancel{}}})
	sendCall(t, stream, acquireCall(2, "free", "c", false))
	if r := recvReply(t, stream); r.GetId() != 2 || r.GetAcquire() == nil {
		t.Fatalf("reply %v, want call 2's grant", r)
	}
}

// A call's timeout bounds it on the node, as a unary call's deadline does.
func TestCallsTimeout(t *testing.T) {
	store := memory.NewStore()
	defer store.Close()
	api := &grantOnGiveUpAPI{memNode: newMemNode(store), released: make(chan *backend.ReleaseRequest, 1)}
	s := startRPCServer(t, api)
	stream := openCalls(t, testCtx(t), s.addr)
	c := acquireCall(3, "t", "c", false)
	c.TimeoutNanos = int64(50 * time.Millisecond)
	sendCall(t, stream, c) // grantOnGiveUpAPI answers once the call's context ends
	if r := recvReply(t, stream); r.GetId() != 3 || r.GetAcquire() == nil {
		t.Fatalf("reply %v, want call 3's answer after its timeout", r)
	}
}

func TestCallsRefuseMalformedCalls(t *testing.T) {
	s, _ := startMemServer(t)
	ctx := testCtx(t)
	stream := openCalls(t, ctx, s.addr)
	wantError := func(what string, r *raftpb.Reply, id uint64, gc codes.Code, bc backend.Code) {
		t.Helper()
		e := r.GetError()
		if r.GetId() != id || e == nil || codes.Code(e.GetGrpcCode()) != gc || backend.Code(e.GetDetail().GetCode()) != bc {
			t.Fatalf("%s: reply %v, want call %d to fail with %v/%v", what, r, id, gc, bc)
		}
	}
	sendCall(t, stream, &raftpb.Call{Id: 1})
	wantError("a call of no kind", recvReply(t, stream), 1, codes.Unimplemented, backend.CodeNotSupported)
	sendCall(t, stream, acquireCall(2, "", "c", false))
	wantError("an acquire without a lock ID", recvReply(t, stream), 2, codes.InvalidArgument, backend.CodeInvalidArgument)

	// Two calls in flight under one id: the second is refused, the first
	// goes on.
	if _, err := memOf(s).Acquire(ctx, &backend.AcquireRequest{LockID: "busy", ClientID: "holder", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	sendCall(t, stream, acquireCall(5, "busy", "waiter", true))
	sendCall(t, stream, acquireCall(5, "free", "other", false))
	wantError("a second call under id 5", recvReply(t, stream), 5, codes.InvalidArgument, backend.CodeInvalidArgument)
	sendCall(t, stream, &raftpb.Call{Id: 5, Op: &raftpb.Call_Cancel{Cancel: &raftpb.CallCancel{}}})
	wantError("the canceled first call", recvReply(t, stream), 5, codes.Canceled, backend.CodeCanceled)
}

// memOf is the memory store behind a test server of startMemServer.
func memOf(s *rpcTestServer) backend.Driver {
	return s.api.(*memNode).Driver
}

// A waited grant the stream cannot carry back is released, as on the
// Acquire stream.
func TestCallsReleaseWaitedGrantTheyCannotDeliver(t *testing.T) {
	store := memory.NewStore()
	defer store.Close()
	api := &grantOnGiveUpAPI{memNode: newMemNode(store), released: make(chan *backend.ReleaseRequest, 1)}
	s := startRPCServer(t, api)
	sctx, reset := context.WithCancel(testCtx(t))
	stream := openCalls(t, sctx, s.addr)
	sendCall(t, stream, acquireCall(1, "u", "gone", true))
	time.Sleep(20 * time.Millisecond) // let the call reach the node
	reset()
	wantReleased(t, api.released, "u", "gone")
}
