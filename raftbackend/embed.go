package raftbackend

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/raftlock/raftlock/backend"
)

// EmbeddedDriver is a client of a Node in the same process: calls go
// straight to the node, without a network hop. When the node does not lead
// its cluster, the driver forwards each call to the leader's client API
// (the node answered CodeNotLeader with its address), so an application
// replica that embeds a follower still reaches the lock table.
//
// It implements backend.Driver, backend.Queuer, backend.Admin,
// backend.Router and backend.Observable, and adds an operator's
// ForceRelease. Closing it wakes the calls blocked in it with CodeClosed;
// the node stays up until its last driver opened from a URL closes (or,
// for NewDriver, until the node's owner closes it).
type EmbeddedDriver struct {
	node   *Node
	ctx    context.Context // cancelled by Close, waking the driver's calls
	cancel context.CancelFunc
	closed atomic.Bool
	once   sync.Once

	onClose func() // drops the URL registry's reference to the node

	mu       sync.Mutex
	fwd      *RemoteDriver // to the leader, when the local node follows
	fwdAddr  string
	observer backend.Observer
}

var (
	_ backend.Driver     = (*EmbeddedDriver)(nil)
	_ backend.Queuer     = (*EmbeddedDriver)(nil)
	_ backend.Admin      = (*EmbeddedDriver)(nil)
	_ backend.Router     = (*EmbeddedDriver)(nil)
	_ backend.Observable = (*EmbeddedDriver)(nil)
)

// NewDriver returns a new in-process client of the node. Each driver stands
// for one client process: closing it wakes only its own calls and leaves the
// node running.
func (n *Node) NewDriver() *EmbeddedDriver {
	d := &EmbeddedDriver{node: n}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d
}

// Node returns the node the driver calls.
func (d *EmbeddedDriver) Node() *Node { return d.node }

// Capabilities are the node's.
func (d *EmbeddedDriver) Capabilities() backend.Capabilities { return d.node.caps }

// SetObserver receives the driver's redirects to the leader.
func (d *EmbeddedDriver) SetObserver(o backend.Observer) {
	d.mu.Lock()
	d.observer = o
	d.mu.Unlock()
}

// LeaderAddress is the leader's client API address; "" when this node
// leads or no leader is known.
func (d *EmbeddedDriver) LeaderAddress() string {
	if d.node.IsLeader() {
		return d.node.apiAddr
	}
	return d.node.notLeader("").Leader
}

// Connected reports whether the node is up and a leader is known.
func (d *EmbeddedDriver) Connected() bool {
	if d.closed.Load() || d.node.closed.Load() {
		return false
	}
	_, id := d.node.raft.LeaderWithID()
	return id != ""
}

// Close wakes the calls blocked in the driver with CodeClosed and makes
// later calls fail with CodeClosed. It does not release the driver's locks.
// Closing twice returns nil.
func (d *EmbeddedDriver) Close() error {
	d.once.Do(func() {
		d.closed.Store(true)
		d.cancel()
		d.mu.Lock()
		fwd := d.fwd
		d.fwd = nil
		d.mu.Unlock()
		if fwd != nil {
			fwd.Close()
		}
		if d.onClose != nil {
			d.onClose()
		}
	})
	return nil
}

// do runs op on the local node, or on the leader's when the node sends it
// there, with a ctx that also ends when the driver closes.
func do[T any](d *EmbeddedDriver, ctx context.Context, lockID string,
	local func(context.Context) (T, error), remote func(context.Context, *RemoteDriver) (T, error)) (T, error) {
	var zero T
	if d.closed.Load() {
		return zero, driverClosed(lockID)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(d.ctx, cancel)
	defer stop()

	v, err := local(ctx)
	var e *backend.Error
	if err != nil && errors.As(err, &e) && e.Code == backend.CodeNotLeader && e.Leader != "" && remote != nil {
		var fwd *RemoteDriver
		if fwd, err = d.forwarder(ctx, e.Leader); err == nil {
			v, err = remote(ctx, fwd)
		}
	}
	if err != nil && d.closed.Load() {
		return zero, driverClosed(lockID)
	}
	return v, err
}

// forwarder returns the driver's connection to the leader at addr.
func (d *EmbeddedDriver) forwarder(ctx context.Context, addr string) (*RemoteDriver, error) {
	d.mu.Lock()
	if d.fwd != nil && d.fwdAddr == addr {
		fwd := d.fwd
		d.mu.Unlock()
		return fwd, nil
	}
	old, obs := d.fwd, d.observer
	d.fwd = nil
	d.mu.Unlock()
	if old != nil {
		old.Close()
	}
	fwd, err := d.node.dialPeer(ctx, addr)
	if err != nil {
		return nil, err
	}
	if obs != nil {
		obs.LeaderRedirect(d.node.apiAddr, addr)
		fwd.SetObserver(obs)
	}
	d.mu.Lock()
	if d.closed.Load() || d.fwd != nil {
		d.mu.Unlock()
		fwd.Close()
		return nil, driverClosed("")
	}
	d.fwd, d.fwdAddr = fwd, addr
	d.mu.Unlock()
	return fwd, nil
}

func driverClosed(lockID string) *backend.Error {
	return &backend.Error{Code: backend.CodeClosed, LockID: lockID, Message: "the embedded raft driver is closed"}
}

// Acquire: see Node.Acquire.
func (d *EmbeddedDriver) Acquire(ctx context.Context, req *backend.AcquireRequest) (*backend.AcquireResult, error) {
	if err := d.checkBinding(req); err != nil {
		return nil, err
	}
	return do(d, ctx, lockIDOf(req), func(ctx context.Context) (*backend.AcquireResult, error) {
		return d.node.Acquire(ctx, req)
	}, func(ctx context.Context, r *RemoteDriver) (*backend.AcquireResult, error) { return r.Acquire(ctx, req) })
}

// Release: see Node.Release.
func (d *EmbeddedDriver) Release(ctx context.Context, req *backend.ReleaseRequest) (*backend.ReleaseResult, error) {
	if err := d.checkBinding(req); err != nil {
		return nil, err
	}
	return do(d, ctx, lockIDOf(req), func(ctx context.Context) (*backend.ReleaseResult, error) {
		return d.node.Release(ctx, req)
	}, func(ctx context.Context, r *RemoteDriver) (*backend.ReleaseResult, error) { return r.Release(ctx, req) })
}

// Renew: see Node.Renew.
func (d *EmbeddedDriver) Renew(ctx context.Context, req *backend.RenewRequest) (*backend.Lock, error) {
	if err := d.checkBinding(req); err != nil {
		return nil, err
	}
	return do(d, ctx, lockIDOf(req), func(ctx context.Context) (*backend.Lock, error) {
		return d.node.Renew(ctx, req)
	}, func(ctx context.Context, r *RemoteDriver) (*backend.Lock, error) { return r.Renew(ctx, req) })
}

// Get: see Node.Get.
func (d *EmbeddedDriver) Get(ctx context.Context, req *backend.GetRequest) (*backend.LockInfo, error) {
	return do(d, ctx, lockIDOf(req), func(ctx context.Context) (*backend.LockInfo, error) {
		return d.node.Get(ctx, req)
	}, func(ctx context.Context, r *RemoteDriver) (*backend.LockInfo, error) { return r.Get(ctx, req) })
}

// List: see Node.List.
func (d *EmbeddedDriver) List(ctx context.Context, req *backend.ListRequest) (*backend.ListResult, error) {
	return do(d, ctx, "", func(ctx context.Context) (*backend.ListResult, error) {
		return d.node.List(ctx, req)
	}, func(ctx context.Context, r *RemoteDriver) (*backend.ListResult, error) { return r.List(ctx, req) })
}

// Enqueue: see Node.Enqueue.
func (d *EmbeddedDriver) Enqueue(ctx context.Context, req *backend.EnqueueRequest) (*backend.EnqueueResult, error) {
	if err := d.checkBinding(req); err != nil {
		return nil, err
	}
	return do(d, ctx, lockIDOf(req), func(ctx context.Context) (*backend.EnqueueResult, error) {
		return d.node.Enqueue(ctx, req)
	}, func(ctx context.Context, r *RemoteDriver) (*backend.EnqueueResult, error) { return r.Enqueue(ctx, req) })
}

// CancelWait: see Node.CancelWait.
func (d *EmbeddedDriver) CancelWait(ctx context.Context, req *backend.CancelWaitRequest) error {
	if err := d.checkBinding(req); err != nil {
		return err
	}
	_, err := do(d, ctx, lockIDOf(req), func(ctx context.Context) (struct{}, error) {
		return struct{}{}, d.node.CancelWait(ctx, req)
	}, func(ctx context.Context, r *RemoteDriver) (struct{}, error) {
		return struct{}{}, r.CancelWait(ctx, req)
	})
	return err
}

// Status describes the local node and, when it leads, its peers.
func (d *EmbeddedDriver) Status(ctx context.Context) (*backend.Status, error) {
	return do(d, ctx, "", d.node.Status, nil)
}

// Health reports whether the local node's cluster has a leader.
func (d *EmbeddedDriver) Health(ctx context.Context) (*backend.Health, error) {
	return do(d, ctx, "", d.node.Health, nil)
}

// BackoffAdvice: see Node.BackoffAdvice.
func (d *EmbeddedDriver) BackoffAdvice(ctx context.Context, lockID string) (*backend.BackoffAdvice, error) {
	return do(d, ctx, lockID, func(ctx context.Context) (*backend.BackoffAdvice, error) {
		return d.node.BackoffAdvice(ctx, lockID)
	}, nil)
}

// lockIDOf reads a request's lock ID for a closed-driver error; "" for a
// nil request, which the node rejects with CodeInvalidArgument.
func lockIDOf(req any) string {
	switch r := req.(type) {
	case *backend.AcquireRequest:
		if r != nil {
			return r.LockID
		}
	case *backend.ReleaseRequest:
		if r != nil {
			return r.LockID
		}
	case *backend.RenewRequest:
		if r != nil {
			return r.LockID
		}
	case *backend.GetRequest:
		if r != nil {
			return r.LockID
		}
	case *backend.EnqueueRequest:
		if r != nil {
			return r.LockID
		}
	case *backend.CancelWaitRequest:
		if r != nil {
			return r.LockID
		}
	}
	return ""
}
