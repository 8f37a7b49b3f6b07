package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/memory"
)

// TestMain fails the package's tests if any goroutine outlives them: blocked
// calls, timers and stores must all be cleaned up.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// epoch is where the tests' fake clocks start.
var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// newStore makes a store on a fake clock, closed when the test ends.
func newStore(t *testing.T, opts ...memory.Option) (*memory.Store, *memory.FakeClock) {
	t.Helper()
	clk := memory.NewFakeClock(epoch)
	s := memory.NewStore(append([]memory.Option{memory.WithClock(clk)}, opts...)...)
	t.Cleanup(func() { s.Close() })
	return s, clk
}

// newDriver makes a driver of s, closed when the test ends.
func newDriver(t *testing.T, s *memory.Store) *memory.Driver {
	t.Helper()
	d := s.NewDriver()
	t.Cleanup(func() { d.Close() })
	return d
}

func acquire(t *testing.T, d *memory.Driver, lockID, clientID string, ttl time.Duration) backend.Lock {
	t.Helper()
	res, err := d.Acquire(context.Background(), &backend.AcquireRequest{LockID: lockID, ClientID: clientID, TTL: ttl})
	if err != nil {
		t.Fatalf("Acquire(%s, %s): %v", lockID, clientID, err)
	}
	return res.Lock
}

func release(t *testing.T, d *memory.Driver, l backend.Lock) *backend.ReleaseResult {
	t.Helper()
	res, err := d.Release(context.Background(), &backend.ReleaseRequest{LockID: l.LockID, ClientID: l.Owner, Version: l.Version})
	if err != nil {
		t.Fatalf("Release(%s, %s, %d): %v", l.LockID, l.Owner, l.Version, err)
	}
	return res
}

// wantCode fails the test unless err carries code, both by CodeOf and by
// errors.Is against the code's sentinel.
func wantCode(t *testing.T, err error, code backend.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", code)
	}
	if got := backend.CodeOf(err); got != code {
		t.Fatalf("got %v (%v), want code %v", got, err, code)
	}
	if !errors.Is(err, code.Sentinel()) {
		t.Fatalf("errors.Is(%v, %v) is false", err, code.Sentinel())
	}
	var e *backend.Error
	if !errors.As(err, &e) {
		t.Fatalf("%v is not a *backend.Error", err)
	}
}

// getInfo returns the lock's info with waiters, or nil when Get answers
// CodeNotFound.
func getInfo(t *testing.T, d *memory.Driver, lockID string) *backend.LockInfo {
	t.Helper()
	info, err := d.Get(context.Background(), &backend.GetRequest{LockID: lockID, IncludeWaiters: true})
	if backend.CodeOf(err) == backend.CodeNotFound {
		return nil
	}
	if err != nil {
		t.Fatalf("Get(%s): %v", lockID, err)
	}
	return info
}

// eventually polls cond in real time until it holds, failing the test after
// a few seconds. Tests use it to wait for a goroutine to reach a blocked
// state they cannot observe otherwise.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waiters returns the client IDs queued on lockID, in grant order.
func waiters(t *testing.T, d *memory.Driver, lockID string) []string {
	t.Helper()
	info := getInfo(t, d, lockID)
	if info == nil {
		return nil
	}
	var ids []string
	for i, w := range info.Waiters {
		if w.Position != i {
			t.Fatalf("waiter %s has position %d at index %d", w.ClientID, w.Position, i)
		}
		ids = append(ids, w.ClientID)
	}
	if len(ids) != info.WaiterCount {
		t.Fatalf("WaiterCount %d, but %d waiters listed", info.WaiterCount, len(ids))
	}
	return ids
}

// waitResult is what a background Acquire returned.
type waitResult struct {
	res *backend.AcquireResult
	err error
}

// acquireAsync starts an Acquire with Wait and returns the channel its
// result arrives on. It waits until the client is queued (or has returned).
func acquireAsync(t *testing.T, ctx context.Context, d *memory.Driver, req *backend.AcquireRequest) <-chan waitResult {
	t.Helper()
	req.Wait = true
	ch := make(chan waitResult, 1)
	go func() {
		res, err := d.Acquire(ctx, req)
		ch <- waitResult{res, err}
	}()
	eventually(t, req.ClientID+" to queue on "+req.LockID, func() bool {
		if len(ch) > 0 {
			return true
		}
		for _, id := range waiters(t, d, req.LockID) {
			if id == req.ClientID {
				return true
			}
		}
		return false
	})
	return ch
}

// recv returns the result from ch, failing the test if none arrives soon.
func recv(t *testing.T, ch <-chan waitResult) waitResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("blocked Acquire did not return")
		return waitResult{}
	}
}

// notYet fails the test if ch delivers within a short time.
func notYet(t *testing.T, ch <-chan waitResult) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("blocked Acquire returned early: %+v, %v", r.res, r.err)
	case <-time.After(20 * time.Millisecond):
	}
}

// errorsAs is errors.As for tests that have checked the error already.
func errorsAs(err error, target any) bool { return errors.As(err, target) }
