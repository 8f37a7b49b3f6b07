package raftbackend

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/raftpb"
)

// Keep-alive defaults of the server. Clients may ping as often as every
// serverMinPingInterval, with or without calls in flight, because a client
// blocked in a long wait needs its pings to notice a dead node. The server
// pings an idle connection after serverPingIdle and drops it if the ping
// goes unanswered for serverPingTimeout, so that the wait of a client whose
// machine vanished (no FIN, no RST) ends and leaves the queue within a
// minute instead of holding its place for hours.
const (
	serverMinPingInterval = 5 * time.Second
	serverPingIdle        = 30 * time.Second
	serverPingTimeout     = 10 * time.Second
)

// undeliveredReleaseTimeout bounds the Release the service sends for a
// waited grant it could not deliver (see lockService.Acquire).
const undeliveredReleaseTimeout = 5 * time.Second

// grpcServer serves one node's client API: the RaftLock service over
// nodeAPI, grpc.health.v1 and server reflection.
type grpcServer struct {
	srv    *grpc.Server
	health *health.Server
	svc    *lockService
}

// newGRPCServer makes the server for api. It reports NOT_SERVING on
// grpc.health.v1 until SetServing(true). opts come after the server's own
// defaults (keep-alive enforcement and pings), so they override them.
func newGRPCServer(api nodeAPI, logger *slog.Logger, opts ...grpc.ServerOption) *grpcServer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	base := []grpc.ServerOption{
		// Reuse handler goroutines and write buffers: on a small machine
		// the node, its peers and the API share the cores, and a lock
		// call is a few hundred bytes. A handler that blocks (a waiting
		// Acquire) does not hold a worker hostage: gRPC starts a goroutine
		// when none is free. Interleaved A/B, one node, 16 clients:
		// about 8% more pairs/s (medians of three rounds).
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
		grpc.SharedWriteBuffer(true),
		// As on the client (see flowWindow): no bandwidth-delay pings.
		grpc.InitialWindowSize(flowWindow),
		grpc.InitialConnWindowSize(flowWindow),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             serverMinPingInterval,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    serverPingIdle,
			Timeout: serverPingTimeout,
		}),
	}
	stopping, stop := context.WithCancel(context.Background())
	g := &grpcServer{
		srv:    grpc.NewServer(append(base, opts...)...),
		health: health.NewServer(),
		svc:    &lockService{api: api, log: logger, stopping: stopping, stop: stop},
	}
	raftpb.RegisterRaftLockServer(g.srv, g.svc)
	healthpb.RegisterHealthServer(g.srv, g.health)
	reflection.Register(g.srv)
	g.SetServing(false)
	return g
}

// Serve accepts connections on lis until Stop or GracefulStop; it returns
// nil after either, and the listener's error otherwise.
func (g *grpcServer) Serve(lis net.Listener) error {
	return g.srv.Serve(lis)
}

// SetServing sets the grpc.health.v1 status of the server ("") and of the
// RaftLock service to SERVING or NOT_SERVING. The node calls it when it
// gains or loses the leadership, or a known leader, so that load balancers
// and health checks see which nodes can take lock calls.
func (g *grpcServer) SetServing(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	g.health.SetServingStatus("", st)
	g.health.SetServingStatus(raftpb.RaftLock_ServiceDesc.ServiceName, st)
}

// GracefulStop stops accepting connections and waits for the calls in
// flight. Acquires waiting in a queue do not hold it up: they end at once
// with CodeUnavailable ("node shutting down"), after their waiters have left
// the queue, so that their clients go to another node.
func (g *grpcServer) GracefulStop() {
	g.health.Shutdown()
	g.svc.stop()
	g.srv.GracefulStop()
}

// Stop closes every connection and cancels every call at once.
func (g *grpcServer) Stop() {
	g.health.Shutdown()
	g.svc.stop()
	g.srv.Stop()
}

// lockService implements raftpb.RaftLockServer over a nodeAPI: each call
// converts the request, checks it with backend's Validate functions (the
// node checks again; a request off the network is checked before anything
// else sees it), calls the node with the call's context, and converts the
// answer or the error (see statusOf).
type lockService struct {
	raftpb.UnimplementedRaftLockServer

	api      nodeAPI
	log      *slog.Logger
	stopping context.Context // done once the server stops
	stop     context.CancelFunc
}

var _ raftpb.RaftLockServer = (*lockService)(nil)

// fail turns the node's error into the status the client gets. The node's
// CodeClosed means the node is shutting down; to a remote client that is
// CodeUnavailable, which sends it to another node, not CodeClosed, which
// would tell it that its own driver had closed. A call the server's
// shutdown ended is reported the same way.
func (s *lockService) fail(op string, err error) error {
	code := backend.CodeOf(err)
	switch {
	case code == backend.CodeClosed,
		s.stopping.Err() != nil && (code == backend.CodeCanceled || code == backend.CodeTimeout):
		var lockID string
		var e *backend.Error
		if errors.As(err, &e) {
			lockID = e.LockID
		}
		err = &backend.Error{Code: backend.CodeUnavailable, LockID: lockID, Message: "node is shutting down", Err: err}
	case code == backend.CodeInternal || code == backend.CodeUnknown:
		s.log.Warn("raftlock: call failed", "op", op, "err", err)
	}
	return statusError(err)
}

// noResult is the error for a node that answered neither a result nor an
// error: a bug in the node, reported rather than dereferenced.
func noResult(op string) error {
	return statusError(backend.Errorf(backend.CodeInternal, "%s: the store returned no result and no error", op))
}

// Acquire serves one Acquire stream (see raftlock.proto): the first message
// is the request; with Wait, a later cancel message, or the stream's end,
// makes the node's Acquire return, and the answer goes back only after it
// has, so the client learns that its waiter left the queue.
func (s *lockService) Acquire(stream raftpb.RaftLock_AcquireServer) error {
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return statusError(backend.Errorf(backend.CodeInvalidArgument, "acquire stream ended before its request"))
	}
	if err != nil {
		return err // the stream broke; gRPC's status says how
	}
	p := first.GetRequest()
	if p == nil {
		return statusError(backend.Errorf(backend.CodeInvalidArgument, "the first message of an acquire stream must be the request"))
	}
	ctx := stream.Context()
	if p.GetWait() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		// The reader ends with the stream, which ends when this handler
		// returns, so it never outlives the call by more than that.
		go watchAcquireCancel(stream, cancel)
		stopWatch := context.AfterFunc(s.stopping, cancel)
		defer stopWatch()
	}
	res, err := s.acquire(ctx, "Acquire", p)
	if err != nil {
		return err
	}
	if err := stream.Send(acquireResultToPB(res)); err != nil {
		if res.Waited {
			s.releaseUndelivered(stream.Context(), res)
		}
		return err
	}
	return nil
}

// watchAcquireCancel reads an Acquire stream after its request and cancels
// the wait when the client sends a cancel. The end of the client's sending
// (EOF) is not a cancel: a client may send its request and half-close, then
// wait for the answer.
func watchAcquireCancel(stream raftpb.RaftLock_AcquireServer, cancel context.CancelFunc) {
	for {
		msg, err := stream.Recv()
		if err != nil {
			return
		}
		if msg.GetCancel() != nil {
			cancel()
			return
		}
	}
}

// releaseUndelivered releases a grant that came out of the wait queue but
// whose answer could not be sent: the client gave up or vanished, so nobody
// would use or release it until its TTL ran out. A grant that was not
// waited for is kept, because the client resends that request under the
// same RequestID and must then learn that it holds the lock.
func (s *lockService) releaseUndelivered(streamCtx context.Context, res *backend.AcquireResult) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(streamCtx), undeliveredReleaseTimeout)
	defer cancel()
	l := &res.Lock
	_, err := s.api.Release(ctx, &backend.ReleaseRequest{LockID: l.LockID, ClientID: l.Owner, Version: l.Version})
	s.log.Info("raftlock: released a waited grant whose client had gone",
		"lock", l.LockID, "owner", l.Owner, "version", l.Version, "err", err)
}

// acquire checks one Acquire request and has the node run it, waiting or
// not as it asks; op names the call in errors and logs. The error is the
// status the client gets.
func (s *lockService) acquire(ctx context.Context, op string, p *raftpb.AcquireRequest) (*backend.AcquireResult, error) {
	req := acquireRequestFromPB(p)
	if e := backend.ValidateAcquire(req, s.api.Capabilities()); e != nil {
		return nil, statusError(e)
	}
	res, err := s.api.Acquire(ctx, req)
	if err != nil {
		return nil, s.fail(op, err)
	}
	if res == nil {
		return nil, noResult(op)
	}
	return res, nil
}

// TryAcquire implements raftpb.RaftLockServer: an Acquire that does not
// wait, in one unary call.
func (s *lockService) TryAcquire(ctx context.Context, p *raftpb.AcquireRequest) (*raftpb.AcquireResponse, error) {
	if p.GetWait() {
		// Checked after the request itself, so that a malformed waiting
		// request hears what is wrong with it first.
		if e := backend.ValidateAcquire(acquireRequestFromPB(p), s.api.Capabilities()); e != nil {
			return nil, statusError(e)
		}
		return nil, statusError(backend.Errorf(backend.CodeInvalidArgument, "TryAcquire does not wait; use the Acquire stream"))
	}
	res, err := s.acquire(ctx, "TryAcquire", p)
	if err != nil {
		return nil, err
	}
	return acquireResultToPB(res), nil
}

// Release implements raftpb.RaftLockServer.
func (s *lockService) Release(ctx context.Context, p *raftpb.ReleaseRequest) (*raftpb.ReleaseResponse, error) {
	req := releaseRequestFromPB(p)
	if e := backend.ValidateRelease(req); e != nil {
		return nil, statusError(e)
	}
	res, err := s.api.Release(ctx, req)
	if err != nil {
		return nil, s.fail("Release", err)
	}
	if res == nil {
		return nil, noResult("Release")
	}
	return releaseResultToPB(res), nil
}

// Renew implements raftpb.RaftLockServer.
func (s *lockService) Renew(ctx context.Context, p *raftpb.RenewRequest) (*raftpb.Lock, error) {
	req := renewRequestFromPB(p)
	if e := backend.ValidateRenew(req, s.api.Capabilities()); e != nil {
		return nil, statusError(e)
	}
	l, err := s.api.Renew(ctx, req)
	if err != nil {
		return nil, s.fail("Renew", err)
	}
	if l == nil {
		return nil, noResult("Renew")
	}
	return lockToPB(l), nil
}

// GetLockInfo implements raftpb.RaftLockServer.
func (s *lockService) GetLockInfo(ctx context.Context, p *raftpb.GetLockInfoRequest) (*raftpb.LockInfo, error) {
	req := getRequestFromPB(p)
	if e := backend.ValidateGet(req); e != nil {
		return nil, statusError(e)
	}
	info, err := s.api.Get(ctx, req)
	if err != nil {
		return nil, s.fail("Get", err)
	}
	if info == nil {
		return nil, noResult("Get")
	}
	return lockInfoToPB(info), nil
}

// GetLocks implements raftpb.RaftLockServer.
func (s *lockService) GetLocks(ctx context.Context, p *raftpb.GetLocksRequest) (*raftpb.GetLocksResponse, error) {
	req, e := listRequestFromPB(p)
	if e == nil {
		e = backend.ValidateList(req)
	}
	if e != nil {
		return nil, statusError(e)
	}
	res, err := s.api.List(ctx, req)
	if err != nil {
		return nil, s.fail("List", err)
	}
	if res == nil {
		return nil, noResult("List")
	}
	return listResultToPB(res), nil
}

// EnqueueWaiter implements raftpb.RaftLockServer.
func (s *lockService) EnqueueWaiter(ctx context.Context, p *raftpb.EnqueueWaiterRequest) (*raftpb.EnqueueWaiterResponse, error) {
	req := enqueueRequestFromPB(p)
	if e := backend.ValidateEnqueue(req, s.api.Capabilities()); e != nil {
		return nil, statusError(e)
	}
	res, err := s.api.Enqueue(ctx, req)
	if err != nil {
		return nil, s.fail("Enqueue", err)
	}
	if res == nil {
		return nil, noResult("Enqueue")
	}
	return enqueueResultToPB(res), nil
}

// CancelWait implements raftpb.RaftLockServer.
func (s *lockService) CancelWait(ctx context.Context, p *raftpb.CancelWaitRequest) (*raftpb.CancelWaitResponse, error) {
	req := cancelWaitRequestFromPB(p)
	if e := backend.ValidateCancelWait(req); e != nil {
		return nil, statusError(e)
	}
	if err := s.api.CancelWait(ctx, req); err != nil {
		return nil, s.fail("CancelWait", err)
	}
	return &raftpb.CancelWaitResponse{}, nil
}

// GetBackoffAdvice implements raftpb.RaftLockServer.
func (s *lockService) GetBackoffAdvice(ctx context.Context, p *raftpb.GetBackoffAdviceRequest) (*raftpb.BackoffAdvice, error) {
	if e := backend.ValidateID("lock ID", p.GetLockId()); e != nil {
		return nil, statusError(e)
	}
	a, err := s.api.BackoffAdvice(ctx, p.GetLockId())
	if err != nil {
		return nil, s.fail("BackoffAdvice", err)
	}
	if a == nil {
		return nil, noResult("BackoffAdvice")
	}
	return backoffAdviceToPB(a), nil
}

// GetStatus implements raftpb.RaftLockServer: the cluster's status, or with
// local_only the node's own (nodeAPI.LocalStatus).
func (s *lockService) GetStatus(ctx context.Context, p *raftpb.GetStatusRequest) (*raftpb.Status, error) {
	var st *backend.Status
	var err error
	if p.GetLocalOnly() {
		st, err = s.api.LocalStatus(ctx)
	} else {
		st, err = s.api.Status(ctx)
	}
	if err != nil {
		return nil, s.fail("Status", err)
	}
	if st == nil {
		return nil, noResult("Status")
	}
	return statusToPB(st), nil
}

// Health implements raftpb.RaftLockServer.
func (s *lockService) Health(ctx context.Context, _ *raftpb.HealthRequest) (*raftpb.HealthResponse, error) {
	h, err := s.api.Health(ctx)
	if err != nil {
		return nil, s.fail("Health", err)
	}
	if h == nil {
		return nil, noResult("Health")
	}
	return healthToPB(h), nil
}

// Join implements raftpb.RaftLockServer.
func (s *lockService) Join(ctx context.Context, p *raftpb.JoinRequest) (*raftpb.JoinResponse, error) {
	if e := validateJoin(p.GetId(), p.GetRaftAddress(), p.GetApiAddress()); e != nil {
		return nil, statusError(e)
	}
	if err := s.api.Join(ctx, p.GetId(), p.GetRaftAddress(), p.GetApiAddress()); err != nil {
		return nil, s.fail("Join", err)
	}
	return &raftpb.JoinResponse{}, nil
}

// Leave implements raftpb.RaftLockServer.
func (s *lockService) Leave(ctx context.Context, p *raftpb.LeaveRequest) (*raftpb.LeaveResponse, error) {
	if e := backend.ValidateID("server ID", p.GetId()); e != nil {
		return nil, statusError(e)
	}
	if err := s.api.Leave(ctx, p.GetId()); err != nil {
		return nil, s.fail("Leave", err)
	}
	return &raftpb.LeaveResponse{}, nil
}

// Members implements raftpb.RaftLockServer.
func (s *lockService) Members(ctx context.Context, _ *raftpb.MembersRequest) (*raftpb.MembersResponse, error) {
	ms, err := s.api.Members(ctx)
	if err != nil {
		return nil, s.fail("Members", err)
	}
	return membersToPB(ms), nil
}

// GetCapabilities implements raftpb.RaftLockServer.
func (s *lockService) GetCapabilities(context.Context, *raftpb.GetCapabilitiesRequest) (*raftpb.Capabilities, error) {
	return capabilitiesToPB(s.api.Capabilities()), nil
}

// validateJoin checks a Join's arguments: a server ID and a Raft address are
// required; the API address is optional (a server that serves no clients).
func validateJoin(id, raftAddr, apiAddr string) *backend.Error {
	if e := backend.ValidateID("server ID", id); e != nil {
		return e
	}
	if e := backend.ValidateID("raft address", raftAddr); e != nil {
		return e
	}
	if apiAddr != "" {
		return backend.ValidateID("API address", apiAddr)
	}
	return nil
}

// fetchLocalStatus asks the node serving apiAddr for its own status
// (GetStatus with local_only), over a connection made for this one call.
// The connection is insecure unless dialOpts set transport credentials. A
// leader uses it to fill in Status.Peers.
func fetchLocalStatus(ctx context.Context, apiAddr string, dialOpts ...grpc.DialOption) (*backend.Status, error) {
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, dialOpts...)
	conn, err := grpc.NewClient(dialTarget(apiAddr), opts...)
	if err != nil {
		return nil, &backend.Error{Code: backend.CodeInvalidArgument, Message: "address " + apiAddr + ": " + err.Error(), Err: err}
	}
	defer conn.Close()
	st, err := raftpb.NewRaftLockClient(conn).GetStatus(ctx, &raftpb.GetStatusRequest{LocalOnly: true})
	if err != nil {
		return nil, errorFromStatus(ctx, "", err)
	}
	return statusFromPB(st), nil
}

// dialTarget is the gRPC target for a host:port address: the DNS resolver,
// named explicitly so that a host name that looks like a URL scheme ("unix",
// "dns") is not read as one.
func dialTarget(addr string) string {
	return "dns:///" + addr
}
