package raftlock

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/faultdriver"
	"github.com/raftlock/raftlock/memory"
)

// faultRig is a memory store on a fake clock, a client on it through a
// fault-injecting driver, and a second, fault-free client standing for
// another process.
type faultRig struct {
	clock  *memory.FakeClock
	store  *memory.Store
	faults *faultdriver.Driver
	client *Client // through faults
	other  *Client // straight to the store
	timers int     // fake-clock timers pending before a renewer starts
}

func newFaultRig(t *testing.T) *faultRig {
	t.Helper()
	clock := memory.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	store := memory.NewStore(memory.WithClock(clock))
	faults := faultdriver.Wrap(store.NewDriver())
	cfg := DefaultConfig()
	cfg.RetryPolicy.MaxRetries = 0 // the renewer's own retries are under test
	client, err := NewClient(faults, cfg)
	if err != nil {
		t.Fatal(err)
	}
	other := newClientOn(t, store, DefaultConfig())
	t.Cleanup(func() {
		faults.Clear()
		_ = client.Close()
		_ = store.Close()
	})
	return &faultRig{clock: clock, store: store, faults: faults, client: client, other: other}
}

// holder asks the store, not the handle, who holds lockID.
func (r *faultRig) holder(t *testing.T, lockID string) string {
	t.Helper()
	info, err := r.other.GetLockInfo(context.Background(), &GetLockInfoRequest{LockID: lockID})
	if errors.Is(err, ErrLockNotFound) {
		return ""
	}
	if err != nil {
		t.Fatalf("GetLockInfo: %v", err)
	}
	if !info.Held {
		return ""
	}
	return info.Owner
}

var errUnavailable = &backend.Error{Code: backend.CodeUnavailable, Message: "injected: store unreachable"}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestLockHandleBasics(t *testing.T) {
	r := newFaultRig(t)
	ctx := context.Background()
	h, err := NewLockHandle(r.client, "jobs/a", "", WithClock(r.clock))
	if err != nil {
		t.Fatal(err)
	}
	if h.ClientID() == "" || h.IsHeld() || h.Token() != 0 || h.Lock() != nil || !h.Deadline().IsZero() || h.RemainingLease() != 0 {
		t.Fatalf("a new handle claims a lease: id %q held %v token %d", h.ClientID(), h.IsHeld(), h.Token())
	}
	if !isClosed(h.Lost()) {
		t.Fatal("Lost of a handle holding nothing is not closed")
	}
	if err := h.Renew(ctx, 10*time.Second); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("Renew before Acquire = %v, want ErrNotHeld", err)
	}
	if err := h.Release(ctx); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("Release before Acquire = %v, want ErrNotHeld", err)
	}

	if err := h.Acquire(ctx, 10*time.Second, false); err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	lost := h.Lost()
	if !h.IsHeld() || h.Token() <= 0 || h.Lock().Owner != h.ClientID() || isClosed(lost) {
		t.Fatalf("after Acquire: held %v token %d lost %v", h.IsHeld(), h.Token(), isClosed(lost))
	}
	// Deadline: from the send, minus the 2% margin, on the handle's clock.
	if want := r.clock.Now().Add(9800 * time.Millisecond); !h.Deadline().Equal(want) {
		t.Fatalf("Deadline = %v, want %v", h.Deadline(), want)
	}
	if got := r.holder(t, "jobs/a"); got != h.ClientID() {
		t.Fatalf("the store says %q holds the lock, want %q", got, h.ClientID())
	}
	token := h.Token()
	r.clock.Advance(5 * time.Second)
	if got := h.RemainingLease(); got != 4800*time.Millisecond {
		t.Fatalf("RemainingLease after 5s = %v, want 4.8s", got)
	}
	if err := h.Renew(ctx, 10*time.Second); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	if h.Token() != token || h.RemainingLease() != 9800*time.Millisecond {
		t.Fatalf("after Renew: token %d (was %d), remaining %v", h.Token(), token, h.RemainingLease())
	}

	// A second handle is another client: refused, then served after the
	// release with a greater token.
	h2, _ := NewLockHandle(r.other, "jobs/a", "", WithClock(r.clock))
	if err := h2.Acquire(ctx, 10*time.Second, false); !errors.Is(err, ErrLockHeld) {
		t.Fatalf("second handle's Acquire = %v, want ErrLockHeld", err)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if !isClosed(lost) || h.IsHeld() {
		t.Fatal("Release left the lease trusted")
	}
	if err := h.Release(ctx); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("second Release = %v, want ErrNotHeld", err)
	}
	if err := h2.Acquire(ctx, 10*time.Second, false); err != nil || h2.Token() <= token {
		t.Fatalf("second handle's Acquire after release = %v, token %d (first was %d)", err, h2.Token(), token)
	}
	if err := h2.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := r.holder(t, "jobs/a"); got != "" {
		t.Fatalf("Close left the lock held by %q", got)
	}
	if err := h2.Acquire(ctx, time.Second, false); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("Acquire on a closed handle = %v, want ErrClientClosed", err)
	}
}

func TestLockHandleBadInput(t *testing.T) {
	r := newFaultRig(t)
	if _, err := NewLockHandle(nil, "a", ""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil client: %v", err)
	}
	if _, err := NewLockHandle(r.client, "", ""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("empty lock ID: %v", err)
	}
	if _, err := NewLockHandle(r.client, "a", string([]byte{0xff})); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("invalid client ID: %v", err)
	}
	h, _ := NewLockHandle(r.client, "a", "")
	if err := h.Acquire(context.Background(), -time.Second, false); !errors.Is(err, ErrInvalidTTL) {
		t.Errorf("negative TTL: %v", err)
	}
	if h.IsHeld() {
		t.Error("a refused Acquire left the handle holding")
	}
}

// The local deadline passes before the store can expire the grant: Lost
// closes and IsHeld turns false while the store still holds the lock, and
// that is so with the store unreachable.
func TestLockHandleLostBeforeStoreExpiry(t *testing.T) {
	r := newFaultRig(t)
	ctx := context.Background()
	h, _ := NewLockHandle(r.client, "jobs/b", "", WithClock(r.clock))
	if err := h.Acquire(ctx, 10*time.Second, false); err != nil {
		t.Fatal(err)
	}
	lost := h.Lost()
	r.faults.Fail(faultdriver.Any, errUnavailable, -1) // the store is out of reach from here on
	r.clock.Advance(9799 * time.Millisecond)
	if !h.IsHeld() || isClosed(lost) {
		t.Fatal("the lease was given up before its local deadline")
	}
	if err := h.Renew(ctx, 10*time.Second); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Renew with the store unreachable = %v, want ErrUnavailable", err)
	}
	if !h.IsHeld() {
		t.Fatal("a transient renewal failure lost the lease")
	}
	r.clock.Advance(time.Millisecond)
	if h.IsHeld() || !isClosed(lost) {
		t.Fatal("IsHeld is still true (or Lost open) at the local deadline")
	}
	if got := r.holder(t, "jobs/b"); got != h.ClientID() {
		t.Fatalf("the store no longer holds the grant at the client's deadline (holder %q): the client was told too late", got)
	}
	if err := h.Renew(ctx, 10*time.Second); !errors.Is(err, ErrNotHeld) || !errors.Is(err, errLeaseRanOut) {
		t.Fatalf("Renew after the local deadline = %v, want ErrNotHeld with the cause", err)
	}
	r.clock.Advance(201 * time.Millisecond)
	if got := r.holder(t, "jobs/b"); got != "" {
		t.Fatalf("the store still holds the grant past its TTL (holder %q)", got)
	}
}

// The store says the grant is gone: Lost closes at once.
func TestLockHandleLostOnDefiniteAnswer(t *testing.T) {
	r := newFaultRig(t)
	ctx := context.Background()
	h, _ := NewLockHandle(r.client, "jobs/c", "", WithClock(r.clock))
	if err := h.Acquire(ctx, 10*time.Second, false); err != nil {
		t.Fatal(err)
	}
	lost := h.Lost()
	r.faults.Fail(faultdriver.Renew, &backend.Error{Code: backend.CodeNotFound, Message: "injected: expired"}, 1)
	if err := h.Renew(ctx, 10*time.Second); !errors.Is(err, ErrLockNotFound) {
		t.Fatalf("Renew = %v, want ErrLockNotFound", err)
	}
	if !isClosed(lost) || h.IsHeld() {
		t.Fatal("a definite loss left the lease trusted")
	}
	// Release still tries: the store does hold it here.
	if err := h.Release(ctx); err != nil {
		t.Fatalf("Release of a lost lease the store still had: %v", err)
	}
	if got := r.holder(t, "jobs/c"); got != "" {
		t.Fatalf("Release left the lock with %q", got)
	}
}

// A handle is safe for concurrent use.
func TestLockHandleConcurrentUse(t *testing.T) {
	c, _ := newTestClient(t, DefaultConfig())
	h, _ := NewLockHandle(c, "jobs/d", "")
	ctx := context.Background()
	if err := h.Acquire(ctx, time.Minute, false); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if err := h.Renew(ctx, time.Minute); err != nil {
					t.Error(err)
					return
				}
				_ = h.IsHeld()
				_ = h.Token()
				_ = h.RemainingLease()
				_ = h.Lock()
			}
		}()
	}
	wg.Wait()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// A grant that came out of the queue late in its lease (counted from the
// send) is renewed at once, so that its deadline counts from the renewal.
func TestLockHandleRenewsALateQueuedGrant(t *testing.T) {
	r := newFaultRig(t)
	ctx := context.Background()
	holder, _ := NewLockHandle(r.other, "jobs/e", "", WithClock(r.clock))
	if err := holder.Acquire(ctx, 6*time.Second, false); err != nil {
		t.Fatal(err)
	}
	first := holder.Token()
	h, _ := NewLockHandle(r.client, "jobs/e", "", WithClock(r.clock))
	done := make(chan error, 1)
	go func() { done <- h.Acquire(ctx, 10*time.Second, true) }()
	waitFor(t, "the waiter to queue", func() bool {
		info, err := r.other.GetLockInfo(ctx, &GetLockInfoRequest{LockID: "jobs/e"})
		return err == nil && info.WaiterCount == 1
	})
	r.clock.Advance(6 * time.Second) // the holder's grant expires; the waiter gets it
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := r.faults.Calls(faultdriver.Renew); n != 1 {
		t.Fatalf("%d renewals after a grant made 6s into a 10s lease, want 1", n)
	}
	if got, want := h.Deadline(), r.clock.Now().Add(9800*time.Millisecond); !got.Equal(want) {
		t.Fatalf("Deadline %v, want %v (from the renewal)", got, want)
	}
	if !h.IsHeld() || h.Token() <= first {
		t.Fatalf("held %v, token %d", h.IsHeld(), h.Token())
	}
}
