package faultdriver_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/conformance"
	"github.com/raftlock/raftlock/internal/faultdriver"
	"github.com/raftlock/raftlock/memory"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// call a fault held must have been let go.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const ttl = time.Minute

var (
	errUnavailable = &backend.Error{Code: backend.CodeUnavailable, Message: "injected: store unreachable"}
	errRateLimit   = &backend.Error{Code: backend.CodeRateLimit, Message: "injected: slow down"}
	errLost        = &backend.Error{Code: backend.CodeNotFound, Message: "injected: lock lost"}
)

// setup returns a wrapped driver of a fresh in-memory store and a second,
// plain driver of the same store, through which the test sees what reached
// the store. All are closed when the test ends.
func setup(t *testing.T) (*faultdriver.Driver, *memory.Driver) {
	t.Helper()
	s := memory.NewStore()
	t.Cleanup(func() { s.Close() })
	fd := faultdriver.Wrap(s.NewDriver())
	t.Cleanup(func() { fd.Close() })
	peer := s.NewDriver()
	t.Cleanup(func() { peer.Close() })
	return fd, peer
}

func acquireReq(lockID, clientID string) *backend.AcquireRequest {
	return &backend.AcquireRequest{LockID: lockID, ClientID: clientID, TTL: ttl}
}

// wantCode fails the test unless err carries code.
func wantCode(t *testing.T, err error, code backend.Code) {
	t.Helper()
	if got := backend.CodeOf(err); err == nil || got != code {
		t.Fatalf("got %v (code %v), want code %v", err, got, code)
	}
}

// held returns the lock as the store has it, or nil when the store does
// not know the lock.
func held(t *testing.T, peer *memory.Driver, lockID string) *backend.LockInfo {
	t.Helper()
	info, err := peer.Get(context.Background(), &backend.GetRequest{LockID: lockID})
	if backend.CodeOf(err) == backend.CodeNotFound {
		return nil
	}
	if err != nil {
		t.Fatalf("Get(%s) on the store: %v", lockID, err)
	}
	return info
}

// eventually polls cond until it holds, failing the test after a few
// seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// async runs f on its own goroutine and returns the channel its error
// arrives on.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// recv returns the error from ch, failing the test if none arrives.
func recv(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not return")
		return nil
	}
}

// notYet fails the test if ch delivers within a short while. It can only
// miss a call that returns too early, never flag a correct one.
func notYet(t *testing.T, ch <-chan error) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("the call returned while it should be blocked: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
}

// harness runs the conformance suite through wrappers with no fault set.
type harness struct{ store *memory.Store }

func (h harness) MakeDriver(context.Context) (backend.Driver, error) {
	return faultdriver.Wrap(h.store.NewDriver()), nil
}

func (h harness) WithLimits(_ context.Context, lim conformance.Limits) (conformance.Harness, func(), error) {
	s := memory.NewStore(memory.WithMaxLocks(lim.MaxLocks), memory.WithMaxWaiters(lim.MaxWaiters))
	return harness{store: s}, func() { s.Close() }, nil
}

// TestConformance checks that the wrapper without faults is invisible: the
// store behind it keeps every promise of the contract.
func TestConformance(t *testing.T) {
	s := memory.NewStore()
	t.Cleanup(func() { s.Close() })
	conformance.Run(t, harness{store: s})
}

func TestFailTimesThenPassesThrough(t *testing.T) {
	fd, peer := setup(t)
	ctx := context.Background()
	fd.Fail(faultdriver.Acquire, errUnavailable, 2)

	for i := range 2 {
		_, err := fd.Acquire(ctx, acquireReq("a", "c1"))
		wantCode(t, err, backend.CodeUnavailable)
		if !errors.Is(err, backend.ErrUnavailable) {
			t.Fatalf("failure %d: errors.Is(%v, ErrUnavailable) is false", i, err)
		}
		if info := held(t, peer, "a"); info != nil {
			t.Fatalf("failure %d reached the store: %+v", i, info)
		}
	}
	res, err := fd.Acquire(ctx, acquireReq("a", "c1"))
	if err != nil {
		t.Fatalf("third Acquire: %v", err)
	}
	if info := held(t, peer, "a"); info == nil || info.Owner != "c1" || info.Version != res.Lock.Version {
		t.Fatalf("store has %+v, want c1's grant %d", info, res.Lock.Version)
	}
	if n := fd.Calls(faultdriver.Acquire); n != 3 {
		t.Fatalf("Calls(Acquire) = %d, want 3", n)
	}
	if n := fd.Calls(faultdriver.Renew); n != 0 {
		t.Fatalf("Calls(Renew) = %d, want 0", n)
	}
}

func TestFailUntilCleared(t *testing.T) {
	fd, peer := setup(t)
	ctx := context.Background()
	res, err := fd.Acquire(ctx, acquireReq("a", "c1"))
	if err != nil {
		t.Fatal(err)
	}
	before := held(t, peer, "a").ExpiresAt
	renew := &backend.RenewRequest{LockID: "a", ClientID: "c1", Version: res.Lock.Version, TTL: 2 * ttl}

	fd.Fail(faultdriver.Renew, errLost, -1)
	for range 5 {
		_, err := fd.Renew(ctx, renew)
		wantCode(t, err, backend.CodeNotFound)
	}
	if after := held(t, peer, "a").ExpiresAt; !after.Equal(before) {
		t.Fatalf("a failed renewal reached the store: expiry moved from %v to %v", before, after)
	}
	// Only Renew was failed: the other ops go through.
	if _, err := fd.Get(ctx, &backend.GetRequest{LockID: "a"}); err != nil {
		t.Fatalf("Get while Renew fails: %v", err)
	}

	fd.Clear()
	if _, err := fd.Renew(ctx, renew); err != nil {
		t.Fatalf("Renew after Clear: %v", err)
	}
	if after := held(t, peer, "a").ExpiresAt; !after.After(before) {
		t.Fatalf("renewal after Clear did not reach the store: expiry %v, was %v", after, before)
	}
	if n := fd.Calls(faultdriver.Renew); n != 6 {
		t.Fatalf("Calls(Renew) = %d, want 6", n)
	}
}

func TestFailAnyAndPrecedence(t *testing.T) {
	fd, _ := setup(t)
	ctx := context.Background()
	get := &backend.GetRequest{LockID: "nobody"}

	fd.Fail(faultdriver.Any, errUnavailable, 1)
	fd.Fail(faultdriver.Get, errRateLimit, 1)
	// The op's own failure is used up first, then the one for Any.
	_, err := fd.Get(ctx, get)
	wantCode(t, err, backend.CodeRateLimit)
	_, err = fd.Get(ctx, get)
	wantCode(t, err, backend.CodeUnavailable)
	// Both used up: the store answers.
	_, err = fd.Get(ctx, get)
	wantCode(t, err, backend.CodeNotFound)

	// Any covers ops of every kind; a nil error is an unreachable store.
	fd.Fail(faultdriver.Any, nil, 2)
	_, err = fd.List(ctx, &backend.ListRequest{})
	wantCode(t, err, backend.CodeUnavailable)
	_, err = fd.Status(ctx)
	wantCode(t, err, backend.CodeUnavailable)
	if _, err := fd.List(ctx, &backend.ListRequest{}); err != nil {
		t.Fatalf("List after the failures: %v", err)
	}

	// times 0 removes a failure.
	fd.Fail(faultdriver.Get, errRateLimit, -1)
	fd.Fail(faultdriver.Get, errRateLimit, 0)
	_, err = fd.Get(ctx, get)
	wantCode(t, err, backend.CodeNotFound)

	if got, want := fd.Calls(faultdriver.Any), fd.Calls(faultdriver.Get)+fd.Calls(faultdriver.List)+fd.Calls(faultdriver.Admin); got != want || got != 7 {
		t.Fatalf("Calls(Any) = %d, want 7 and the sum of the kinds (%d)", got, want)
	}
}

func TestDelay(t *testing.T) {
	fd, peer := setup(t)
	ctx := context.Background()
	const delay = 100 * time.Millisecond

	fd.Delay(faultdriver.Get, delay)
	start := time.Now()
	_, err := fd.Get(ctx, &backend.GetRequest{LockID: "a"})
	wantCode(t, err, backend.CodeNotFound) // reached the store, which knows no such lock
	if elapsed := time.Since(start); elapsed < delay {
		t.Fatalf("delayed Get returned after %v, before the %v delay", elapsed, delay)
	}

	// A delayed call whose ctx ends first never reaches the store.
	fd.Delay(faultdriver.Acquire, time.Hour)
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = fd.Acquire(tctx, acquireReq("a", "c1"))
	wantCode(t, err, backend.CodeTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("errors.Is(%v, context.DeadlineExceeded) is false", err)
	}
	if info := held(t, peer, "a"); info != nil {
		t.Fatalf("the timed-out Acquire reached the store: %+v", info)
	}

	// A delay of 0 removes it.
	fd.Delay(faultdriver.Acquire, 0)
	if _, err := fd.Acquire(ctx, acquireReq("a", "c1")); err != nil {
		t.Fatalf("Acquire after the delay was removed: %v", err)
	}
}

// hangRenew takes lock "a" for c1 through fd, hangs Renew and starts a
// renewal of a with ctx. It returns the renewal's result channel and the
// lock's expiry as the store had it before.
func hangRenew(t *testing.T, ctx context.Context, fd *faultdriver.Driver, peer *memory.Driver) (<-chan error, time.Time) {
	t.Helper()
	res, err := fd.Acquire(context.Background(), acquireReq("a", "c1"))
	if err != nil {
		t.Fatal(err)
	}
	before := held(t, peer, "a").ExpiresAt
	fd.Hang(faultdriver.Renew)
	ch := async(func() error {
		_, err := fd.Renew(ctx, &backend.RenewRequest{LockID: "a", ClientID: "c1", Version: res.Lock.Version, TTL: 2 * ttl})
		return err
	})
	return ch, before
}

// wantUntouched fails the test if lock a's expiry in the store moved: the
// renewal a fault stopped must not have reached it.
func wantUntouched(t *testing.T, peer *memory.Driver, before time.Time) {
	t.Helper()
	if after := held(t, peer, "a").ExpiresAt; !after.Equal(before) {
		t.Fatalf("the stopped renewal reached the store: expiry moved from %v to %v", before, after)
	}
}

func TestHangUntilCanceled(t *testing.T) {
	fd, peer := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, before := hangRenew(t, ctx, fd, peer)

	eventually(t, "the renewal to hang", func() bool { return fd.Blocked(faultdriver.Renew) == 1 })
	if n := fd.Blocked(faultdriver.Any); n != 1 {
		t.Fatalf("Blocked(Any) = %d, want 1", n)
	}
	if n := fd.Blocked(faultdriver.Get); n != 0 {
		t.Fatalf("Blocked(Get) = %d, want 0", n)
	}
	notYet(t, ch)

	cancel()
	err := recv(t, ch)
	wantCode(t, err, backend.CodeCanceled)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("errors.Is(%v, context.Canceled) is false", err)
	}
	if n := fd.Blocked(faultdriver.Renew); n != 0 {
		t.Fatalf("Blocked(Renew) = %d after the call returned, want 0", n)
	}
	wantUntouched(t, peer, before)
}

func TestHangUntilDeadline(t *testing.T) {
	fd, peer := setup(t)
	const wait = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	start := time.Now()
	ch, before := hangRenew(t, ctx, fd, peer)

	err := recv(t, ch)
	wantCode(t, err, backend.CodeTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("errors.Is(%v, context.DeadlineExceeded) is false", err)
	}
	if elapsed := time.Since(start); elapsed < wait {
		t.Fatalf("the hung call returned after %v, before its %v deadline", elapsed, wait)
	}
	wantUntouched(t, peer, before)
}

func TestUnhangLetsTheCallReachTheStore(t *testing.T) {
	fd, peer := setup(t)
	ctx := context.Background()
	fd.Hang(faultdriver.Acquire)
	ch := async(func() error {
		_, err := fd.Acquire(ctx, acquireReq("a", "c1"))
		return err
	})
	eventually(t, "the Acquire to hang", func() bool { return fd.Blocked(faultdriver.Acquire) == 1 })
	if info := held(t, peer, "a"); info != nil {
		t.Fatalf("the hung Acquire reached the store: %+v", info)
	}
	// Other kinds of call are not hung.
	if _, err := fd.List(ctx, &backend.ListRequest{}); err != nil {
		t.Fatalf("List while Acquire hangs: %v", err)
	}

	fd.Unhang(faultdriver.Acquire)
	if err := recv(t, ch); err != nil {
		t.Fatalf("the released Acquire: %v", err)
	}
	if info := held(t, peer, "a"); info == nil || info.Owner != "c1" {
		t.Fatalf("store has %+v, want a held by c1", info)
	}
	if n := fd.Blocked(faultdriver.Acquire); n != 0 {
		t.Fatalf("Blocked(Acquire) = %d, want 0", n)
	}
	// Later calls are not hung either.
	if _, err := fd.Acquire(ctx, acquireReq("b", "c1")); err != nil {
		t.Fatalf("Acquire after Unhang: %v", err)
	}
}

func TestHangAnyAndClear(t *testing.T) {
	fd, _ := setup(t)
	ctx := context.Background()
	fd.Hang(faultdriver.Any)
	get := async(func() error {
		_, err := fd.Get(ctx, &backend.GetRequest{LockID: "a"})
		return err
	})
	list := async(func() error {
		_, err := fd.List(ctx, &backend.ListRequest{})
		return err
	})
	eventually(t, "both calls to hang", func() bool { return fd.Blocked(faultdriver.Any) == 2 })
	if g, l := fd.Blocked(faultdriver.Get), fd.Blocked(faultdriver.List); g != 1 || l != 1 {
		t.Fatalf("Blocked(Get) = %d, Blocked(List) = %d, want 1 each", g, l)
	}

	// Unhanging Get alone does not help while Any is hung.
	fd.Unhang(faultdriver.Get)
	notYet(t, get)

	fd.Clear()
	wantCode(t, recv(t, get), backend.CodeNotFound) // reached the store
	if err := recv(t, list); err != nil {
		t.Fatalf("List after Clear: %v", err)
	}
	if n := fd.Blocked(faultdriver.Any); n != 0 {
		t.Fatalf("Blocked(Any) = %d, want 0", n)
	}
}

func TestCloseUnblocks(t *testing.T) {
	fd, _ := setup(t)
	ctx := context.Background()
	fd.Hang(faultdriver.Renew)
	fd.Delay(faultdriver.Get, time.Hour)
	renew := async(func() error {
		_, err := fd.Renew(ctx, &backend.RenewRequest{LockID: "a", ClientID: "c1", Version: 1, TTL: ttl})
		return err
	})
	get := async(func() error {
		_, err := fd.Get(ctx, &backend.GetRequest{LockID: "a"})
		return err
	})
	eventually(t, "the renewal to hang", func() bool { return fd.Blocked(faultdriver.Renew) == 1 })
	eventually(t, "the Get to be delayed", func() bool { return fd.Calls(faultdriver.Get) == 1 })

	if err := fd.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantCode(t, recv(t, renew), backend.CodeClosed)
	wantCode(t, recv(t, get), backend.CodeClosed)
	if n := fd.Blocked(faultdriver.Any); n != 0 {
		t.Fatalf("Blocked(Any) = %d after Close, want 0", n)
	}

	// Later calls fail without reaching the store, and the wrapped driver
	// is closed too.
	_, err := fd.Acquire(ctx, acquireReq("a", "c1"))
	wantCode(t, err, backend.CodeClosed)
	_, err = fd.Unwrap().Get(ctx, &backend.GetRequest{LockID: "a"})
	wantCode(t, err, backend.CodeClosed)
	if fd.Connected() {
		t.Fatal("Connected() is true after Close")
	}
	if err := fd.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestOnCall(t *testing.T) {
	fd, _ := setup(t)
	ctx := context.Background()
	var renews, all atomic.Int32
	fd.OnCall(faultdriver.Renew, func() {
		renews.Add(1)
		// A hook may set faults: this one fails the renewal it sees.
		fd.Fail(faultdriver.Renew, errUnavailable, 1)
	})
	fd.OnCall(faultdriver.Any, func() { all.Add(1) })

	_, err := fd.Renew(ctx, &backend.RenewRequest{LockID: "a", ClientID: "c1", Version: 1, TTL: ttl})
	wantCode(t, err, backend.CodeUnavailable)
	if _, err := fd.List(ctx, &backend.ListRequest{}); err != nil {
		t.Fatal(err)
	}
	if r, a := renews.Load(), all.Load(); r != 1 || a != 2 {
		t.Fatalf("hooks ran %d (Renew) and %d (Any) times, want 1 and 2", r, a)
	}

	fd.OnCall(faultdriver.Renew, nil)
	fd.Clear()
	_, err = fd.Renew(ctx, &backend.RenewRequest{LockID: "a", ClientID: "c1", Version: 1, TTL: ttl})
	wantCode(t, err, backend.CodeNotFound) // from the store: the hook is gone
	if r, a := renews.Load(), all.Load(); r != 1 || a != 3 {
		t.Fatalf("hooks ran %d (Renew) and %d (Any) times, want 1 and 3", r, a)
	}
}

// bare hides every optional interface of the driver it holds.
type bare struct{ backend.Driver }

// routed is a memory driver that also names a leader, reports itself
// disconnected and takes an observer, so that the test can tell the
// wrapper's answers from the wrapped driver's.
type routed struct {
	*memory.Driver
	observer backend.Observer
}

func (r *routed) LeaderAddress() string          { return "10.0.0.1:7001" }
func (r *routed) Connected() bool                { return false }
func (r *routed) SetObserver(o backend.Observer) { r.observer = o }

// redirect reports a leader change to the observer, as a driver would.
func (r *routed) redirect(from, to string) { r.observer.LeaderRedirect(from, to) }

// countingObserver counts the redirects it hears of.
type countingObserver struct{ seen *atomic.Int32 }

func (o countingObserver) LeaderRedirect(_, _ string) { o.seen.Add(1) }
func (countingObserver) Connections(int)              {}

func TestOptionalInterfaces(t *testing.T) {
	ctx := context.Background()
	s := memory.NewStore()
	t.Cleanup(func() { s.Close() })

	t.Run("missing", func(t *testing.T) {
		fd := faultdriver.Wrap(bare{s.NewDriver()})
		defer fd.Close()
		fd.Hang(faultdriver.Any) // unsupported calls answer at once all the same
		_, err := fd.Enqueue(ctx, &backend.EnqueueRequest{LockID: "a", ClientID: "c1", TTL: ttl})
		wantCode(t, err, backend.CodeNotSupported)
		wantCode(t, fd.CancelWait(ctx, &backend.CancelWaitRequest{LockID: "a", ClientID: "c1"}), backend.CodeNotSupported)
		_, err = fd.Status(ctx)
		wantCode(t, err, backend.CodeNotSupported)
		_, err = fd.Health(ctx)
		wantCode(t, err, backend.CodeNotSupported)
		_, err = fd.BackoffAdvice(ctx, "a")
		wantCode(t, err, backend.CodeNotSupported)
		if n := fd.Calls(faultdriver.Any); n != 0 {
			t.Fatalf("Calls(Any) = %d, want 0: unsupported calls are not counted", n)
		}
		if a := fd.LeaderAddress(); a != "" {
			t.Fatalf("LeaderAddress() = %q, want \"\"", a)
		}
		if !fd.Connected() {
			t.Fatal("Connected() is false on an open wrapper")
		}
		fd.SetObserver(countingObserver{new(atomic.Int32)}) // nothing to observe; must not panic
	})

	t.Run("present", func(t *testing.T) {
		r := &routed{Driver: s.NewDriver()}
		fd := faultdriver.Wrap(r)
		defer fd.Close()
		if a := fd.LeaderAddress(); a != "10.0.0.1:7001" {
			t.Fatalf("LeaderAddress() = %q, want the wrapped driver's", a)
		}
		if fd.Connected() {
			t.Fatal("Connected() is true, want the wrapped driver's false")
		}
		seen := new(atomic.Int32)
		fd.SetObserver(countingObserver{seen})
		r.redirect("a", "b")
		if seen.Load() != 1 {
			t.Fatal("the observer did not reach the wrapped driver")
		}

		res, err := fd.Enqueue(ctx, &backend.EnqueueRequest{LockID: "q", ClientID: "c1", TTL: ttl})
		if err != nil || !res.Granted {
			t.Fatalf("Enqueue on a free lock: %+v, %v", res, err)
		}
		fd.Fail(faultdriver.CancelWait, errUnavailable, 1)
		wantCode(t, fd.CancelWait(ctx, &backend.CancelWaitRequest{LockID: "q", ClientID: "c2"}), backend.CodeUnavailable)
		wantCode(t, fd.CancelWait(ctx, &backend.CancelWaitRequest{LockID: "q", ClientID: "c2"}), backend.CodeNotWaiting)

		fd.Fail(faultdriver.Admin, errUnavailable, 1)
		_, err = fd.Health(ctx)
		wantCode(t, err, backend.CodeUnavailable)
		if h, err := fd.Health(ctx); err != nil || !h.Serving {
			t.Fatalf("Health: %+v, %v", h, err)
		}
		if _, err := fd.Status(ctx); err != nil {
			t.Fatalf("Status: %v", err)
		}
		if _, err := fd.BackoffAdvice(ctx, "q"); err != nil {
			t.Fatalf("BackoffAdvice: %v", err)
		}
		if n := fd.Calls(faultdriver.Admin); n != 4 {
			t.Fatalf("Calls(Admin) = %d, want 4", n)
		}
	})
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()

	t.Run("nil driver", func(t *testing.T) {
		fd := faultdriver.Wrap(nil)
		_, err := fd.Acquire(ctx, acquireReq("a", "c1"))
		wantCode(t, err, backend.CodeInvalidArgument)
		_, err = fd.List(ctx, &backend.ListRequest{})
		wantCode(t, err, backend.CodeInvalidArgument)
		if c := fd.Capabilities(); c != (backend.Capabilities{}) {
			t.Fatalf("Capabilities() = %+v, want zero", c)
		}
		if fd.Connected() {
			t.Fatal("Connected() is true with no driver")
		}
		if err := fd.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})

	t.Run("nil requests", func(t *testing.T) {
		fd, _ := setup(t)
		// The wrapped driver judges them, as it would without the wrapper.
		_, err := fd.Acquire(ctx, nil)
		wantCode(t, err, backend.CodeInvalidArgument)
		_, err = fd.Release(ctx, nil)
		wantCode(t, err, backend.CodeInvalidArgument)
		_, err = fd.Renew(ctx, nil)
		wantCode(t, err, backend.CodeInvalidArgument)
		_, err = fd.Get(ctx, nil)
		wantCode(t, err, backend.CodeInvalidArgument)
		_, err = fd.List(ctx, nil)
		wantCode(t, err, backend.CodeInvalidArgument)
		_, err = fd.Enqueue(ctx, nil)
		wantCode(t, err, backend.CodeInvalidArgument)
		wantCode(t, fd.CancelWait(ctx, nil), backend.CodeInvalidArgument)
	})

	t.Run("unknown op", func(t *testing.T) {
		fd, _ := setup(t)
		bad := faultdriver.Op(200)
		fd.Fail(bad, errUnavailable, -1)
		fd.Delay(bad, time.Hour)
		fd.Hang(bad)
		fd.Unhang(bad)
		fd.OnCall(bad, func() { t.Error("hook of an unknown op ran") })
		if n := fd.Calls(bad) + fd.Blocked(bad); n != 0 {
			t.Fatalf("counters of an unknown op = %d, want 0", n)
		}
		if _, err := fd.List(ctx, &backend.ListRequest{}); err != nil {
			t.Fatalf("List with faults set on an unknown op: %v", err)
		}
		if s := bad.String(); s != "Op(200)" {
			t.Fatalf("String() = %q", s)
		}
		if s := faultdriver.Renew.String(); s != "Renew" {
			t.Fatalf("Renew.String() = %q", s)
		}
	})
}

// TestWithClient shows the wrapper under the portable client, as the tests
// of lock handles and renewers use it: transient failures are retried
// through, and a renewal the store never answers ends at the request
// timeout.
func TestWithClient(t *testing.T) {
	s := memory.NewStore()
	t.Cleanup(func() { s.Close() })
	fd := faultdriver.Wrap(s.NewDriver())
	cfg := raftlock.DefaultConfig()
	cfg.RequestTimeout = 100 * time.Millisecond
	cfg.RetryPolicy.InitialBackoff = time.Millisecond
	cfg.RetryPolicy.MaxBackoff = time.Millisecond
	c, err := raftlock.NewClient(fd, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()

	res, err := c.Acquire(ctx, acquireReq("a", "c1"))
	if err != nil {
		t.Fatal(err)
	}
	renew := &raftlock.RenewRequest{LockID: "a", ClientID: "c1", Version: res.Version, TTL: ttl}

	fd.Fail(faultdriver.Renew, errUnavailable, 2)
	if _, err := c.Renew(ctx, renew); err != nil {
		t.Fatalf("Renew through two transient failures: %v", err)
	}
	if n := fd.Calls(faultdriver.Renew); n != 3 {
		t.Fatalf("Calls(Renew) = %d, want 3: two failures and the retry that passed", n)
	}

	fd.Hang(faultdriver.Renew)
	_, err = c.Renew(ctx, renew)
	if !errors.Is(err, raftlock.ErrTimeout) {
		t.Fatalf("Renew while the store hangs: %v, want ErrTimeout", err)
	}
	if n := fd.Blocked(faultdriver.Renew); n != 0 {
		t.Fatalf("Blocked(Renew) = %d after the client gave up, want 0", n)
	}
}
