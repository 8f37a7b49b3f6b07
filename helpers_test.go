package raftlock

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTestClient returns a client on a fresh memory store and a second
// driver on the same store, standing for another process.
func newTestClient(t testing.TB, cfg Config) (*Client, *memory.Store) {
	t.Helper()
	store := memory.NewStore()
	c, err := NewClient(store.NewDriver(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		_ = store.Close()
	})
	return c, store
}

func newClientOn(t testing.TB, store *memory.Store, cfg Config) *Client {
	t.Helper()
	c, err := NewClient(store.NewDriver(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// faultyDriver stands between the client and a real store's driver and
// fails the calls it is told to fail, to exercise the client's retry and
// timeout paths. It embeds only backend.Driver, so it hides the optional
// interfaces of the driver it wraps.
type faultyDriver struct {
	backend.Driver

	mu          sync.Mutex
	faults      []error  // returned, in order, by the next calls instead of calling through
	renewFaults []error  // the same, for the next Renew calls only
	block       bool     // calls wait for their context instead of calling through
	requestIDs  []string // RequestID of every Acquire and Release seen
	caps        *backend.Capabilities
	observer    backend.Observer
}

func (f *faultyDriver) next(id string) (error, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != "" {
		f.requestIDs = append(f.requestIDs, id)
	}
	if len(f.faults) > 0 {
		err := f.faults[0]
		f.faults = f.faults[1:]
		return err, true
	}
	return nil, f.block
}

func (f *faultyDriver) fail(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, errs...)
}

func (f *faultyDriver) seenRequestIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requestIDs...)
}

func (f *faultyDriver) Acquire(ctx context.Context, req *backend.AcquireRequest) (*backend.AcquireResult, error) {
	if err, stop := f.next(req.RequestID); stop {
		if err == nil {
			<-ctx.Done()
			return nil, backend.ContextError(ctx, req.LockID)
		}
		return nil, err
	}
	return f.Driver.Acquire(ctx, req)
}

func (f *faultyDriver) Release(ctx context.Context, req *backend.ReleaseRequest) (*backend.ReleaseResult, error) {
	if err, stop := f.next(req.RequestID); stop {
		if err == nil {
			<-ctx.Done()
			return nil, backend.ContextError(ctx, req.LockID)
		}
		return nil, err
	}
	return f.Driver.Release(ctx, req)
}

func (f *faultyDriver) Renew(ctx context.Context, req *backend.RenewRequest) (*backend.Lock, error) {
	f.mu.Lock()
	if len(f.renewFaults) > 0 {
		err := f.renewFaults[0]
		f.renewFaults = f.renewFaults[1:]
		f.requestIDs = append(f.requestIDs, req.RequestID)
		f.mu.Unlock()
		return nil, err
	}
	f.mu.Unlock()
	if err, stop := f.next(req.RequestID); stop {
		if err == nil {
			<-ctx.Done()
			return nil, backend.ContextError(ctx, req.LockID)
		}
		return nil, err
	}
	return f.Driver.Renew(ctx, req)
}

func (f *faultyDriver) Capabilities() backend.Capabilities {
	if f.caps != nil {
		return *f.caps
	}
	return f.Driver.Capabilities()
}

// SetObserver makes faultyDriver Observable, as network drivers are.
func (f *faultyDriver) SetObserver(o backend.Observer) { f.observer = o }

func unavailable() error {
	return &backend.Error{Code: backend.CodeUnavailable, Message: "injected"}
}

// waitFor polls cond until it holds or a generous bound passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
