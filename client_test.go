package raftlock

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/memory"
)

func TestClientAcquireRenewRelease(t *testing.T) {
	ctx := context.Background()
	c, store := newTestClient(t, DefaultConfig())
	other := newClientOn(t, store, DefaultConfig())

	req := &AcquireRequest{LockID: "jobs/nightly", ClientID: "worker-1", TTL: 10 * time.Second}
	before := time.Now()
	got, err := c.Acquire(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if req.RequestID != "" {
		t.Fatal("Acquire wrote to the caller's request")
	}
	if got.Owner != "worker-1" || got.Version <= 0 || got.Waited {
		t.Fatalf("grant = %+v", got)
	}
	// Deadline counts from before the send, minus the 2% margin.
	if got.Deadline.After(before.Add(10*time.Second)) || got.Deadline.Before(before.Add(9*time.Second)) {
		t.Fatalf("deadline %v is not send time + TTL - margin (sent about %v)", got.Deadline, before)
	}

	_, err = other.Acquire(ctx, &AcquireRequest{LockID: "jobs/nightly", ClientID: "worker-2", TTL: time.Second})
	var e *Error
	if !errors.Is(err, ErrLockHeld) || !errors.As(err, &e) || e.Op != OpAcquire || e.LockID != "jobs/nightly" {
		t.Fatalf("second client: %v", err)
	}

	renewed, err := c.Renew(ctx, &RenewRequest{LockID: "jobs/nightly", ClientID: "worker-1", Version: got.Version, TTL: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if renewed.Version != got.Version || !renewed.Deadline.After(got.Deadline) {
		t.Fatalf("renew = %+v; want same version, later deadline than %v", renewed, got.Deadline)
	}

	info, err := other.GetLockInfo(ctx, &GetLockInfoRequest{LockID: "jobs/nightly"})
	if err != nil || !info.Held || info.Owner != "worker-1" {
		t.Fatalf("info = %+v, %v", info, err)
	}
	page, err := other.GetLocks(ctx, &GetLocksRequest{Filter: LockFilter{Owner: "worker-1"}})
	if err != nil || len(page.Locks) != 1 {
		t.Fatalf("GetLocks = %+v, %v", page, err)
	}

	if _, err := other.Release(ctx, &ReleaseRequest{LockID: "jobs/nightly", ClientID: "worker-2", Version: got.Version}); !errors.Is(err, ErrNotLockOwner) {
		t.Fatalf("release by another client: %v", err)
	}
	if _, err := c.Release(ctx, &ReleaseRequest{LockID: "jobs/nightly", ClientID: "worker-1", Version: got.Version}); err != nil {
		t.Fatal(err)
	}
	next, err := other.Acquire(ctx, &AcquireRequest{LockID: "jobs/nightly", ClientID: "worker-2", TTL: time.Second})
	if err != nil || next.Version <= got.Version {
		t.Fatalf("next grant = %+v, %v; want a version above %d", next, err, got.Version)
	}

	m := c.GetMetrics()
	if m.GetSuccessCount(OpAcquire) != 1 || m.GetSuccessCount(OpRenew) != 1 || m.GetSuccessCount(OpRelease) != 1 {
		t.Fatalf("metrics = %+v", m.Snapshot())
	}
	if other.GetMetrics().GetFailureCount(OpAcquire) != 1 || other.GetMetrics().Snapshot().Ops[OpAcquire].FailuresByCode[backend.CodeLockHeld] != 1 {
		t.Fatalf("other's metrics = %+v", other.GetMetrics().Snapshot())
	}
}

func TestClientWaitServedFromQueue(t *testing.T) {
	ctx := context.Background()
	c, store := newTestClient(t, DefaultConfig())
	other := newClientOn(t, store, DefaultConfig())
	first, err := c.Acquire(ctx, &AcquireRequest{LockID: "l", ClientID: "a", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		res *AcquireResult
		err error
	}
	done := make(chan result, 1)
	sent := time.Now()
	go func() {
		r, err := other.Acquire(ctx, &AcquireRequest{LockID: "l", ClientID: "b", TTL: time.Minute, Wait: true, WaitTimeout: time.Minute})
		done <- result{r, err}
	}()
	waitFor(t, "b to queue", func() bool {
		info, err := c.GetLockInfo(ctx, &GetLockInfoRequest{LockID: "l"})
		return err == nil && info.WaiterCount == 1
	})
	if _, err := c.Release(ctx, &ReleaseRequest{LockID: "l", ClientID: "a", Version: first.Version}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || !r.res.Waited || r.res.Owner != "b" || r.res.Version <= first.Version {
		t.Fatalf("waiter got %+v, %v", r.res, r.err)
	}
	// The grant came out of the queue at some moment after the send: its
	// deadline still counts from the send, never from the grant.
	if r.res.Deadline.After(sent.Add(time.Minute)) {
		t.Fatalf("waited grant's deadline %v is past send time + TTL %v", r.res.Deadline, sent.Add(time.Minute))
	}
}

func TestClientBadInputChangesNothing(t *testing.T) {
	ctx := context.Background()
	c, _ := newTestClient(t, DefaultConfig())
	held, err := c.Acquire(ctx, &AcquireRequest{LockID: "held", ClientID: "owner", TTL: time.Minute, Metadata: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	snapshot := func() *GetLocksResult {
		t.Helper()
		res, err := c.GetLocks(ctx, &GetLocksRequest{IncludeWaiters: true})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	before := snapshot()

	long := strings.Repeat("x", backend.MaxIDLength+1)
	bigMeta := map[string]string{}
	for i := range backend.MaxMetadataEntries + 1 {
		bigMeta[string(rune('a'+i%26))+strings.Repeat("k", i)] = "v"
	}
	caps := c.Capabilities()
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"nil acquire", func() error { _, err := c.Acquire(ctx, nil); return err }, ErrInvalidArgument},
		{"empty lock ID", func() error {
			_, err := c.Acquire(ctx, &AcquireRequest{ClientID: "a", TTL: time.Second})
			return err
		}, ErrInvalidArgument},
		{"long lock ID", func() error {
			_, err := c.Acquire(ctx, &AcquireRequest{LockID: long, ClientID: "a", TTL: time.Second})
			return err
		}, ErrInvalidArgument},
		{"invalid UTF-8 lock ID", func() error {
			_, err := c.Acquire(ctx, &AcquireRequest{LockID: "\xff\xfe", ClientID: "a", TTL: time.Second})
			return err
		}, ErrInvalidArgument},
		{"NUL in client ID", func() error {
			_, err := c.Acquire(ctx, &AcquireRequest{LockID: "x", ClientID: "a\x00b", TTL: time.Second})
			return err
		}, ErrInvalidArgument},
		{"empty client ID", func() error {
			_, err := c.Acquire(ctx, &AcquireRequest{LockID: "x", TTL: time.Second})
			return err
		}, ErrInvalidArgument},
		{"zero TTL", func() error {
			_, err := c.Acquire(ctx, &AcquireRequest{LockID: "x", ClientID: "a"})
			return err
		}, ErrInvalidTTL},
		{"negative TTL", func() error {
			_, err := c.Acquire(ctx, &AcquireRequest{LockID: "x", ClientID: "a", TTL: -time.Second})
			return err
		}, ErrInvalidTTL},
		{"TTL above the store's maximum", func() error {
			_, err := c.Acquire(ctx, &AcquireRequest{LockID: "x", ClientID: "a", TTL: caps.MaxTTL + time.Second})
			return err
		}, ErrInvalidTTL},
		{"negative wait timeout", func() error {
			_, err := c.Acquire(ctx, &AcquireRequest{LockID: "x", ClientID: "a", TTL: time.Second, Wait: true, WaitTimeout: -1})
			return err
		}, ErrInvalidArgument},
		{"priority out of range", func() error {
			_, err := c.Acquire(ctx, &AcquireRequest{LockID: "x", ClientID: "a", TTL: time.Second, Priority: backend.MaxPriority + 1})
			return err
		}, ErrInvalidArgument},
		{"too much metadata", func() error {
			_, err := c.Acquire(ctx, &AcquireRequest{LockID: "x", ClientID: "a", TTL: time.Second, Metadata: bigMeta})
			return err
		}, ErrInvalidArgument},
		{"nil release", func() error { _, err := c.Release(ctx, nil); return err }, ErrInvalidArgument},
		{"release version zero", func() error {
			_, err := c.Release(ctx, &ReleaseRequest{LockID: "held", ClientID: "owner"})
			return err
		}, ErrInvalidArgument},
		{"renew zero TTL", func() error {
			_, err := c.Renew(ctx, &RenewRequest{LockID: "held", ClientID: "owner", Version: held.Version})
			return err
		}, ErrInvalidTTL},
		{"renew empty client", func() error {
			_, err := c.Renew(ctx, &RenewRequest{LockID: "held", Version: held.Version, TTL: time.Second})
			return err
		}, ErrInvalidArgument},
		{"get empty ID", func() error { _, err := c.GetLockInfo(ctx, &GetLockInfoRequest{}); return err }, ErrInvalidArgument},
		{"list page too big", func() error {
			_, err := c.GetLocks(ctx, &GetLocksRequest{Limit: backend.MaxPageSize + 1})
			return err
		}, ErrInvalidArgument},
		{"list negative offset", func() error { _, err := c.GetLocks(ctx, &GetLocksRequest{Offset: -1}); return err }, ErrInvalidArgument},
		{"list cursor and offset", func() error {
			_, err := c.GetLocks(ctx, &GetLocksRequest{Offset: 1, Cursor: backend.EncodeCursor("a")})
			return err
		}, ErrInvalidArgument},
		{"list malformed cursor", func() error { _, err := c.GetLocks(ctx, &GetLocksRequest{Cursor: "!!"}); return err }, ErrInvalidArgument},
		{"list bad glob", func() error {
			_, err := c.GetLocks(ctx, &GetLocksRequest{Filter: LockFilter{Pattern: "[a"}})
			return err
		}, ErrInvalidArgument},
		{"enqueue zero TTL", func() error {
			_, err := c.EnqueueWaiter(ctx, &EnqueueRequest{LockID: "held", ClientID: "w"})
			return err
		}, ErrInvalidTTL},
		{"cancel wait empty client", func() error { return c.CancelWait(ctx, &CancelWaitRequest{LockID: "held"}) }, ErrInvalidArgument},
		{"backoff advice empty ID", func() error { _, err := c.GetBackoffAdvice(ctx, ""); return err }, ErrInvalidArgument},
		{"retry policy with negative retries", func() error { return c.SetRetryPolicy(RetryPolicy{MaxRetries: -1}) }, ErrInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%v is not a *raftlock.Error", err)
			}
		})
	}
	if after := snapshot(); !reflect.DeepEqual(before, after) {
		t.Fatalf("bad input changed the store:\nbefore %+v\nafter  %+v", before, after)
	}
	if got := c.RetryPolicy(); got.MaxRetries != DefaultRetryPolicy().MaxRetries {
		t.Fatalf("a refused retry policy replaced the old one: %+v", got)
	}
}

func TestClientRetriesWithSameRequestID(t *testing.T) {
	ctx := context.Background()
	store := memory.NewStore()
	defer store.Close()
	f := &faultyDriver{Driver: store.NewDriver()}
	cfg := DefaultConfig()
	cfg.RetryPolicy = RetryPolicy{MaxRetries: 3, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond, BackoffMultiplier: 1}
	c, err := NewClient(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	f.fail(unavailable(), unavailable())
	res, err := c.Acquire(ctx, &AcquireRequest{LockID: "l", ClientID: "a", TTL: time.Minute})
	if err != nil {
		t.Fatalf("acquire after two transient failures: %v", err)
	}
	ids := f.seenRequestIDs()
	if len(ids) != 3 || ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("request IDs across retries = %q; want one ID sent three times", ids)
	}
	if got := c.GetMetrics().GetRetryCount(OpAcquire); got != 2 {
		t.Fatalf("retries recorded = %d, want 2", got)
	}

	// Exhausted retries report the transient error and the attempts made.
	f.fail(unavailable(), unavailable(), unavailable(), unavailable())
	_, err = c.Release(ctx, &ReleaseRequest{LockID: "l", ClientID: "a", Version: res.Version})
	var e *Error
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &e) || e.Attempts != 4 {
		t.Fatalf("after 4 failures: %v (%+v)", err, e)
	}
	// A definite answer is not retried.
	before := len(f.seenRequestIDs())
	_, err = c.Release(ctx, &ReleaseRequest{LockID: "l", ClientID: "b", Version: res.Version})
	if !errors.Is(err, ErrNotLockOwner) || len(f.seenRequestIDs()) != before+1 {
		t.Fatalf("not-owner must be answered at once: %v, %d sends", err, len(f.seenRequestIDs())-before)
	}
	// A fresh call gets a fresh request ID.
	if _, err := c.Release(ctx, &ReleaseRequest{LockID: "l", ClientID: "a", Version: res.Version}); err != nil {
		t.Fatal(err)
	}
	ids = f.seenRequestIDs()
	if ids[len(ids)-1] == ids[0] {
		t.Fatal("a new call reused an old request ID")
	}
}

func TestClientRetryHonoursContextAndRetryAfter(t *testing.T) {
	store := memory.NewStore()
	defer store.Close()
	f := &faultyDriver{Driver: store.NewDriver()}
	cfg := DefaultConfig()
	cfg.RetryPolicy = RetryPolicy{MaxRetries: 5, InitialBackoff: time.Hour, MaxBackoff: time.Hour, BackoffMultiplier: 1}
	c, err := NewClient(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithCancel(context.Background())
	f.fail(unavailable())
	go func() {
		waitFor(t, "the first attempt", func() bool { return len(f.seenRequestIDs()) == 1 })
		cancel()
	}()
	_, err = c.Acquire(ctx, &AcquireRequest{LockID: "l", ClientID: "a", TTL: time.Minute})
	if !errors.Is(err, ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel during an hour's backoff: %v", err)
	}

	// The store's RetryAfter hint is a floor under the policy's backoff.
	if err := c.SetRetryPolicy(RetryPolicy{MaxRetries: 1, BackoffMultiplier: 1}); err != nil {
		t.Fatal(err)
	}
	f.fail(&backend.Error{Code: backend.CodeRateLimit, RetryAfter: 30 * time.Millisecond})
	start := time.Now()
	if _, err := c.Acquire(context.Background(), &AcquireRequest{LockID: "m", ClientID: "a", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 30*time.Millisecond {
		t.Fatalf("retried after %v, before the store's RetryAfter of 30ms", waited)
	}
}

func TestClientRequestTimeout(t *testing.T) {
	store := memory.NewStore()
	defer store.Close()
	f := &faultyDriver{Driver: store.NewDriver(), block: true}
	cfg := DefaultConfig()
	cfg.RequestTimeout = 20 * time.Millisecond
	cfg.RetryPolicy.MaxRetries = 0
	c, err := NewClient(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Acquire(context.Background(), &AcquireRequest{LockID: "l", ClientID: "a", TTL: time.Minute})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("a store that never answers: %v, want ErrTimeout", err)
	}
}

// hideWait masks server-side waiting, so the client must poll.
func hideWait(d backend.Driver) *faultyDriver {
	caps := d.Capabilities()
	caps.ServerSideWait, caps.FIFO, caps.Priorities = false, false, false
	return &faultyDriver{Driver: d, caps: &caps}
}

func TestClientPollsStoresWithoutServerSideWait(t *testing.T) {
	ctx := context.Background()
	store := memory.NewStore()
	defer store.Close()
	c, err := NewClient(hideWait(store.NewDriver()), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	holder := newClientOn(t, store, DefaultConfig())

	first, err := holder.Acquire(ctx, &AcquireRequest{LockID: "l", ClientID: "holder", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Acquire(ctx, &AcquireRequest{LockID: "l", ClientID: "poller", TTL: time.Minute, Wait: true, WaitTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("polled wait on a held lock: %v, want ErrTimeout", err)
	}
	go func() {
		time.Sleep(30 * time.Millisecond)
		_, _ = holder.Release(ctx, &ReleaseRequest{LockID: "l", ClientID: "holder", Version: first.Version})
	}()
	res, err := c.Acquire(ctx, &AcquireRequest{LockID: "l", ClientID: "poller", TTL: time.Minute, Wait: true, WaitTimeout: time.Minute})
	if err != nil || !res.Waited || res.Version <= first.Version {
		t.Fatalf("polled wait after release: %+v, %v", res, err)
	}
	m := c.GetMetrics()
	if m.GetSuccessCount(OpAcquire) != 1 || m.GetFailureCount(OpAcquire) != 1 {
		t.Fatalf("a polled wait is one operation: %+v", m.Snapshot())
	}
}

func TestClientClosed(t *testing.T) {
	ctx := context.Background()
	c, store := newTestClient(t, DefaultConfig())
	holder := newClientOn(t, store, DefaultConfig())
	if _, err := holder.Acquire(ctx, &AcquireRequest{LockID: "l", ClientID: "h", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() {
		_, err := c.Acquire(ctx, &AcquireRequest{LockID: "l", ClientID: "w", TTL: time.Minute, Wait: true})
		blocked <- err
	}()
	waitFor(t, "the waiter to queue", func() bool {
		info, err := holder.GetLockInfo(ctx, &GetLockInfoRequest{LockID: "l"})
		return err == nil && info.WaiterCount == 1
	})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-blocked; !errors.Is(err, ErrClientClosed) {
		t.Fatalf("waiter woken by Close: %v, want ErrClientClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Acquire(ctx, &AcquireRequest{LockID: "m", ClientID: "a", TTL: time.Second}); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("Acquire after Close: %v", err)
	}
	if _, err := c.GetStatus(ctx); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("GetStatus after Close: %v", err)
	}
	if c.IsConnected() {
		t.Fatal("a closed client reports itself connected")
	}
	info, err := holder.GetLockInfo(ctx, &GetLockInfoRequest{LockID: "l", IncludeWaiters: true})
	if err != nil || info.WaiterCount != 0 || info.Owner != "h" {
		t.Fatalf("after the waiter's client closed: %+v, %v", info, err)
	}
}

func TestClientOptionalInterfaces(t *testing.T) {
	ctx := context.Background()
	c, _ := newTestClient(t, DefaultConfig())
	if st, err := c.GetStatus(ctx); err != nil || st.Store == "" {
		t.Fatalf("status = %+v, %v", st, err)
	}
	if h, err := c.Health(ctx); err != nil || !h.Serving {
		t.Fatalf("health = %+v, %v", h, err)
	}
	if a, err := c.GetBackoffAdvice(ctx, "l"); err != nil || a.InitialBackoff <= 0 {
		t.Fatalf("advice = %+v, %v", a, err)
	}
	if res, err := c.EnqueueWaiter(ctx, &EnqueueRequest{LockID: "q", ClientID: "a", TTL: time.Minute}); err != nil || !res.Granted {
		t.Fatalf("enqueue on a free lock = %+v, %v", res, err)
	}
	if err := c.CancelWait(ctx, &CancelWaitRequest{LockID: "q", ClientID: "b"}); !errors.Is(err, ErrNotWaiting) {
		t.Fatalf("cancel wait of a non-waiter: %v", err)
	}
	if c.GetLeaderAddress() != "" || !c.IsConnected() {
		t.Fatal("a store without a leader has no leader address and is connected while open")
	}

	// The same calls on a driver without the optional interfaces.
	store := memory.NewStore()
	defer store.Close()
	bare, err := NewClient(&faultyDriver{Driver: store.NewDriver()}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	for name, err := range map[string]error{
		"GetStatus":        second(bare.GetStatus(ctx)),
		"Health":           second(bare.Health(ctx)),
		"GetBackoffAdvice": second(bare.GetBackoffAdvice(ctx, "l")),
		"EnqueueWaiter":    second(bare.EnqueueWaiter(ctx, &EnqueueRequest{LockID: "q", ClientID: "a", TTL: time.Minute})),
		"CancelWait":       bare.CancelWait(ctx, &CancelWaitRequest{LockID: "q", ClientID: "a"}),
	} {
		if !errors.Is(err, ErrNotSupported) {
			t.Errorf("%s on a store without it: %v, want ErrNotSupported", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestClientObserverFeedsMetrics(t *testing.T) {
	store := memory.NewStore()
	defer store.Close()
	f := &faultyDriver{Driver: store.NewDriver()}
	c, err := NewClient(f, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f.observer.LeaderRedirect("a:1", "b:2")
	f.observer.Connections(2)
	if m := c.GetMetrics(); m.GetLeaderRedirectCount() != 1 || m.GetConnectionCount() != 2 {
		t.Fatalf("observer events did not reach the metrics: %+v", m.Snapshot())
	}
}

func TestOpenSharesNamedMemoryStore(t *testing.T) {
	ctx := context.Background()
	a, err := Open(ctx, "mem://client-test")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewRaftLockClientBuilder(nil).WithURL("mem://client-test").BuildAdvanced()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.Acquire(ctx, &AcquireRequest{LockID: "shared", ClientID: "a", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx, &AcquireRequest{LockID: "shared", ClientID: "b", TTL: time.Minute}); !errors.Is(err, ErrLockHeld) {
		t.Fatalf("two clients on mem://client-test must share its locks: %v", err)
	}
}

func TestBuilderWithDriver(t *testing.T) {
	store := memory.NewStore()
	defer store.Close()
	admin, err := NewRaftLockClientBuilder(nil).WithDriver(store.NewDriver()).WithMetrics(false).BuildAdmin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := admin.(*Client).GetMetrics().(NoopMetrics); !ok {
		t.Fatal("WithMetrics(false) should give NoopMetrics")
	}
	_, err = NewRaftLockClientBuilder(nil).WithURL("mem://x").WithTimeouts(-1, 0).Build()
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad timeouts: %v", err)
	}
}

// An Acquire answered with a grant the caller already held must not yield a
// deadline past that grant's real end: the client renews it first.
func TestClientReacquireByHolderCountsFromRenew(t *testing.T) {
	ctx := context.Background()
	c, store := newTestClient(t, DefaultConfig())
	other := newClientOn(t, store, DefaultConfig())
	const ttl = 300 * time.Millisecond
	req := &AcquireRequest{LockID: "l", ClientID: "a", TTL: ttl}
	first, err := c.Acquire(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl * 2 / 3)
	again, err := c.Acquire(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if again.Version != first.Version {
		t.Fatalf("re-acquire changed the version: %d then %d", first.Version, again.Version)
	}
	if !again.Deadline.After(first.Deadline) {
		t.Fatalf("re-acquire deadline %v is not past the first %v: it was not renewed", again.Deadline, first.Deadline)
	}
	// Until the new deadline, the store must still hold the lock for a.
	time.Sleep(time.Until(again.Deadline) - 20*time.Millisecond)
	if _, err := other.Acquire(ctx, &AcquireRequest{LockID: "l", ClientID: "b", TTL: ttl}); !errors.Is(err, ErrLockHeld) {
		t.Fatalf("before the re-acquired deadline another client got: %v; want ErrLockHeld", err)
	}
	if got := c.GetMetrics().GetSuccessCount(OpAcquire); got != 2 {
		t.Fatalf("acquire successes = %d, want 2 (the renew is part of the second)", got)
	}
}

// When the renew that refreshes an already-held grant finds the grant gone,
// the client asks again as a new request rather than fail the Acquire.
func TestClientReacquireAfterGrantEnded(t *testing.T) {
	ctx := context.Background()
	store := memory.NewStore()
	defer store.Close()
	f := &faultyDriver{Driver: store.NewDriver()}
	c, err := NewClient(f, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := &AcquireRequest{LockID: "l", ClientID: "a", TTL: time.Minute}
	first, err := c.Acquire(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.renewFaults = []error{&backend.Error{Code: backend.CodeNotFound, LockID: "l"}}
	f.mu.Unlock()
	before := len(f.seenRequestIDs())
	again, err := c.Acquire(ctx, req)
	if err != nil {
		t.Fatalf("re-acquire whose refresh found the grant gone: %v", err)
	}
	if again.Version != first.Version || time.Until(again.Deadline) < 50*time.Second {
		t.Fatalf("re-acquire = %+v; want the same grant with a fresh lease", again)
	}
	// Acquire, the refused renew, then the Acquire asked again: three
	// requests, each with its own ID.
	ids := f.seenRequestIDs()[before:]
	if len(ids) != 3 || ids[0] == ids[1] || ids[1] == ids[2] || ids[0] == ids[2] {
		t.Fatalf("request IDs = %q; want three distinct", ids)
	}
	if m := c.GetMetrics(); m.GetSuccessCount(OpAcquire) != 2 || m.GetFailureCount(OpAcquire) != 0 {
		t.Fatalf("metrics = %+v; the refresh is part of one successful Acquire", m.Snapshot())
	}
}

// logRecorder keeps the level and message of every log record.
type logRecorder struct {
	mu      sync.Mutex
	records []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Level.String()+" "+r.Message)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// Retries are logged at Debug, and a request that exhausted its retries at
// Warn; definite answers are not logged at all.
func TestClientLogsRetries(t *testing.T) {
	ctx := context.Background()
	store := memory.NewStore()
	defer store.Close()
	f := &faultyDriver{Driver: store.NewDriver()}
	rec := &logRecorder{}
	cfg := DefaultConfig()
	cfg.Logger = slog.New(rec)
	cfg.RetryPolicy = RetryPolicy{MaxRetries: 1, BackoffMultiplier: 1}
	c, err := NewClient(f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f.fail(unavailable(), unavailable())
	if _, err := c.Acquire(ctx, &AcquireRequest{LockID: "l", ClientID: "a", TTL: time.Minute}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("acquire: %v", err)
	}
	if _, err := c.Release(ctx, &ReleaseRequest{LockID: "l", ClientID: "a", Version: 1}); !errors.Is(err, ErrLockNotFound) {
		t.Fatalf("release of a free lock: %v", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := []string{"DEBUG raftlock: retrying", "WARN raftlock: giving up after retries"}
	if !slices.Equal(rec.records, want) {
		t.Fatalf("log records = %q, want %q", rec.records, want)
	}
}
