package raftlock

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/raftlock/raftlock/internal/faultdriver"
	"github.com/raftlock/raftlock/memory"
)

// eventLog records an Election's callbacks in the order they came, and
// fails the test if two ever run at once.
type eventLog struct {
	t       *testing.T
	mu      sync.Mutex
	events  []string
	running bool
}

func (l *eventLog) add(e string) {
	l.mu.Lock()
	if l.running {
		l.t.Errorf("callback %q ran while another was running", e)
	}
	l.running = true
	l.mu.Unlock()
	time.Sleep(time.Millisecond) // widen the window in which an overlap would show
	l.mu.Lock()
	l.events = append(l.events, e)
	l.running = false
	l.mu.Unlock()
}

func (l *eventLog) callbacks() Callbacks {
	return Callbacks{
		OnElected: func(token int64) { l.add("elected") },
		OnLost: func(err error) {
			switch {
			case err == nil:
				l.add("resigned")
			case errors.Is(err, ErrLockLost):
				l.add("lost")
			default:
				l.add("lost without ErrLockLost: " + err.Error())
			}
		},
		OnNewLeader: func(id string) { l.add("leader " + id) },
	}
}

func (l *eventLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

func newElection(t *testing.T, c RaftLockClient, id string, ttl time.Duration, opts ...ElectionOption) (*Election, *eventLog) {
	t.Helper()
	log := &eventLog{t: t}
	e, err := NewElection(c, "billing", "prod", ttl, append([]ElectionOption{WithClientID(id), WithCallbacks(log.callbacks())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e, log
}

func TestElectionTryAcquireResignAndCallbacks(t *testing.T) {
	store := memory.NewStore()
	t.Cleanup(func() { _ = store.Close() })
	a, alog := newElection(t, newClientOn(t, store, DefaultConfig()), "a", 10*time.Second)
	b, blog := newElection(t, newClientOn(t, store, DefaultConfig()), "b", 10*time.Second)
	ctx := context.Background()

	if a.IsLeader() || a.RemainingLease() != 0 || a.Token() != 0 {
		t.Fatal("a candidate leads before campaigning")
	}
	if ok, err := a.TryAcquire(ctx); !ok || err != nil {
		t.Fatalf("a.TryAcquire = %v, %v", ok, err)
	}
	if ok, err := a.TryAcquire(ctx); !ok || err != nil {
		t.Fatalf("a.TryAcquire again = %v, %v; a leader keeps its term", ok, err)
	}
	if ok, err := b.TryAcquire(ctx); ok || err != nil {
		t.Fatalf("b.TryAcquire = %v, %v; want false, nil", ok, err)
	}
	if !a.IsLeader() || b.IsLeader() || a.RemainingLease() <= 9*time.Second || a.Token() <= 0 {
		t.Fatalf("a leader %v (lease %v), b leader %v", a.IsLeader(), a.RemainingLease(), b.IsLeader())
	}
	if id, err := b.Leader(ctx); id != "a" || err != nil {
		t.Fatalf("b.Leader = %q, %v", id, err)
	}
	if err := a.StartKeepAlive(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.StartKeepAlive(ctx); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("StartKeepAlive of a follower = %v, want ErrNotHeld", err)
	}
	if err := a.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if a.IsLeader() {
		t.Fatal("still leader after Resign")
	}
	if err := a.Resign(ctx); err != nil {
		t.Fatalf("second Resign = %v, want nil", err)
	}
	if ok, err := b.TryAcquire(ctx); !ok || err != nil {
		t.Fatalf("b.TryAcquire after a resigned = %v, %v", ok, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// Close delivers every callback before it returns.
	if got, want := alog.snapshot(), []string{"elected", "leader a", "resigned"}; !slices.Equal(got, want) {
		t.Errorf("a's callbacks = %q, want %q", got, want)
	}
	if got, want := blog.snapshot(), []string{"leader a", "elected", "leader b", "resigned"}; !slices.Equal(got, want) {
		t.Errorf("b's callbacks = %q, want %q", got, want)
	}
	if _, err := a.TryAcquire(ctx); !errors.Is(err, ErrClientClosed) {
		t.Errorf("TryAcquire after Close = %v, want ErrClientClosed", err)
	}
}

// The leader resigns and a candidate waiting in Campaign leads at once:
// the store hands the lock over from its queue, with no poll.
func TestElectionHandOverOnResign(t *testing.T) {
	store := memory.NewStore()
	t.Cleanup(func() { _ = store.Close() })
	a, _ := newElection(t, newClientOn(t, store, DefaultConfig()), "a", 10*time.Second)
	bClient := newClientOn(t, store, DefaultConfig())
	b, _ := newElection(t, bClient, "b", 10*time.Second)
	ctx := context.Background()
	if err := a.Campaign(ctx); err != nil {
		t.Fatal(err)
	}
	elected := make(chan time.Time, 1)
	go func() {
		if err := b.Campaign(ctx); err != nil {
			t.Error(err)
		}
		elected <- time.Now()
	}()
	waitFor(t, "b to queue", func() bool {
		info, err := bClient.GetLockInfo(ctx, &GetLockInfoRequest{LockID: b.LockID()})
		return err == nil && info.WaiterCount == 1
	})
	resigned := time.Now()
	if err := a.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	took := (<-elected).Sub(resigned)
	if !b.IsLeader() {
		t.Fatal("b is not leader after Campaign returned")
	}
	// One Acquire, answered from the queue: no retry, no poll.
	m := bClient.GetMetrics()
	if m.GetSuccessCount(OpAcquire) != 1 || m.GetFailureCount(OpAcquire) != 0 || m.GetRetryCount(OpAcquire) != 0 {
		t.Fatalf("b's Acquires: %d ok, %d failed, %d retries; want exactly one that waited",
			m.GetSuccessCount(OpAcquire), m.GetFailureCount(OpAcquire), m.GetRetryCount(OpAcquire))
	}
	t.Logf("hand-over took %v", took)
	if took > time.Second {
		t.Fatalf("hand-over took %v", took)
	}
}

// The leader dies without resigning (its keep-alive stops, nothing is
// released): a candidate waiting in Campaign leads within TTL plus one
// renewal interval of the death, on the store's clock.
func TestElectionFailoverWhenTheLeaderDies(t *testing.T) {
	clock := memory.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	store := memory.NewStore(memory.WithClock(clock))
	t.Cleanup(func() { _ = store.Close() })
	const ttl, interval = 3 * time.Second, time.Second
	a, alog := newElection(t, newClientOn(t, store, DefaultConfig()), "a", ttl, WithClock(clock), WithRenewInterval(interval))
	b, _ := newElection(t, newClientOn(t, store, DefaultConfig()), "b", ttl, WithClock(clock), WithRenewInterval(interval))
	ctx := context.Background()
	if err := a.Campaign(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.StartKeepAlive(ctx); err != nil {
		t.Fatal(err)
	}
	elected := make(chan struct{})
	go func() {
		if err := b.Campaign(ctx); err != nil {
			t.Error(err)
		}
		close(elected)
	}()
	// A few renewals, then the leader dies.
	for range 5 {
		time.Sleep(5 * time.Millisecond)
		clock.Advance(interval)
	}
	a.StopKeepAlive()
	died := clock.Now()
	for !isClosed(elected) {
		if clock.Now().Sub(died) > ttl+interval {
			t.Fatalf("no new leader %v after the leader died", clock.Now().Sub(died))
		}
		clock.Advance(50 * time.Millisecond)
		time.Sleep(time.Millisecond)
	}
	t.Logf("new leader %v (store time) after the old one died", clock.Now().Sub(died))
	if a.IsLeader() || !b.IsLeader() {
		t.Fatalf("a leader %v, b leader %v", a.IsLeader(), b.IsLeader())
	}
	waitFor(t, "a's OnLost", func() bool { return slices.Contains(alog.snapshot(), "lost") })
}

// IsLeader turns false at the local deadline with the store unreachable,
// and StopKeepAlive returns promptly while a renewal hangs.
func TestElectionLeadershipEndsAtTheLocalDeadline(t *testing.T) {
	r := newFaultRig(t)
	e, log := newElection(t, r.client, "a", 3*time.Second, WithClock(r.clock), WithRenewInterval(time.Second))
	ctx := context.Background()
	if ok, err := e.TryAcquire(ctx); !ok || err != nil {
		t.Fatal(ok, err)
	}
	r.timers = r.clock.PendingTimers()
	if err := e.StartKeepAlive(ctx); err != nil {
		t.Fatal(err)
	}
	r.armed(t)
	r.faults.Hang(faultdriver.Renew) // renewals hang: the store is unreachable
	r.clock.Advance(time.Second)
	waitFor(t, "a renewal to hang", func() bool { return r.faults.Blocked(faultdriver.Renew) == 1 })
	r.clock.Advance(1900 * time.Millisecond)
	if !e.IsLeader() {
		t.Fatal("leadership ended before the local deadline")
	}
	r.clock.Advance(40 * time.Millisecond) // 2.94s: the deadline
	if e.IsLeader() || e.RemainingLease() != 0 {
		t.Fatalf("IsLeader %v, RemainingLease %v at the local deadline with the store unreachable", e.IsLeader(), e.RemainingLease())
	}
	stopped := make(chan struct{})
	go func() { e.StopKeepAlive(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("StopKeepAlive did not return")
	}
	waitFor(t, "OnLost", func() bool { return slices.Contains(log.snapshot(), "lost") })
	r.faults.Clear()
	// The keep-alive restarts after a new term.
	r.clock.Advance(time.Second) // the store expires the old grant
	if ok, err := e.TryAcquire(ctx); !ok || err != nil {
		t.Fatalf("TryAcquire after the loss = %v, %v", ok, err)
	}
	if err := e.StartKeepAlive(ctx); err != nil {
		t.Fatalf("StartKeepAlive after a loss: %v", err)
	}
	waitFor(t, "OnElected of the new term", func() bool { return len(log.snapshot()) == 4 })
	if got := fmt.Sprint(log.snapshot()); got != "[elected leader a lost elected]" {
		t.Errorf("callbacks = %s", got)
	}
}

func TestElectionObserve(t *testing.T) {
	store := memory.NewStore()
	t.Cleanup(func() { _ = store.Close() })
	a, _ := newElection(t, newClientOn(t, store, DefaultConfig()), "a", 10*time.Second, WithObserveInterval(5*time.Millisecond))
	b, _ := newElection(t, newClientOn(t, store, DefaultConfig()), "b", 10*time.Second, WithObserveInterval(5*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	seen := b.Observe(ctx)
	next := func(want string) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case id := <-seen:
				if id == want {
					return
				}
			case <-deadline:
				t.Fatalf("Observe never reported %q", want)
			}
		}
	}
	next("")
	if _, err := a.TryAcquire(ctx); err != nil {
		t.Fatal(err)
	}
	next("a")
	if err := a.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	next("")
	cancel()
	for range seen {
	}
}

func TestElectionBadInput(t *testing.T) {
	c, _ := newTestClient(t, DefaultConfig())
	for _, tc := range []struct {
		service, domain string
		ttl             time.Duration
		opts            []ElectionOption
		want            error
	}{
		{"", "prod", time.Second, nil, ErrInvalidArgument},
		{"svc", "", time.Second, nil, ErrInvalidArgument},
		{"a/b", "prod", time.Second, nil, ErrInvalidArgument},
		{"svc", "prod", -time.Second, nil, ErrInvalidArgument},
		{"svc", "prod", 10 * time.Second, []ElectionOption{WithRenewInterval(20 * time.Second)}, ErrInvalidArgument},
		{"svc", "prod", 10 * time.Second, []ElectionOption{WithClientID("bad\x00id")}, ErrInvalidArgument},
		{"svc", "prod", 10 * time.Second, []ElectionOption{WithObserveInterval(-1)}, ErrInvalidArgument},
	} {
		if _, err := NewElection(c, tc.service, tc.domain, tc.ttl, tc.opts...); !errors.Is(err, tc.want) {
			t.Errorf("NewElection(%q, %q, %v) = %v, want %v", tc.service, tc.domain, tc.ttl, err, tc.want)
		}
	}
	if _, err := NewElection(nil, "svc", "prod", time.Second); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil client: %v", err)
	}
}
