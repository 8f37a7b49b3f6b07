package raftbackend

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/status"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/raftpb"
)

// Calls implements raftpb.RaftLockServer: the lock calls of one client
// connection over one stream (see raftlock.proto). Each Call runs in a
// goroutine of its own, as a unary call would, and its Reply goes back as
// soon as it is ready, whatever the order the calls came in.
//
// The handler returns when the client ends the stream or breaks it, and
// then only after every call on it has ended (their contexts are
// canceled). When the server stops, it stops reading, cancels the waiting
// Acquires (their waiters leave the queue first, as on the Acquire stream),
// lets the other calls finish and answer, and ends the stream with
// Unavailable: a call the client sent after that was never read, so the
// client may send it to another node.
func (s *lockService) Calls(stream raftpb.RaftLock_CallsServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	cs := &callStream{
		svc:      s,
		stream:   stream,
		ctx:      ctx,
		guard:    guardOf(stream.Context()),
		inflight: make(map[uint64]*servedCall),
	}
	readDone := make(chan error, 1)
	// The reader ends with the stream, which ends when this handler
	// returns, so it never outlives the handler by more than that.
	go func() { readDone <- cs.read() }()

	var err error
	select {
	case err = <-readDone:
		// The client ended or broke the stream: whatever is still running
		// has nobody to answer.
		cancel()
	case <-s.stopping.Done():
		err = statusError(backend.Errorf(backend.CodeUnavailable, "node is shutting down"))
	}
	cs.drain()
	return err
}

// callStream is the state of one Calls stream on the server.
type callStream struct {
	svc    *lockService
	stream raftpb.RaftLock_CallsServer
	ctx    context.Context // ends with the stream
	guard  *apiGuard       // nil: calls are not guarded

	sendMu sync.Mutex // one Send at a time

	mu       sync.Mutex
	inflight map[uint64]*servedCall
	draining bool           // no new calls start
	running  sync.WaitGroup // Add only under mu while not draining
}

// servedCall is one call in flight: what its cancel, or the server's
// stop, ends.
type servedCall struct {
	cancel context.CancelFunc
	wait   bool // a waiting Acquire, which the server's stop ends
}

// read receives calls until the stream ends and starts each; it returns
// nil when the client ended the stream and the stream's error when it broke.
func (cs *callStream) read() error {
	for {
		c, err := cs.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if c.GetCancel() != nil {
			cs.cancel(c.GetId())
			continue
		}
		if !cs.start(c) {
			return nil
		}
	}
}

// start runs call c in a goroutine of its own; false once the stream
// drains, when c is not run.
func (cs *callStream) start(c *raftpb.Call) bool {
	id := c.GetId()
	wait := c.GetAcquire().GetWait()
	// The caller's deadline bounds the call here as it does there; for a
	// waiting Acquire the node also records it as the waiter's timeout.
	// When it passes, the node ends the wait as a cancel would (the
	// waiter leaves the queue first), and the client, which sent its
	// cancel at the same moment, hears that answer.
	var ctx context.Context
	var cancel context.CancelFunc
	if d := c.GetTimeoutNanos(); d > 0 {
		ctx, cancel = context.WithTimeout(cs.ctx, time.Duration(d))
	} else {
		ctx, cancel = context.WithCancel(cs.ctx)
	}

	cs.mu.Lock()
	if cs.draining {
		cs.mu.Unlock()
		cancel()
		return false
	}
	if old := cs.inflight[id]; old != nil {
		// A client bug: two calls in flight under one id could not be told
		// apart. The new one is refused; the old one goes on.
		cs.mu.Unlock()
		cancel()
		cs.reply(&raftpb.Reply{Id: id, Result: &raftpb.Reply_Error{Error: callErrorOf(statusError(
			backend.Errorf(backend.CodeInvalidArgument, "call id %d is already in flight on this stream", id)))}})
		return true
	}
	cs.inflight[id] = &servedCall{cancel: cancel, wait: wait}
	cs.running.Add(1)
	cs.mu.Unlock()

	go func() {
		defer cs.running.Done()
		r := cs.serve(ctx, c)
		cs.mu.Lock()
		delete(cs.inflight, id)
		cs.mu.Unlock()
		cancel()
		sent := cs.reply(r)
		if res := r.GetAcquire(); !sent && res.GetWaited() {
			cs.svc.releaseUndelivered(cs.stream.Context(), acquireResultFromPB(res))
		}
	}()
	return true
}

// cancel ends call id, if it is still running. An unknown id is a call
// that has already answered.
func (cs *callStream) cancel(id uint64) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c := cs.inflight[id]; c != nil {
		c.cancel()
	}
}

// drain stops new calls, ends the waiting Acquires (the stream's end has
// already ended every call) and waits for the calls to answer.
func (cs *callStream) drain() {
	cs.mu.Lock()
	cs.draining = true
	for _, c := range cs.inflight {
		if c.wait {
			c.cancel()
		}
	}
	cs.mu.Unlock()
	cs.running.Wait()
}

// serve runs one call and returns its Reply.
func (cs *callStream) serve(ctx context.Context, c *raftpb.Call) *raftpb.Reply {
	r := &raftpb.Reply{Id: c.GetId()}
	var err error
	if err = cs.admit(ctx, c); err == nil {
		switch op := c.GetOp().(type) {
		case *raftpb.Call_Acquire:
			var res *backend.AcquireResult
			if res, err = cs.svc.acquire(ctx, "Acquire", op.Acquire); err == nil {
				r.Result = &raftpb.Reply_Acquire{Acquire: acquireResultToPB(res)}
			}
		case *raftpb.Call_Release:
			var res *raftpb.ReleaseResponse
			if res, err = cs.svc.Release(ctx, op.Release); err == nil {
				r.Result = &raftpb.Reply_Release{Release: res}
			}
		case *raftpb.Call_Renew:
			var res *raftpb.Lock
			if res, err = cs.svc.Renew(ctx, op.Renew); err == nil {
				r.Result = &raftpb.Reply_Renew{Renew: res}
			}
		case *raftpb.Call_GetLockInfo:
			var res *raftpb.LockInfo
			if res, err = cs.svc.GetLockInfo(ctx, op.GetLockInfo); err == nil {
				r.Result = &raftpb.Reply_LockInfo{LockInfo: res}
			}
		default:
			// An empty call, or one of a kind a newer client sends.
			err = statusError(backend.Errorf(backend.CodeNotSupported, "call %d: this node does not know its kind", c.GetId()))
		}
	}
	if err != nil {
		r.Result = &raftpb.Reply_Error{Error: callErrorOf(err)}
	}
	return r
}

// admit applies the server's guard, if any, to the request c carries,
// as its interceptors do to a unary call.
func (cs *callStream) admit(ctx context.Context, c *raftpb.Call) error {
	if cs.guard == nil {
		return nil
	}
	var req any
	switch op := c.GetOp().(type) {
	case *raftpb.Call_Acquire:
		req = op.Acquire
	case *raftpb.Call_Release:
		req = op.Release
	case *raftpb.Call_Renew:
		req = op.Renew
	case *raftpb.Call_GetLockInfo:
		req = op.GetLockInfo
	default:
		return nil // refused by serve
	}
	return cs.guard.admit(ctx, req)
}

// reply sends r; false when the stream can no longer carry it.
func (cs *callStream) reply(r *raftpb.Reply) bool {
	cs.sendMu.Lock()
	defer cs.sendMu.Unlock()
	return cs.stream.Send(r) == nil
}

// callErrorOf is the CallError that carries the status error err.
func callErrorOf(err error) *raftpb.CallError {
	st := status.Convert(err)
	return &raftpb.CallError{GrpcCode: uint32(st.Code()), Message: st.Message(), Detail: errorDetailOf(st)}
}
