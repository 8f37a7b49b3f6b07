package raftbackend

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/raftpb"
)

// RemoteDriver is the client driver of a Raft lock store: it reaches the
// store's nodes over gRPC (raft://host:port,host:port). It implements
// backend.Driver, Queuer, Admin, Router and Observable, and adds the
// cluster's membership calls and an operator's ForceRelease.
//
// Each call goes to the last known leader (at first, the first endpoint
// that answered Dial). A follower's NOT_LEADER answer names the leader, and
// the driver sends the same request there at once, RequestID and all: that
// is a redirect, not a retry, and it is bounded (RemoteMaxRedirects). A
// node that cannot be reached, or that knows no leader, makes the driver
// try each other endpoint once; when none can serve the call it fails with
// the retryable CodeUnavailable or CodeLeaderUnavailable, and the portable
// client's retry policy decides whether to call again. The driver itself
// never retries.
//
// Connections are made lazily, one per address, the leader's included
// when a redirect names an address outside the endpoint list. The lock
// calls (Acquire, Release, Renew, Get) share one long-lived Calls stream
// per connection, a message each way per call; the others are unary
// calls. A node without the Calls stream (an older release) gets them all
// as unary calls and Acquire streams.
//
// A RemoteDriver is safe for concurrent use. Close cancels every call in
// flight (they fail with CodeClosed; a waiting Acquire first has its node
// confirm that its waiter left the queue) and closes the connections.
type RemoteDriver struct {
	endpoints []string
	cfg       remoteConfig
	log       *slog.Logger
	dialOpts  []grpc.DialOption
	caps      backend.Capabilities // fixed by Dial

	closing    context.Context // done once Close begins; every call ends with it
	beginClose context.CancelFunc

	mu        sync.Mutex
	conns     map[string]*remoteConn
	leader    string // the last known leader's address, "" if none
	preferred string // where calls start when no leader is known
	closed    bool
	observer  backend.Observer
	calls     sync.WaitGroup // calls in flight; Add only under mu while open
}

// remoteConn is the connection to one node.
type remoteConn struct {
	cc     *grpc.ClientConn
	client *nodeClient
}

var (
	_ backend.Driver     = (*RemoteDriver)(nil)
	_ backend.Queuer     = (*RemoteDriver)(nil)
	_ backend.Admin      = (*RemoteDriver)(nil)
	_ backend.Router     = (*RemoteDriver)(nil)
	_ backend.Observable = (*RemoteDriver)(nil)
)

// Dial makes a driver for the nodes at endpoints (host:port each) and
// learns the store's Capabilities from the first node that answers, trying
// each in turn within ctx. It fails with CodeInvalidArgument for an empty
// or malformed endpoint list or unusable TLS settings, and with
// CodeUnavailable when no node answers (a node whose TLS handshake fails
// does not answer).
func Dial(ctx context.Context, endpoints []string, opts ...RemoteOption) (*RemoteDriver, error) {
	cfg := remoteConfig{maxRedirects: DefaultMaxRedirects, cancelGrace: DefaultCancelGrace}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	eps, e := cleanEndpoints(endpoints)
	if e != nil {
		return nil, e
	}
	creds, err := cfg.transportCredentials()
	if err != nil {
		return nil, err
	}
	d := &RemoteDriver{
		endpoints: eps,
		cfg:       cfg,
		log:       cfg.logger,
		dialOpts:  cfg.grpcDialOptions(creds),
		conns:     make(map[string]*remoteConn, len(eps)),
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.closing, d.beginClose = context.WithCancel(context.Background())
	caps, first, err := d.probe(ctx)
	if err != nil {
		_ = d.Close()
		return nil, err
	}
	d.caps, d.preferred = caps, first
	return d, nil
}

// cleanEndpoints checks that every endpoint is host:port and drops
// duplicates, keeping the order.
func cleanEndpoints(endpoints []string) ([]string, *backend.Error) {
	if len(endpoints) == 0 {
		return nil, backend.Errorf(backend.CodeInvalidArgument, "raft store: no endpoints")
	}
	out := make([]string, 0, len(endpoints))
	seen := make(map[string]bool, len(endpoints))
	for _, ep := range endpoints {
		ep = strings.TrimSpace(ep)
		if e := checkEndpoint(ep); e != nil {
			return nil, e
		}
		if !seen[ep] {
			seen[ep] = true
			out = append(out, ep)
		}
	}
	return out, nil
}

// checkEndpoint checks one host:port address.
func checkEndpoint(ep string) *backend.Error {
	if ep == "" {
		return backend.Errorf(backend.CodeInvalidArgument, "raft store: empty endpoint")
	}
	host, port, err := net.SplitHostPort(ep)
	if err != nil || host == "" || port == "" {
		return backend.Errorf(backend.CodeInvalidArgument, "raft store: endpoint %q is not host:port", ep)
	}
	return nil
}

// probe asks each endpoint in turn for the store's capabilities and returns
// those of the first that answers, and that endpoint. With a deadline, each
// attempt gets an equal share of the time left, so that one node that
// swallows packets cannot use up the time of the others.
func (d *RemoteDriver) probe(ctx context.Context) (backend.Capabilities, string, error) {
	var failures []string
	var errs []error
	for i, ep := range d.endpoints {
		if ctx.Err() != nil {
			break
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if dl, ok := ctx.Deadline(); ok {
			actx, cancel = context.WithTimeout(ctx, time.Until(dl)/time.Duration(len(d.endpoints)-i))
		}
		c, err := d.client(ep)
		if err == nil {
			var p *raftpb.Capabilities
			p, err = c.GetCapabilities(actx, &raftpb.GetCapabilitiesRequest{})
			if err == nil {
				cancel()
				return capabilitiesFromPB(p), ep, nil
			}
			err = errorFromStatus(actx, "", err)
		}
		cancel()
		d.log.Debug("raftlock: endpoint did not answer", "endpoint", ep, "err", err)
		failures = append(failures, ep+": "+reason(err))
		errs = append(errs, err)
	}
	if err := ctx.Err(); err != nil {
		failures = append(failures, err.Error())
		errs = append(errs, err)
	}
	return backend.Capabilities{}, "", &backend.Error{
		Code:    backend.CodeUnavailable,
		Message: "no raft store endpoint answered: " + strings.Join(failures, "; "),
		Err:     errors.Join(errs...),
	}
}

// client returns the client of the node at addr, connecting lazily.
func (d *RemoteDriver) client(addr string) (raftpb.RaftLockClient, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, closedError("")
	}
	if c := d.conns[addr]; c != nil {
		return c.client, nil
	}
	if e := checkEndpoint(addr); e != nil {
		// A redirect to a malformed address: the node that sent it is
		// confused, and this address cannot serve the call.
		return nil, &backend.Error{Code: backend.CodeUnavailable, Message: e.Message}
	}
	cc, err := grpc.NewClient(dialTarget(addr), d.dialOpts...)
	if err != nil {
		return nil, &backend.Error{Code: backend.CodeUnavailable, Message: "connect to " + addr + ": " + err.Error(), Err: err}
	}
	unary := raftpb.NewRaftLockClient(cc)
	c := &remoteConn{cc: cc, client: &nodeClient{RaftLockClient: unary, mux: newCallMux(unary)}}
	d.conns[addr] = c
	if d.observer != nil {
		// Under mu, so that the counts arrive in order.
		d.observer.Connections(len(d.conns))
	}
	return c.client, nil
}

// closedError is the error of a call on a closed driver.
func closedError(lockID string) *backend.Error {
	return &backend.Error{Code: backend.CodeClosed, LockID: lockID, Message: "raft store driver closed"}
}

// admit fails a call on a closed driver with CodeClosed, then a malformed
// request with what its Validate function found, before anything is sent.
func (d *RemoteDriver) admit(invalid *backend.Error) error {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	switch {
	case closed:
		lockID := ""
		if invalid != nil {
			lockID = invalid.LockID
		}
		return closedError(lockID)
	case invalid != nil:
		return invalid
	}
	return nil
}

// begin registers a call in flight and returns its context, which ends
// with ctx or when the driver closes, and the function that ends the call.
func (d *RemoteDriver) begin(ctx context.Context, lockID string) (context.Context, func(), error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, nil, closedError(lockID)
	}
	d.calls.Add(1)
	d.mu.Unlock()
	if ctx.Err() != nil {
		d.calls.Done()
		return nil, nil, backend.ContextError(ctx, lockID)
	}
	cctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(d.closing, cancel)
	return cctx, func() {
		stop()
		cancel()
		d.calls.Done()
	}, nil
}

// callError maps a failed attempt's error for the caller: CodeClosed once
// the driver is closing, the caller's context error once ctx is done (unless
// the node gave a definite answer), else what the status says.
func (d *RemoteDriver) callError(ctx context.Context, lockID string, err error) *backend.Error {
	if d.closing.Err() != nil {
		return closedError(lockID)
	}
	var e *backend.Error
	if !errors.As(errorFromStatus(ctx, lockID, err), &e) {
		e = &backend.Error{Code: backend.CodeUnknown, LockID: lockID, Err: err}
	}
	if ctx.Err() != nil && (e.Code.Retryable() || e.Code == backend.CodeCanceled || e.Code == backend.CodeTimeout) {
		return backend.ContextError(ctx, lockID)
	}
	if e.LockID == "" {
		e.LockID = lockID
	}
	return e
}

// acquireCancel is the message that gives up a waiting Acquire.
var acquireCancel = &raftpb.AcquireCall{Call: &raftpb.AcquireCall_Cancel{Cancel: &raftpb.AcquireCancel{}}}

// acquireAt sends one Acquire to a node (see raftlock.proto). Without Wait
// it is a plain request and answer, bounded by ctx. With Wait, the call
// does not end with ctx: when ctx ends (the caller gave up, or the driver
// closed) the driver sends a cancel and reads the node's answer, which
// comes once the waiter has left the queue, or is the grant if the grant
// won the race. Only if no answer comes within the cancel grace does the
// driver stop waiting for it (on the Acquire stream, by resetting it; on
// the Calls stream, by releasing the grant if one comes later). So a
// caller whose wait ended knows that it holds nothing and waits for
// nothing, or holds the lock and has the grant.
func (d *RemoteDriver) acquireAt(ctx context.Context, c raftpb.RaftLockClient, req *raftpb.AcquireCall) (*raftpb.AcquireResponse, error) {
	if !req.GetRequest().GetWait() {
		// Nothing to confirm on the way out: one call.
		return c.TryAcquire(ctx, req.GetRequest())
	}
	if nc, ok := c.(*nodeClient); ok {
		if res, ok, err := nc.waitAcquire(ctx, req.GetRequest(), d.cfg.cancelGrace); ok {
			return res, err
		}
		// A node without the Calls stream: its Acquire stream.
	}

	// The stream keeps ctx's values but not its end.
	sctx, reset := context.WithCancel(context.WithoutCancel(ctx))
	defer reset()
	// Until the request is on its way there is nothing to confirm, so
	// ctx ending then just resets the stream.
	early := context.AfterFunc(ctx, reset)
	stream, err := c.Acquire(sctx)
	if err == nil {
		if err = stream.Send(req); errors.Is(err, io.EOF) {
			err = nil
		}
	}
	if !early() {
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if err != nil {
		return nil, err
	}

	answered := make(chan struct{})
	gaveUp := make(chan struct{})
	stopGiveUp := context.AfterFunc(ctx, func() {
		defer close(gaveUp)
		if stream.Send(acquireCancel) == nil {
			_ = stream.CloseSend()
		}
		t := time.NewTimer(d.cfg.cancelGrace)
		defer t.Stop()
		select {
		case <-answered:
		case <-t.C:
			reset()
		}
	})
	res, err := recvAcquire(stream)
	close(answered)
	if !stopGiveUp() {
		<-gaveUp // no goroutine of this call outlives it
	}
	return res, err
}

// recvAcquire reads an Acquire stream's answer, then its end, so that gRPC
// frees the stream without resetting it.
func recvAcquire(stream raftpb.RaftLock_AcquireClient) (*raftpb.AcquireResponse, error) {
	res, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return nil, statusError(backend.Errorf(backend.CodeInternal, "acquire stream ended without an answer"))
	}
	if err != nil {
		return nil, err
	}
	_, _ = stream.Recv() // io.EOF: the node's handler has returned
	return res, nil
}

// Acquire implements backend.Driver. A waiting Acquire blocks in the node
// (Capabilities.ServerSideWait) until granted, until req.WaitTimeout passes,
// or until ctx ends or the driver closes; see RemoteDriver.
func (d *RemoteDriver) Acquire(ctx context.Context, req *backend.AcquireRequest) (*backend.AcquireResult, error) {
	if err := d.admit(backend.ValidateAcquire(req, d.caps)); err != nil {
		return nil, err
	}
	call := &raftpb.AcquireCall{Call: &raftpb.AcquireCall_Request{Request: acquireRequestToPB(req)}}
	res, err := invoke(ctx, d, route{lockID: req.LockID, leaderOnly: true},
		func(ctx context.Context, c raftpb.RaftLockClient) (*raftpb.AcquireResponse, error) {
			return d.acquireAt(ctx, c, call)
		})
	if err != nil {
		return nil, err
	}
	return acquireResultFromPB(res), nil
}

// Release implements backend.Driver.
func (d *RemoteDriver) Release(ctx context.Context, req *backend.ReleaseRequest) (*backend.ReleaseResult, error) {
	if err := d.admit(backend.ValidateRelease(req)); err != nil {
		return nil, err
	}
	p := releaseRequestToPB(req)
	res, err := invoke(ctx, d, route{lockID: req.LockID, leaderOnly: true},
		func(ctx context.Context, c raftpb.RaftLockClient) (*raftpb.ReleaseResponse, error) {
			return c.Release(ctx, p)
		})
	if err != nil {
		return nil, err
	}
	return releaseResultFromPB(res), nil
}

// Renew implements backend.Driver.
func (d *RemoteDriver) Renew(ctx context.Context, req *backend.RenewRequest) (*backend.Lock, error) {
	if err := d.admit(backend.ValidateRenew(req, d.caps)); err != nil {
		return nil, err
	}
	p := renewRequestToPB(req)
	res, err := invoke(ctx, d, route{lockID: req.LockID, leaderOnly: true},
		func(ctx context.Context, c raftpb.RaftLockClient) (*raftpb.Lock, error) {
			return c.Renew(ctx, p)
		})
	if err != nil {
		return nil, err
	}
	l := lockFromPB(res)
	return &l, nil
}

// Get implements backend.Driver. With req.Stale a follower may answer.
func (d *RemoteDriver) Get(ctx context.Context, req *backend.GetRequest) (*backend.LockInfo, error) {
	if err := d.admit(backend.ValidateGet(req)); err != nil {
		return nil, err
	}
	p := getRequestToPB(req)
	res, err := invoke(ctx, d, route{lockID: req.LockID, leaderOnly: !req.Stale},
		func(ctx context.Context, c raftpb.RaftLockClient) (*raftpb.LockInfo, error) {
			return c.GetLockInfo(ctx, p)
		})
	if err != nil {
		return nil, err
	}
	info := lockInfoFromPB(res)
	return &info, nil
}

// List implements backend.Driver. With req.Stale a follower may answer.
func (d *RemoteDriver) List(ctx context.Context, req *backend.ListRequest) (*backend.ListResult, error) {
	if err := d.admit(backend.ValidateList(req)); err != nil {
		return nil, err
	}
	p := listRequestToPB(req)
	res, err := invoke(ctx, d, route{leaderOnly: !req.Stale},
		func(ctx context.Context, c raftpb.RaftLockClient) (*raftpb.GetLocksResponse, error) {
			return c.GetLocks(ctx, p)
		})
	if err != nil {
		return nil, err
	}
	return listResultFromPB(res), nil
}

// Enqueue implements backend.Queuer.
func (d *RemoteDriver) Enqueue(ctx context.Context, req *backend.EnqueueRequest) (*backend.EnqueueResult, error) {
	if err := d.admit(backend.ValidateEnqueue(req, d.caps)); err != nil {
		return nil, err
	}
	p := enqueueRequestToPB(req)
	res, err := invoke(ctx, d, route{lockID: req.LockID, leaderOnly: true},
		func(ctx context.Context, c raftpb.RaftLockClient) (*raftpb.EnqueueWaiterResponse, error) {
			return c.EnqueueWaiter(ctx, p)
		})
	if err != nil {
		return nil, err
	}
	return enqueueResultFromPB(res), nil
}

// CancelWait implements backend.Queuer.
func (d *RemoteDriver) CancelWait(ctx context.Context, req *backend.CancelWaitRequest) error {
	if err := d.admit(backend.ValidateCancelWait(req)); err != nil {
		return err
	}
	p := cancelWaitRequestToPB(req)
	_, err := invoke(ctx, d, route{lockID: req.LockID, leaderOnly: true},
		func(ctx context.Context, c raftpb.RaftLockClient) (*raftpb.CancelWaitResponse, error) {
			return c.CancelWait(ctx, p)
		})
	return err
}

// Status implements backend.Admin: the cluster's status as the leader (or
// the first node that answers) sees it.
func (d *RemoteDriver) Status(ctx context.Context) (*backend.Status, error) {
	if err := d.admit(nil); err != nil {
		return nil, err
	}
	res, err := invoke(ctx, d, route{},
		func(ctx context.Context, c raftpb.RaftLockClient) (*raftpb.Status, error) {
			return c.GetStatus(ctx, &raftpb.GetStatusRequest{})
		})
	if err != nil {
		return nil, err
	}
	return statusFromPB(res), nil
}

// StatusOf asks the node at endpoint (host:port, in the endpoint list or
// not) for its status, without redirects: the cluster's status as that node
// sees it, or with localOnly that node's own. It is for tools that inspect
// one node at a time.
func (d *RemoteDriver) StatusOf(ctx context.Context, endpoint string, localOnly bool) (*backend.Status, error) {
	if err := d.admit(checkEndpoint(endpoint)); err != nil {
		return nil, err
	}
	cctx, end, err := d.begin(ctx, "")
	if err != nil {
		return nil, err
	}
	defer end()
	res, err := callAt(cctx, d, endpoint, func(ctx context.Context, c raftpb.RaftLockClient) (*raftpb.Status, error) {
		return c.GetStatus(ctx, &raftpb.GetStatusRequest{LocalOnly: localOnly})
	})
	if err != nil {
		return nil, d.callError(ctx, "", err)
	}
	return statusFromPB(res), nil
}

// Health implements backend.Admin.
func (d *RemoteDriver) Health(ctx context.Context) (*backend.Health, error) {
	if err := d.admit(nil); err != nil {
		return nil, err
	}
	res, err := invoke(ctx, d, route{},
		func(ctx context.Context, c raftpb.RaftLockClient) (*raftpb.HealthResponse, error) {
			return c.Health(ctx, &raftpb.HealthRequest{})
		})
	if err != nil {
		return nil, err
	}
	return healthFromPB(res), nil
}

// BackoffAdvice implements backend.Admin.
func (d *RemoteDriver) BackoffAdvice(ctx context.Context, lockID string) (*backend.BackoffAdvice, error) {
	if err := d.admit(backend.ValidateID("lock ID", lockID)); err != nil {
		return nil, err
	}
	p := &raftpb.GetBackoffAdviceRequest{LockId: lockID}
	res, err := invoke(ctx, d, route{lockID: lockID},
		func(ctx context.Context, c raftpb.RaftLockClient) (*raftpb.BackoffAdvice, error) {
			return c.GetBackoffAdvice(ctx, p)
		})
	if err != nil {
		return nil, err
	}
	return backoffAdviceFromPB(res), nil
}

// Join adds the server id, whose peers reach its Raft transport at raftAddr
// and whose clients reach its API at apiAddr, to the cluster as a voter.
// The leader does it; the call finds the leader like every other.
func (d *RemoteDriver) Join(ctx context.Context, id, raftAddr, apiAddr string) error {
	if err := d.admit(validateJoin(id, raftAddr, apiAddr)); err != nil {
		return err
	}
	p := &raftpb.JoinRequest{Id: id, RaftAddress: raftAddr, ApiAddress: apiAddr}
	_, err := invoke(ctx, d, route{leaderOnly: true},
		func(ctx context.Context, c raftpb.RaftLockClient) (*raftpb.JoinResponse, error) {
			return c.Join(ctx, p)
		})
	return err
}

// Leave removes the server id from the cluster.
func (d *RemoteDriver) Leave(ctx context.Context, id string) error {
	if err := d.admit(backend.ValidateID("server ID", id)); err != nil {
		return err
	}
	p := &raftpb.LeaveRequest{Id: id}
	_, err := invoke(ctx, d, route{leaderOnly: true},
		func(ctx context.Context, c raftpb.RaftLockClient) (*raftpb.LeaveResponse, error) {
			return c.Leave(ctx, p)
		})
	return err
}

// Members lists the cluster's servers.
func (d *RemoteDriver) Members(ctx context.Context) ([]Member, error) {
	if err := d.admit(nil); err != nil {
		return nil, err
	}
	res, err := invoke(ctx, d, route{},
		func(ctx context.Context, c raftpb.RaftLockClient) (*raftpb.MembersResponse, error) {
			return c.Members(ctx, &raftpb.MembersRequest{})
		})
	if err != nil {
		return nil, err
	}
	return membersFromPB(res), nil
}

// Capabilities implements backend.Driver: what the store answered Dial.
func (d *RemoteDriver) Capabilities() backend.Capabilities { return d.caps }

// Endpoints returns the endpoints the driver was made with, cleaned of
// duplicates.
func (d *RemoteDriver) Endpoints() []string {
	return append([]string(nil), d.endpoints...)
}

// LeaderAddress implements backend.Router: the address of the node that
// last answered a call only the leader answers, or that a follower named as
// the leader; "" when none is known or the last one failed.
func (d *RemoteDriver) LeaderAddress() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.leader
}

// Connected implements backend.Router: whether a connection to some node
// is ready now.
func (d *RemoteDriver) Connected() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		if c.cc.GetState() == connectivity.Ready {
			return true
		}
	}
	return false
}

// SetObserver implements backend.Observable. The observer hears of every
// redirect followed and of every change in the number of connections, and
// at once of the connections Dial made.
func (d *RemoteDriver) SetObserver(o backend.Observer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.observer = o
	if o != nil && len(d.conns) > 0 {
		o.Connections(len(d.conns))
	}
}

// Close implements backend.Driver. It ends every call in flight with
// CodeClosed and waits for them (a waiting Acquire has its node confirm
// that its waiter left the queue, within the cancel grace), then closes the
// connections. It does not release the locks taken through the driver: they
// expire, as a crashed process's would. A second Close returns nil.
func (d *RemoteDriver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()

	d.beginClose()
	d.calls.Wait()

	d.mu.Lock()
	conns := d.conns
	d.conns = nil
	o := d.observer
	d.mu.Unlock()
	for _, c := range conns {
		c.client.mux.close()
		_ = c.cc.Close() // fails only when already closed
	}
	if o != nil && len(conns) > 0 {
		o.Connections(0)
	}
	return nil
}
