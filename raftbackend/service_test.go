package raftbackend

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/raftpb"
	"github.com/raftlock/raftlock/memory"
)

// memNode serves a memory store through nodeAPI, as a Node serves the Raft
// store, so that the gRPC layer is tested on its own. Its membership is a
// plain list.
type memNode struct {
	*memory.Driver

	mu      sync.Mutex
	members []Member
}

var _ nodeAPI = (*memNode)(nil)

func newMemNode(s *memory.Store) *memNode {
	return &memNode{Driver: s.NewDriver()}
}

func (n *memNode) Join(_ context.Context, id, raftAddr, apiAddr string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.members = append(n.members, Member{ID: id, RaftAddress: raftAddr, APIAddress: apiAddr, Voter: true})
	return nil
}

func (n *memNode) Leave(_ context.Context, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	i := slices.IndexFunc(n.members, func(m Member) bool { return m.ID == id })
	if i < 0 {
		return backend.Errorf(backend.CodeNotFound, "no server %q", id)
	}
	n.members = slices.Delete(n.members, i, i+1)
	return nil
}

func (n *memNode) Members(context.Context) ([]Member, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.members), nil
}

// LocalStatus marks its answer, so tests can tell it from Status.
func (n *memNode) LocalStatus(ctx context.Context) (*backend.Status, error) {
	st, err := n.Status(ctx)
	if err != nil {
		return nil, err
	}
	st.Role = "local"
	return st, nil
}

// rpcTestServer is a grpcServer serving api on a loopback port.
type rpcTestServer struct {
	addr   string
	srv    *grpcServer
	api    nodeAPI
	served chan error
	once   sync.Once
}

// startRPCServer serves api on 127.0.0.1 until the test ends (or stop).
// The server reports SERVING.
func startRPCServer(t testing.TB, api nodeAPI) *rpcTestServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rpcTestServer{addr: lis.Addr().String(), srv: newGRPCServer(api, nil), api: api, served: make(chan error, 1)}
	s.srv.SetServing(true)
	go func() { s.served <- s.srv.Serve(lis) }()
	t.Cleanup(s.stop)
	return s
}

// startMemServer serves a fresh memory store; it returns the server and the
// store, which the test may also reach directly.
func startMemServer(t testing.TB, opts ...memory.Option) (*rpcTestServer, *memory.Store) {
	t.Helper()
	store := memory.NewStore(opts...)
	t.Cleanup(func() { store.Close() })
	return startRPCServer(t, newMemNode(store)), store
}

// stop stops the server at once and closes its api.
func (s *rpcTestServer) stop() {
	s.once.Do(func() {
		s.srv.Stop()
		<-s.served
		s.api.Close()
	})
}

// rawConn is a plain gRPC connection to addr, closed when the test ends.
func rawConn(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(dialTarget(addr), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// testCtx is a context for one test step.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitUntil polls cond until it holds, failing the test after a few seconds.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// queued returns the client IDs waiting on lockID, asking d.
func queued(t testing.TB, d backend.Driver, lockID string) []string {
	t.Helper()
	info, err := d.Get(context.Background(), &backend.GetRequest{LockID: lockID, IncludeWaiters: true})
	if backend.CodeOf(err) == backend.CodeNotFound {
		return nil
	}
	if err != nil {
		t.Fatalf("Get(%s): %v", lockID, err)
	}
	var ids []string
	for _, w := range info.Waiters {
		ids = append(ids, w.ClientID)
	}
	return ids
}

// wantStatusCode fails unless err is a gRPC status with code c whose
// ErrorDetail carries bc.
func wantStatusCode(t *testing.T, what string, err error, c codes.Code, bc backend.Code) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != c {
		t.Fatalf("%s: got %v, want gRPC code %v", what, err, c)
	}
	ed := errorDetailOf(st)
	if ed == nil || backend.Code(ed.GetCode()) != bc {
		t.Fatalf("%s: detail %v, want code %v", what, ed, bc)
	}
}

func TestServiceHealthFollowsSetServing(t *testing.T) {
	store := memory.NewStore()
	defer store.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api := newMemNode(store)
	defer api.Close()
	srv := newGRPCServer(api, nil)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	hc := healthpb.NewHealthClient(rawConn(t, lis.Addr().String()))
	check := func(service string, want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		res, err := hc.Check(testCtx(t), &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("Check(%q): %v", service, err)
		}
		if res.GetStatus() != want {
			t.Fatalf("Check(%q) = %v, want %v", service, res.GetStatus(), want)
		}
	}
	name := raftpb.RaftLock_ServiceDesc.ServiceName
	check("", healthpb.HealthCheckResponse_NOT_SERVING)
	check(name, healthpb.HealthCheckResponse_NOT_SERVING)
	srv.SetServing(true)
	check("", healthpb.HealthCheckResponse_SERVING)
	check(name, healthpb.HealthCheckResponse_SERVING)
	srv.SetServing(false)
	check(name, healthpb.HealthCheckResponse_NOT_SERVING)
	srv.Stop()
	if err := <-served; err != nil {
		t.Fatalf("Serve after Stop: %v", err)
	}
}

func TestServiceRegistersReflection(t *testing.T) {
	s, _ := startMemServer(t)
	stream, err := reflectionpb.NewServerReflectionClient(rawConn(t, s.addr)).ServerReflectionInfo(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	res, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, svc := range res.GetListServicesResponse().GetService() {
		names = append(names, svc.GetName())
	}
	for _, want := range []string{"raftlock.v1.RaftLock", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, without %s", names, want)
		}
	}
	_ = stream.CloseSend()
}

// Requests that a client other than RemoteDriver could send: each fails
// with InvalidArgument and an ErrorDetail, and the server keeps serving.
func TestServiceRejectsMalformedRequests(t *testing.T) {
	s, _ := startMemServer(t)
	c := raftpb.NewRaftLockClient(rawConn(t, s.addr))
	ctx := testCtx(t)
	inv := func(what string, err error) {
		t.Helper()
		wantStatusCode(t, what, err, codes.InvalidArgument, backend.CodeInvalidArgument)
	}

	acquireStream := func(msgs ...*raftpb.AcquireCall) error {
		stream, err := c.Acquire(ctx)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := stream.Send(m); err != nil {
				break
			}
		}
		_ = stream.CloseSend()
		_, err = stream.Recv()
		return err
	}
	inv("Acquire stream without a request", acquireStream())
	inv("Acquire stream starting with a cancel", acquireStream(acquireCancel))
	inv("Acquire with an empty call", acquireStream(&raftpb.AcquireCall{}))
	inv("Acquire without IDs", acquireStream(&raftpb.AcquireCall{Call: &raftpb.AcquireCall_Request{
		Request: &raftpb.AcquireRequest{TtlNanos: int64(time.Second)},
	}}))
	err := acquireStream(&raftpb.AcquireCall{Call: &raftpb.AcquireCall_Request{
		Request: &raftpb.AcquireRequest{LockId: "l", ClientId: "c", TtlNanos: -1},
	}})
	wantStatusCode(t, "Acquire with a negative TTL", err, codes.InvalidArgument, backend.CodeInvalidTTL)

	_, err = c.Release(ctx, &raftpb.ReleaseRequest{LockId: "l", ClientId: "c"})
	inv("Release at version 0", err)
	_, err = c.Renew(ctx, &raftpb.RenewRequest{})
	inv("empty Renew", err)
	_, err = c.GetLockInfo(ctx, &raftpb.GetLockInfoRequest{})
	inv("GetLockInfo without a lock ID", err)
	_, err = c.GetLocks(ctx, &raftpb.GetLocksRequest{Limit: -1})
	inv("GetLocks with a negative limit", err)
	_, err = c.GetLocks(ctx, &raftpb.GetLocksRequest{Limit: 1 << 40})
	inv("GetLocks with a huge limit", err)
	_, err = c.GetLocks(ctx, &raftpb.GetLocksRequest{Filter: &raftpb.ListFilter{Pattern: "["}})
	inv("GetLocks with a malformed pattern", err)
	_, err = c.EnqueueWaiter(ctx, &raftpb.EnqueueWaiterRequest{LockId: "l", TtlNanos: int64(time.Second)})
	inv("EnqueueWaiter without a client ID", err)
	_, err = c.CancelWait(ctx, &raftpb.CancelWaitRequest{ClientId: "c"})
	inv("CancelWait without a lock ID", err)
	_, err = c.GetBackoffAdvice(ctx, &raftpb.GetBackoffAdviceRequest{})
	inv("GetBackoffAdvice without a lock ID", err)
	_, err = c.Join(ctx, &raftpb.JoinRequest{RaftAddress: "h:1"})
	inv("Join without an ID", err)
	_, err = c.Join(ctx, &raftpb.JoinRequest{Id: "n2"})
	inv("Join without a Raft address", err)
	_, err = c.Leave(ctx, &raftpb.LeaveRequest{})
	inv("Leave without an ID", err)

	// A nil filter is the zero filter, not an error.
	if _, err := c.GetLocks(ctx, &raftpb.GetLocksRequest{}); err != nil {
		t.Fatalf("GetLocks without a filter: %v", err)
	}
}

// rawBytesCodec sends a []byte as the message itself, so a test can send
// bytes that no proto3 encoder would produce.
type rawBytesCodec struct{}

func (rawBytesCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawBytesCodec) Unmarshal([]byte, any) error   { return nil }
func (rawBytesCodec) Name() string                  { return "proto" }

// Bytes that do not decode (here: a string field that is not UTF-8, which
// proto3 forbids) are refused by gRPC itself before the service runs.
func TestServiceSurvivesUndecodableRequest(t *testing.T) {
	s, _ := startMemServer(t)
	cc := rawConn(t, s.addr)
	msg := []byte{0x0a, 0x02, 0xff, 0xfe} // field 1 (lock_id), 2 bytes, not UTF-8
	var out []byte
	err := cc.Invoke(testCtx(t), "/raftlock.v1.RaftLock/GetLockInfo", msg, &out, grpc.ForceCodec(rawBytesCodec{}))
	if code := status.Code(err); code != codes.Internal {
		t.Fatalf("undecodable request: %v, want gRPC Internal", err)
	}
	if got := backend.CodeOf(errorFromStatus(context.Background(), "", err)); got != backend.CodeInternal {
		t.Fatalf("client reads it as %v, want CodeInternal", got)
	}
	// Still serving.
	if _, err := raftpb.NewRaftLockClient(cc).GetCapabilities(testCtx(t), &raftpb.GetCapabilitiesRequest{}); err != nil {
		t.Fatalf("GetCapabilities after the bad request: %v", err)
	}
}

// The client gives up a server-side wait: its call returns only after the
// node's Acquire has, so the waiter is gone by then, with no polling.
func TestServiceWaitEndsWhenClientCancels(t *testing.T) {
	s, store := startMemServer(t)
	local := store.NewDriver()
	defer local.Close()
	d := dialTest(t, s.addr)
	ctx := testCtx(t)
	if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "w", ClientID: "holder", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := d.Acquire(wctx, &backend.AcquireRequest{LockID: "w", ClientID: "waiter", TTL: time.Minute, Wait: true})
		done <- err
	}()
	waitUntil(t, "the waiter to queue", func() bool { return slices.Contains(queued(t, local, "w"), "waiter") })
	cancel()
	err := <-done
	if !errors.Is(err, backend.ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v, want ErrCanceled wrapping context.Canceled", err)
	}
	if ids := queued(t, local, "w"); len(ids) != 0 {
		t.Fatalf("after the cancelled call returned the queue is %v", ids)
	}
}

// A client that vanishes (its stream reset, no cancel message) also leaves
// the queue, once the node sees the reset.
func TestServiceWaitEndsWhenStreamResets(t *testing.T) {
	s, store := startMemServer(t)
	local := store.NewDriver()
	defer local.Close()
	ctx := testCtx(t)
	if _, err := local.Acquire(ctx, &backend.AcquireRequest{LockID: "r", ClientID: "holder", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	sctx, reset := context.WithCancel(ctx)
	stream, err := raftpb.NewRaftLockClient(rawConn(t, s.addr)).Acquire(sctx)
	if err != nil {
		t.Fatal(err)
	}
	req := &backend.AcquireRequest{LockID: "r", ClientID: "gone", TTL: time.Minute, Wait: true}
	if err := stream.Send(&raftpb.AcquireCall{Call: &raftpb.AcquireCall_Request{Request: acquireRequestToPB(req)}}); err != nil {
		t.Fatal(err)
	}
	// A half-close is not a cancel: the client still waits for its answer.
	_ = stream.CloseSend()
	waitUntil(t, "the waiter to queue", func() bool { return slices.Contains(queued(t, local, "r"), "gone") })
	time.Sleep(20 * time.Millisecond)
	if ids := queued(t, local, "r"); !slices.Contains(ids, "gone") {
		t.Fatalf("half-closing the stream ended the wait: queue %v", ids)
	}
	reset()
	waitUntil(t, "the reset waiter to leave the queue", func() bool { return len(queued(t, local, "r")) == 0 })
}

// GracefulStop does not wait for queued Acquires: they end with
// CodeUnavailable, so their clients go to another node, and leave the queue.
func TestServiceGracefulStopEndsWaits(t *testing.T) {
	s, store := startMemServer(t)
	local := store.NewDriver()
	defer local.Close()
	ctx := testCtx(t)
	if _, err := local.Acquire(ctx, &backend.AcquireRequest{LockID: "g", ClientID: "holder", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	d := dialTest(t, s.addr)
	done := make(chan error, 1)
	go func() {
		_, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "g", ClientID: "waiter", TTL: time.Minute, Wait: true})
		done <- err
	}()
	waitUntil(t, "the waiter to queue", func() bool { return slices.Contains(queued(t, local, "g"), "waiter") })
	stopped := make(chan struct{})
	go func() {
		s.srv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("GracefulStop waited for a queued Acquire")
	}
	if err := <-done; backend.CodeOf(err) != backend.CodeUnavailable {
		t.Fatalf("wait ended by GracefulStop: %v, want CodeUnavailable", err)
	}
	if ids := queued(t, local, "g"); len(ids) != 0 {
		t.Fatalf("after GracefulStop the queue is %v", ids)
	}
}

// grantOnGiveUpAPI answers a waiting Acquire with a waited grant only once
// the call's context has ended, and late by after: the grant wins the race
// with the client's give-up, and the answer cannot be delivered, or comes
// when the client no longer waits for it. It records Releases.
type grantOnGiveUpAPI struct {
	*memNode
	released chan *backend.ReleaseRequest
	after    time.Duration
}

func (a *grantOnGiveUpAPI) Acquire(ctx context.Context, req *backend.AcquireRequest) (*backend.AcquireResult, error) {
	<-ctx.Done()
	time.Sleep(a.after)
	return &backend.AcquireResult{Waited: true, Lock: backend.Lock{LockID: req.LockID, Owner: req.ClientID, Version: 42}}, nil
}

func (a *grantOnGiveUpAPI) Release(_ context.Context, req *backend.ReleaseRequest) (*backend.ReleaseResult, error) {
	a.released <- req
	return &backend.ReleaseResult{}, nil
}

func TestServiceReleasesWaitedGrantItCannotDeliver(t *testing.T) {
	store := memory.NewStore()
	defer store.Close()
	api := &grantOnGiveUpAPI{memNode: newMemNode(store), released: make(chan *backend.ReleaseRequest, 1)}
	s := startRPCServer(t, api)
	sctx, reset := context.WithCancel(testCtx(t))
	stream, err := raftpb.NewRaftLockClient(rawConn(t, s.addr)).Acquire(sctx)
	if err != nil {
		t.Fatal(err)
	}
	req := &backend.AcquireRequest{LockID: "u", ClientID: "gone", TTL: time.Minute, Wait: true}
	if err := stream.Send(&raftpb.AcquireCall{Call: &raftpb.AcquireCall_Request{Request: acquireRequestToPB(req)}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // let the request reach the node
	reset()
	wantReleased(t, api.released, "u", "gone")
}

// wantReleased waits for the release of grantOnGiveUpAPI's grant of lock
// to owner (version 42).
func wantReleased(t *testing.T, released <-chan *backend.ReleaseRequest, lock, owner string) {
	t.Helper()
	select {
	case r := <-released:
		if r.LockID != lock || r.ClientID != owner || r.Version != 42 {
			t.Fatalf("released %+v, want lock %s of %s at version 42", r, lock, owner)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the grant of lock %s to %s was not released", lock, owner)
	}
}

func TestFetchLocalStatus(t *testing.T) {
	s, _ := startMemServer(t)
	st, err := fetchLocalStatus(testCtx(t), s.addr)
	if err != nil {
		t.Fatal(err)
	}
	if st.Store != "memory" || st.Role != "local" {
		t.Fatalf("fetchLocalStatus = %+v, want the node's LocalStatus", st)
	}
	d := dialTest(t, s.addr)
	cluster, err := d.Status(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if cluster.Role == "local" {
		t.Fatalf("Status answered with LocalStatus: %+v", cluster)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close()
	if _, err := fetchLocalStatus(testCtx(t), dead); backend.CodeOf(err) != backend.CodeUnavailable {
		t.Fatalf("fetchLocalStatus of a dead node: %v, want CodeUnavailable", err)
	}
}

func TestServiceMembership(t *testing.T) {
	s, _ := startMemServer(t)
	d := dialTest(t, s.addr)
	ctx := testCtx(t)
	if err := d.Join(ctx, "n2", "10.0.0.2:7000", "10.0.0.2:7001"); err != nil {
		t.Fatal(err)
	}
	if err := d.Join(ctx, "n3", "10.0.0.3:7000", ""); err != nil {
		t.Fatal(err)
	}
	ms, err := d.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []Member{
		{ID: "n2", RaftAddress: "10.0.0.2:7000", APIAddress: "10.0.0.2:7001", Voter: true},
		{ID: "n3", RaftAddress: "10.0.0.3:7000", Voter: true},
	}
	if !slices.Equal(ms, want) {
		t.Fatalf("Members = %+v, want %+v", ms, want)
	}
	if err := d.Leave(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if err := d.Leave(ctx, "n2"); !errors.Is(err, backend.ErrLockNotFound) {
		t.Fatalf("second Leave: %v, want the node's CodeNotFound", err)
	}
	if err := d.Join(ctx, "", "h:1", ""); !errors.Is(err, backend.ErrInvalidArgument) {
		t.Fatalf("Join without an ID: %v", err)
	}
}

func TestServiceTryAcquireRefusesToWait(t *testing.T) {
	srv, _ := startMemServer(t)
	c := raftpb.NewRaftLockClient(rawConn(t, srv.addr))
	req := &raftpb.AcquireRequest{LockId: "x", ClientId: "c", TtlNanos: int64(time.Minute)}
	if _, err := c.TryAcquire(testCtx(t), req); err != nil {
		t.Fatal(err)
	}
	req.ClientId, req.Wait = "d", true
	_, err := c.TryAcquire(testCtx(t), req)
	wantStatusCode(t, "TryAcquire with wait", err, codes.InvalidArgument, backend.CodeInvalidArgument)
}
