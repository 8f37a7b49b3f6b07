package faultdriver

import (
	"context"

	"github.com/raftlock/raftlock/backend"
)

// Driver forwards every call to the driver it wraps, unless a fault set on
// it stops or slows the call first. It is safe for concurrent use: faults
// may be set and cleared while calls are in flight.
//
// Driver implements backend.Driver and every optional interface of the
// contract, so that the code above it sees the same abilities whatever it
// wraps. When the wrapped driver lacks one, the calls of that interface
// answer as a store without the ability would: Queuer and Admin calls fail
// at once with CodeNotSupported (neither counted nor subject to faults),
// LeaderAddress returns "", Connected reports whether the wrapper is still
// open, and SetObserver does nothing.
type Driver struct {
	inner      backend.Driver
	queuer     backend.Queuer
	admin      backend.Admin
	router     backend.Router
	observable backend.Observable
	table      table
}

var (
	_ backend.Driver     = (*Driver)(nil)
	_ backend.Queuer     = (*Driver)(nil)
	_ backend.Admin      = (*Driver)(nil)
	_ backend.Router     = (*Driver)(nil)
	_ backend.Observable = (*Driver)(nil)
)

// Wrap returns a Driver that forwards to d, with no fault set. The wrapper
// owns d from then on: its Close closes d. A nil d gives a driver whose
// calls fail with CodeInvalidArgument.
func Wrap(d backend.Driver) *Driver {
	w := &Driver{inner: d}
	w.table.init()
	w.queuer, _ = d.(backend.Queuer)
	w.admin, _ = d.(backend.Admin)
	w.router, _ = d.(backend.Router)
	w.observable, _ = d.(backend.Observable)
	return w
}

// Unwrap returns the wrapped driver, for a test that needs to reach the
// store past the faults.
func (d *Driver) Unwrap() backend.Driver { return d.inner }

// enter applies the faults to a call of op about lockID; a non-nil result is
// the call's answer.
func (d *Driver) enter(ctx context.Context, op Op, lockID string) error {
	if d.inner == nil {
		return backend.Errorf(backend.CodeInvalidArgument, "faultdriver: no driver was wrapped")
	}
	return d.table.before(ctx, op, lockID)
}

// notSupported is the answer to a call of an optional interface that the
// wrapped driver does not implement.
func notSupported(lockID, what string) *backend.Error {
	return &backend.Error{Code: backend.CodeNotSupported, LockID: lockID, Message: "the store has no " + what}
}

// Acquire implements backend.Driver.
func (d *Driver) Acquire(ctx context.Context, req *backend.AcquireRequest) (*backend.AcquireResult, error) {
	var id string
	if req != nil {
		id = req.LockID
	}
	if err := d.enter(ctx, Acquire, id); err != nil {
		return nil, err
	}
	return d.inner.Acquire(ctx, req)
}

// Release implements backend.Driver.
func (d *Driver) Release(ctx context.Context, req *backend.ReleaseRequest) (*backend.ReleaseResult, error) {
	var id string
	if req != nil {
		id = req.LockID
	}
	if err := d.enter(ctx, Release, id); err != nil {
		return nil, err
	}
	return d.inner.Release(ctx, req)
}

// Renew implements backend.Driver.
func (d *Driver) Renew(ctx context.Context, req *backend.RenewRequest) (*backend.Lock, error) {
	var id string
	if req != nil {
		id = req.LockID
	}
	if err := d.enter(ctx, Renew, id); err != nil {
		return nil, err
	}
	return d.inner.Renew(ctx, req)
}

// Get implements backend.Driver.
func (d *Driver) Get(ctx context.Context, req *backend.GetRequest) (*backend.LockInfo, error) {
	var id string
	if req != nil {
		id = req.LockID
	}
	if err := d.enter(ctx, Get, id); err != nil {
		return nil, err
	}
	return d.inner.Get(ctx, req)
}

// List implements backend.Driver.
func (d *Driver) List(ctx context.Context, req *backend.ListRequest) (*backend.ListResult, error) {
	if err := d.enter(ctx, List, ""); err != nil {
		return nil, err
	}
	return d.inner.List(ctx, req)
}

// Capabilities implements backend.Driver: the wrapped driver's, which no
// fault changes (the zero value when nothing was wrapped).
func (d *Driver) Capabilities() backend.Capabilities {
	if d.inner == nil {
		return backend.Capabilities{}
	}
	return d.inner.Capabilities()
}

// Close implements backend.Driver. It wakes every call that a fault holds
// (they fail with CodeClosed), makes every later call fail with CodeClosed
// before it reaches the store, and closes the wrapped driver, which wakes
// the calls blocked in the store. A second Close returns nil.
func (d *Driver) Close() error {
	if !d.table.close() || d.inner == nil {
		return nil
	}
	return d.inner.Close()
}

// Enqueue implements backend.Queuer.
func (d *Driver) Enqueue(ctx context.Context, req *backend.EnqueueRequest) (*backend.EnqueueResult, error) {
	var id string
	if req != nil {
		id = req.LockID
	}
	if d.queuer == nil {
		return nil, notSupported(id, "explicit wait queue")
	}
	if err := d.enter(ctx, Enqueue, id); err != nil {
		return nil, err
	}
	return d.queuer.Enqueue(ctx, req)
}

// CancelWait implements backend.Queuer.
func (d *Driver) CancelWait(ctx context.Context, req *backend.CancelWaitRequest) error {
	var id string
	if req != nil {
		id = req.LockID
	}
	if d.queuer == nil {
		return notSupported(id, "explicit wait queue")
	}
	if err := d.enter(ctx, CancelWait, id); err != nil {
		return err
	}
	return d.queuer.CancelWait(ctx, req)
}

// Status implements backend.Admin; its faults are those of Admin.
func (d *Driver) Status(ctx context.Context) (*backend.Status, error) {
	if d.admin == nil {
		return nil, notSupported("", "admin calls")
	}
	if err := d.enter(ctx, Admin, ""); err != nil {
		return nil, err
	}
	return d.admin.Status(ctx)
}

// Health implements backend.Admin; its faults are those of Admin.
func (d *Driver) Health(ctx context.Context) (*backend.Health, error) {
	if d.admin == nil {
		return nil, notSupported("", "admin calls")
	}
	if err := d.enter(ctx, Admin, ""); err != nil {
		return nil, err
	}
	return d.admin.Health(ctx)
}

// BackoffAdvice implements backend.Admin; its faults are those of Admin.
func (d *Driver) BackoffAdvice(ctx context.Context, lockID string) (*backend.BackoffAdvice, error) {
	if d.admin == nil {
		return nil, notSupported(lockID, "admin calls")
	}
	if err := d.enter(ctx, Admin, lockID); err != nil {
		return nil, err
	}
	return d.admin.BackoffAdvice(ctx, lockID)
}

// LeaderAddress implements backend.Router: the wrapped driver's answer, or
// "" when it has no leader to name. Faults do not apply to it.
func (d *Driver) LeaderAddress() string {
	if d.router == nil {
		return ""
	}
	return d.router.LeaderAddress()
}

// Connected implements backend.Router: the wrapped driver's answer, or,
// when it has no connection to report, whether the wrapper is open. A hung
// op does not make it false, as a store that silently drops requests would
// not either; a test that wants a visibly broken connection wraps a driver
// that implements Router.
func (d *Driver) Connected() bool {
	if d.router != nil {
		return d.router.Connected()
	}
	d.table.mu.Lock()
	defer d.table.mu.Unlock()
	return !d.table.closed && d.inner != nil
}

// SetObserver implements backend.Observable by handing o to the wrapped
// driver, if it reports events; otherwise there is nothing to observe.
func (d *Driver) SetObserver(o backend.Observer) {
	if d.observable != nil {
		d.observable.SetObserver(o)
	}
}
