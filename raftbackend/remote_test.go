package raftbackend

import (
	"context"
	"errors"
	"net"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/conformance"
	"github.com/raftlock/raftlock/memory"
)

// dialTest dials addrs, closing the driver when the test ends.
func dialTest(t testing.TB, addrs ...string) *RemoteDriver {
	t.Helper()
	return dialTestWith(t, addrs)
}

func dialTestWith(t testing.TB, addrs []string, opts ...RemoteOption) *RemoteDriver {
	t.Helper()
	d, err := Dial(testCtx(t), addrs, opts...)
	if err != nil {
		t.Fatalf("Dial(%v): %v", addrs, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// grpcMemHarness runs the conformance suite through the gRPC service and
// RemoteDriver against a memory store: it checks the wire layer, not the
// Raft store.
type grpcMemHarness struct {
	addr string
}

var _ conformance.LimitsHarness = (*grpcMemHarness)(nil)

func (h *grpcMemHarness) MakeDriver(ctx context.Context) (backend.Driver, error) {
	return Dial(ctx, []string{h.addr})
}

func (h *grpcMemHarness) WithLimits(_ context.Context, lim conformance.Limits) (conformance.Harness, func(), error) {
	store := memory.NewStore(memory.WithMaxLocks(lim.MaxLocks), memory.WithMaxWaiters(lim.MaxWaiters))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	api := newMemNode(store)
	srv := newGRPCServer(api, nil)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	done := func() {
		srv.Stop()
		<-served
		api.Close()
		store.Close()
	}
	return &grpcMemHarness{addr: lis.Addr().String()}, done, nil
}

func TestConformanceOverGRPCWithMemoryStore(t *testing.T) {
	s, _ := startMemServer(t)
	conformance.Run(t, &grpcMemHarness{addr: s.addr})
}

// recordingObserver records what a driver reports.
type recordingObserver struct {
	mu          sync.Mutex
	redirects   [][2]string
	connections []int
}

func (o *recordingObserver) LeaderRedirect(from, to string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.redirects = append(o.redirects, [2]string{from, to})
}

func (o *recordingObserver) Connections(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.connections = append(o.connections, n)
}

func (o *recordingObserver) seen() ([][2]string, []int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.redirects), slices.Clone(o.connections)
}

// followerAPI answers every lock call as a follower of leader would, and
// records the request IDs it was sent.
type followerAPI struct {
	*memNode
	leader string

	mu       sync.Mutex
	requests []string
}

func (f *followerAPI) notLeader(requestID string) error {
	f.mu.Lock()
	f.requests = append(f.requests, requestID)
	f.mu.Unlock()
	if f.leader == "" {
		return &backend.Error{Code: backend.CodeLeaderUnavailable, Message: "no leader"}
	}
	return &backend.Error{Code: backend.CodeNotLeader, Leader: f.leader, Message: "not the leader"}
}

func (f *followerAPI) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *followerAPI) Acquire(_ context.Context, req *backend.AcquireRequest) (*backend.AcquireResult, error) {
	return nil, f.notLeader(req.RequestID)
}

func (f *followerAPI) Release(_ context.Context, req *backend.ReleaseRequest) (*backend.ReleaseResult, error) {
	return nil, f.notLeader(req.RequestID)
}

func (f *followerAPI) Renew(_ context.Context, req *backend.RenewRequest) (*backend.Lock, error) {
	return nil, f.notLeader(req.RequestID)
}

func (f *followerAPI) Get(context.Context, *backend.GetRequest) (*backend.LockInfo, error) {
	return nil, f.notLeader("")
}

// recordingAPI is a memNode that records the request IDs of its Acquires.
type recordingAPI struct {
	*memNode

	mu       sync.Mutex
	requests []string
}

func (r *recordingAPI) Acquire(ctx context.Context, req *backend.AcquireRequest) (*backend.AcquireResult, error) {
	r.mu.Lock()
	r.requests = append(r.requests, req.RequestID)
	r.mu.Unlock()
	return r.memNode.Acquire(ctx, req)
}

func (r *recordingAPI) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// newTestStore makes a memory store, closed when the test ends.
func newTestStore(t testing.TB) *memory.Store {
	t.Helper()
	store := memory.NewStore()
	t.Cleanup(func() { store.Close() })
	return store
}

func TestRemoteFollowsRedirectToLeader(t *testing.T) {
	leaderAPI := &recordingAPI{memNode: newMemNode(newTestStore(t))}
	leader := startRPCServer(t, leaderAPI)
	followerNode := &followerAPI{memNode: newMemNode(newTestStore(t)), leader: leader.addr}
	follower := startRPCServer(t, followerNode)

	// Only the follower is listed: the driver must dial the leader it names.
	d := dialTest(t, follower.addr)
	obs := &recordingObserver{}
	d.SetObserver(obs)
	ctx := testCtx(t)
	req := &backend.AcquireRequest{LockID: "x", ClientID: "c", TTL: time.Minute, RequestID: "req-1"}
	res, err := d.Acquire(ctx, req)
	if err != nil {
		t.Fatalf("Acquire through a follower: %v", err)
	}
	if res.Lock.Owner != "c" || res.Lock.Version <= 0 {
		t.Fatalf("Acquire = %+v", res)
	}
	if got := d.LeaderAddress(); got != leader.addr {
		t.Fatalf("LeaderAddress = %q, want %q", got, leader.addr)
	}
	redirects, conns := obs.seen()
	if want := [][2]string{{follower.addr, leader.addr}}; !slices.Equal(redirects, want) {
		t.Fatalf("observer saw redirects %v, want %v", redirects, want)
	}
	if want := []int{1, 2}; !slices.Equal(conns, want) {
		t.Fatalf("observer saw connection counts %v, want %v", conns, want)
	}
	if got := followerNode.calls(); !slices.Equal(got, []string{"req-1"}) {
		t.Fatalf("follower saw request IDs %v", got)
	}
	if got := leaderAPI.calls(); !slices.Equal(got, []string{"req-1"}) {
		t.Fatalf("leader saw request IDs %v, want the same request, once", got)
	}

	// Later calls go straight to the leader.
	if _, err := d.Release(ctx, &backend.ReleaseRequest{LockID: "x", ClientID: "c", Version: res.Lock.Version}); err != nil {
		t.Fatal(err)
	}
	if redirects, _ := obs.seen(); len(redirects) != 1 {
		t.Fatalf("a call after the redirect was redirected again: %v", redirects)
	}
	if len(followerNode.calls()) != 1 {
		t.Fatalf("a call after the redirect went to the follower: %v", followerNode.calls())
	}
	if !d.Connected() {
		t.Fatal("Connected is false with a working connection")
	}
}

// Redirects are bounded: a chain of followers longer than the bound ends
// the call with the retryable CodeNotLeader, naming the next hop.
func TestRemoteRedirectsAreBounded(t *testing.T) {
	end := startRPCServer(t, newMemNode(newTestStore(t)))
	b := startRPCServer(t, &followerAPI{memNode: newMemNode(newTestStore(t)), leader: end.addr})
	aNode := &followerAPI{memNode: newMemNode(newTestStore(t)), leader: b.addr}
	a := startRPCServer(t, aNode)

	d := dialTestWith(t, []string{a.addr}, RemoteMaxRedirects(1))
	obs := &recordingObserver{}
	d.SetObserver(obs)
	_, err := d.Acquire(testCtx(t), &backend.AcquireRequest{LockID: "x", ClientID: "c", TTL: time.Minute})
	var e *backend.Error
	if !errors.As(err, &e) || e.Code != backend.CodeNotLeader || e.Leader != end.addr {
		t.Fatalf("Acquire past the redirect bound: %v, want CodeNotLeader naming %s", err, end.addr)
	}
	if !e.Code.Retryable() {
		t.Fatal("CodeNotLeader is not retryable")
	}
	if redirects, _ := obs.seen(); len(redirects) != 1 {
		t.Fatalf("followed %d redirects, want 1: %v", len(redirects), redirects)
	}
	if n := len(aNode.calls()); n != 1 {
		t.Fatalf("the first follower was sent the call %d times, want once", n)
	}

	// With the default bound the same chain succeeds.
	d2 := dialTest(t, a.addr)
	if _, err := d2.Acquire(testCtx(t), &backend.AcquireRequest{LockID: "x", ClientID: "c", TTL: time.Minute}); err != nil {
		t.Fatalf("Acquire through two redirects: %v", err)
	}
	if got := d2.LeaderAddress(); got != end.addr {
		t.Fatalf("LeaderAddress = %q, want %q", got, end.addr)
	}
}

func TestRemoteSkipsDeadFirstEndpoint(t *testing.T) {
	live, _ := startMemServer(t)
	dead := deadAddr(t)
	d := dialTest(t, dead, live.addr)
	ctx := testCtx(t)
	res, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "x", ClientID: "c", TTL: time.Minute})
	if err != nil {
		t.Fatalf("Acquire with the first endpoint dead: %v", err)
	}
	if got := d.LeaderAddress(); got != live.addr {
		t.Fatalf("LeaderAddress = %q, want %q", got, live.addr)
	}
	if _, err := d.Release(ctx, &backend.ReleaseRequest{LockID: "x", ClientID: "c", Version: res.Lock.Version}); err != nil {
		t.Fatal(err)
	}
}

// Two nodes serve one store; when the one in use dies, the next call moves
// to the other within the call.
func TestRemoteFailsOverWithinCall(t *testing.T) {
	store := newTestStore(t)
	a := startRPCServer(t, newMemNode(store))
	b := startRPCServer(t, newMemNode(store))
	d := dialTest(t, a.addr, b.addr)
	ctx := testCtx(t)
	res, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "x", ClientID: "c", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.LeaderAddress(); got != a.addr {
		t.Fatalf("LeaderAddress = %q, want %q", got, a.addr)
	}
	a.stop()
	if _, err := d.Renew(ctx, &backend.RenewRequest{LockID: "x", ClientID: "c", Version: res.Lock.Version, TTL: time.Minute}); err != nil {
		t.Fatalf("Renew after the first node died: %v", err)
	}
	if got := d.LeaderAddress(); got != b.addr {
		t.Fatalf("LeaderAddress = %q, want %q", got, b.addr)
	}
}

// When no node can serve, the call fails with the retryable code after
// sending to each endpoint exactly once: the driver does not retry.
func TestRemoteTriesEachEndpointOnce(t *testing.T) {
	var nodes []*followerAPI
	var addrs []string
	for range 3 {
		n := &followerAPI{memNode: newMemNode(newTestStore(t))} // no leader known
		nodes = append(nodes, n)
		addrs = append(addrs, startRPCServer(t, n).addr)
	}
	d := dialTest(t, addrs...)
	_, err := d.Acquire(testCtx(t), &backend.AcquireRequest{LockID: "x", ClientID: "c", TTL: time.Minute, RequestID: "r"})
	if !errors.Is(err, backend.ErrLeaderUnavailable) {
		t.Fatalf("Acquire with no leader: %v, want ErrLeaderUnavailable", err)
	}
	for i, n := range nodes {
		if got := n.calls(); !slices.Equal(got, []string{"r"}) {
			t.Errorf("node %d was sent %v, want the request once", i, got)
		}
	}
}

func TestRemoteAllNodesDownIsRetryable(t *testing.T) {
	a, _ := startMemServer(t)
	b, _ := startMemServer(t)
	d := dialTest(t, a.addr, b.addr)
	a.stop()
	b.stop()
	_, err := d.Acquire(testCtx(t), &backend.AcquireRequest{LockID: "x", ClientID: "c", TTL: time.Minute})
	if !errors.Is(err, backend.ErrUnavailable) || !backend.CodeOf(err).Retryable() {
		t.Fatalf("Acquire with every node down: %v, want retryable ErrUnavailable", err)
	}
	if got := d.LeaderAddress(); got != "" {
		t.Fatalf("LeaderAddress = %q after every node failed, want \"\"", got)
	}
}

func TestDialFailures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := Dial(ctx, []string{deadAddr(t), deadAddr(t)}); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Dial of dead endpoints: %v, want ErrUnavailable", err)
	}
	for _, eps := range [][]string{nil, {}, {""}, {"nohost"}, {"h:1", ""}, {":1"}, {"h:"}} {
		if _, err := Dial(ctx, eps); !errors.Is(err, backend.ErrInvalidArgument) {
			t.Errorf("Dial(%q): %v, want ErrInvalidArgument", eps, err)
		}
	}
}

// errorAPI fails every Acquire with one error.
type errorAPI struct {
	*memNode
	err atomic.Pointer[backend.Error]
}

func (e *errorAPI) Acquire(context.Context, *backend.AcquireRequest) (*backend.AcquireResult, error) {
	return nil, e.err.Load()
}

func TestRemoteErrorsCrossTheWire(t *testing.T) {
	api := &errorAPI{memNode: newMemNode(newTestStore(t))}
	s := startRPCServer(t, api)
	d := dialTest(t, s.addr)
	for c := backend.CodeUnknown; c <= backend.CodeInternal; c++ {
		sent := &backend.Error{Code: c, Message: "m-" + c.String(), LockID: "x", Owner: "o", RetryAfter: 3 * time.Second}
		api.err.Store(sent)
		_, err := d.Acquire(testCtx(t), &backend.AcquireRequest{LockID: "x", ClientID: "c", TTL: time.Minute})
		want := c
		if c == backend.CodeClosed {
			// The node's store closed: to a remote client that node is
			// unavailable, and its own driver is still open.
			want = backend.CodeUnavailable
		}
		var e *backend.Error
		if !errors.As(err, &e) || e.Code != want {
			t.Errorf("%v: got %v, want code %v", c, err, want)
			continue
		}
		if c != backend.CodeUnknown && !errors.Is(err, want.Sentinel()) {
			t.Errorf("%v: errors.Is(%v, %v) is false", c, err, want.Sentinel())
		}
		if e.LockID != "x" {
			t.Errorf("%v: LockID %q", c, e.LockID)
		}
		if want == c && !want.Retryable() && (e.Message != sent.Message || e.Owner != "o" || e.RetryAfter != 3*time.Second) {
			t.Errorf("%v: details lost: %+v", c, e)
		}
	}
}

func TestRemoteValidatesBeforeSending(t *testing.T) {
	api := &recordingAPI{memNode: newMemNode(newTestStore(t))}
	s := startRPCServer(t, api)
	d := dialTest(t, s.addr)
	ctx := testCtx(t)
	if _, err := d.Acquire(ctx, nil); !errors.Is(err, backend.ErrInvalidArgument) {
		t.Fatalf("nil Acquire: %v", err)
	}
	if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "x", ClientID: "c", TTL: 0}); !errors.Is(err, backend.ErrInvalidTTL) {
		t.Fatalf("zero TTL: %v", err)
	}
	if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "bad\xff", ClientID: "c", TTL: time.Second}); !errors.Is(err, backend.ErrInvalidArgument) {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	if _, err := d.StatusOf(ctx, "nohost", false); !errors.Is(err, backend.ErrInvalidArgument) {
		t.Fatalf("StatusOf a malformed address: %v", err)
	}
	if n := len(api.calls()); n != 0 {
		t.Fatalf("%d invalid requests reached the node", n)
	}
}

func TestRemoteAdminCalls(t *testing.T) {
	s, _ := startMemServer(t)
	d := dialTest(t, s.addr)
	ctx := testCtx(t)
	if got := d.Capabilities(); !got.ServerSideWait || !got.FIFO || got.MaxTTL == 0 {
		t.Fatalf("Capabilities = %+v, want the memory store's", got)
	}
	h, err := d.Health(ctx)
	if err != nil || !h.Serving {
		t.Fatalf("Health = %+v, %v", h, err)
	}
	a, err := d.BackoffAdvice(ctx, "x")
	if err != nil || a.InitialBackoff <= 0 {
		t.Fatalf("BackoffAdvice = %+v, %v", a, err)
	}
	st, err := d.StatusOf(ctx, s.addr, true)
	if err != nil || st.Role != "local" {
		t.Fatalf("StatusOf(local) = %+v, %v", st, err)
	}
	if eps := d.Endpoints(); !slices.Equal(eps, []string{s.addr}) {
		t.Fatalf("Endpoints = %v", eps)
	}
}

func TestOpenRaftURL(t *testing.T) {
	s, _ := startMemServer(t)
	ctx := testCtx(t)
	for _, raw := range []string{
		"raft://" + s.addr,
		"raft://" + s.addr + "/?max_redirects=5&cancel_grace=1s",
		"raft://" + deadAddr(t) + "," + s.addr,
	} {
		d, err := backend.Open(ctx, raw, backend.OpenOptions{DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("Open(%s): %v", raw, err)
		}
		if _, ok := d.(*RemoteDriver); !ok {
			t.Fatalf("Open(%s) = %T", raw, d)
		}
		d.Close()
	}
	// Endpoints replace the URL's hosts.
	d, err := backend.Open(ctx, "raft://"+deadAddr(t), backend.OpenOptions{Endpoints: []string{s.addr}})
	if err != nil {
		t.Fatalf("Open with Endpoints: %v", err)
	}
	if got := d.(*RemoteDriver).Endpoints(); !slices.Equal(got, []string{s.addr}) {
		t.Fatalf("Endpoints = %v, want the OpenOptions' ones", got)
	}
	d.Close()

	for _, raw := range []string{
		"raft://",
		"raft:///",
		"raft://" + s.addr + "?foo=1",
		"raft://" + s.addr + "?max_redirects=-1",
		"raft://" + s.addr + "?max_redirects=1&max_redirects=2",
		"raft://" + s.addr + "?cancel_grace=soon",
		"raft://" + s.addr + ",," + s.addr,
		"raft://" + s.addr + "/locks",
		"raft://user@" + s.addr,
		"raft://" + s.addr + "#frag",
		"raft:opaque",
		"raft://nohost",
	} {
		if _, err := backend.Open(ctx, raw, backend.OpenOptions{}); !errors.Is(err, backend.ErrInvalidArgument) {
			t.Errorf("Open(%s): %v, want ErrInvalidArgument", raw, err)
		}
	}
	if _, err := parseRemoteURLString("raft://a:1,b:2"); err != nil {
		t.Errorf("two hosts: %v", err)
	}
}

func parseRemoteURLString(raw string) ([]string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	hosts, _, e := parseRemoteURL(u)
	if e != nil {
		return nil, e
	}
	return hosts, nil
}

// Close ends calls in flight with CodeClosed (a waiter first leaves its
// queue), later calls fail with CodeClosed, a second Close returns nil, and
// no goroutine of the driver outlives it.
func TestRemoteCloseEndsCallsAndLeaksNothing(t *testing.T) {
	before := goleak.IgnoreCurrent()
	store := memory.NewStore()
	api := newMemNode(store)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newGRPCServer(api, nil)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	obs := &recordingObserver{}
	d, err := Dial(ctx, []string{lis.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	d.SetObserver(obs)
	if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "c", ClientID: "holder", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "c", ClientID: "waiter", TTL: time.Minute, Wait: true})
		done <- err
	}()
	waitUntil(t, "the waiter to queue", func() bool { return slices.Contains(queued(t, api, "c"), "waiter") })

	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, backend.ErrClientClosed) {
			t.Fatalf("wait ended by Close: %v, want ErrClientClosed", err)
		}
	default:
		t.Fatal("Close returned before the call it ended")
	}
	if ids := queued(t, api, "c"); len(ids) != 0 {
		t.Fatalf("after Close the queue is %v", ids)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := d.Get(ctx, &backend.GetRequest{LockID: "c"}); !errors.Is(err, backend.ErrClientClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if d.Connected() {
		t.Fatal("Connected after Close")
	}
	if _, conns := obs.seen(); !slices.Equal(conns, []int{1, 0}) {
		t.Fatalf("observer saw connection counts %v, want [1 0]", conns)
	}
	// The lock the closed driver took is still held: Close does not release.
	if info, err := api.Get(ctx, &backend.GetRequest{LockID: "c"}); err != nil || info.Owner != "holder" {
		t.Fatalf("after Close: %+v, %v", info, err)
	}

	srv.Stop()
	<-served
	api.Close()
	store.Close()
	goleak.VerifyNone(t, before)
}
