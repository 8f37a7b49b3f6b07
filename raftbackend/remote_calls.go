package raftbackend

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/raftpb"
)

// errNoCalls says that a node does not serve the Calls stream (a node of
// an older release): the call goes as a unary call instead.
var errNoCalls = errors.New("node has no Calls stream")

// lateReleaseTimeout bounds the Release the driver sends for a waited
// grant that came after its caller had given up (see callMux.deliver).
const lateReleaseTimeout = 5 * time.Second

// nodeClient is the client of one node: the generated gRPC client, whose
// lock calls go over the connection's Calls stream instead of a stream of
// their own each. A unary call costs a new HTTP/2 stream, its headers and
// trailers each way; on the shared stream a call is one small message each
// way. On a loopback, a unary round trip costs gRPC about twice the CPU of
// a message round trip on an open stream, and the Raft store's lock calls
// are small enough for that to be most of their cost.
type nodeClient struct {
	raftpb.RaftLockClient
	mux *callMux
}

// TryAcquire sends a non-waiting Acquire over the Calls stream.
func (c *nodeClient) TryAcquire(ctx context.Context, in *raftpb.AcquireRequest, opts ...grpc.CallOption) (*raftpb.AcquireResponse, error) {
	return muxCall(ctx, c.mux, &raftpb.Call{Op: &raftpb.Call_Acquire{Acquire: in}}, (*raftpb.Reply).GetAcquire,
		func() (*raftpb.AcquireResponse, error) { return c.RaftLockClient.TryAcquire(ctx, in, opts...) })
}

// Release sends a Release over the Calls stream.
func (c *nodeClient) Release(ctx context.Context, in *raftpb.ReleaseRequest, opts ...grpc.CallOption) (*raftpb.ReleaseResponse, error) {
	return muxCall(ctx, c.mux, &raftpb.Call{Op: &raftpb.Call_Release{Release: in}}, (*raftpb.Reply).GetRelease,
		func() (*raftpb.ReleaseResponse, error) { return c.RaftLockClient.Release(ctx, in, opts...) })
}

// Renew sends a Renew over the Calls stream.
func (c *nodeClient) Renew(ctx context.Context, in *raftpb.RenewRequest, opts ...grpc.CallOption) (*raftpb.Lock, error) {
	return muxCall(ctx, c.mux, &raftpb.Call{Op: &raftpb.Call_Renew{Renew: in}}, (*raftpb.Reply).GetRenew,
		func() (*raftpb.Lock, error) { return c.RaftLockClient.Renew(ctx, in, opts...) })
}

// GetLockInfo sends a GetLockInfo over the Calls stream.
func (c *nodeClient) GetLockInfo(ctx context.Context, in *raftpb.GetLockInfoRequest, opts ...grpc.CallOption) (*raftpb.LockInfo, error) {
	return muxCall(ctx, c.mux, &raftpb.Call{Op: &raftpb.Call_GetLockInfo{GetLockInfo: in}}, (*raftpb.Reply).GetLockInfo,
		func() (*raftpb.LockInfo, error) { return c.RaftLockClient.GetLockInfo(ctx, in, opts...) })
}

// waitAcquire sends a waiting Acquire over the Calls stream, with the
// Acquire stream's promise: when ctx ends, the driver cancels the call and
// waits up to grace for the node's answer, which comes once the waiter has
// left the queue (or is the grant, if the grant won the race). ok is false
// when the node has no Calls stream.
func (c *nodeClient) waitAcquire(ctx context.Context, in *raftpb.AcquireRequest, grace time.Duration) (res *raftpb.AcquireResponse, ok bool, err error) {
	r, err := c.mux.do(ctx, &raftpb.Call{Op: &raftpb.Call_Acquire{Acquire: in}}, grace)
	if errors.Is(err, errNoCalls) {
		return nil, false, nil
	}
	res, err = replyResult(r, err, (*raftpb.Reply).GetAcquire)
	return res, true, err
}

// muxCall sends call over m and picks its result out of the Reply, or
// makes the call with unary when the node has no Calls stream.
func muxCall[T comparable](ctx context.Context, m *callMux, call *raftpb.Call, pick func(*raftpb.Reply) T, unary func() (T, error)) (T, error) {
	r, err := m.do(ctx, call, 0)
	if errors.Is(err, errNoCalls) {
		return unary()
	}
	return replyResult(r, err, pick)
}

// replyResult turns a Reply into the result a unary call would have
// returned: pick's result, or the status error the Reply carries.
func replyResult[T comparable](r *raftpb.Reply, err error, pick func(*raftpb.Reply) T) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	if e := r.GetError(); e != nil {
		return zero, callErrorToStatus(e)
	}
	res := pick(r)
	if res == zero {
		return zero, statusError(backend.Errorf(backend.CodeInternal, "call %d: the node answered with a reply of another kind", r.GetId()))
	}
	return res, nil
}

// callErrorToStatus is the error a unary call would have returned for the
// status e carries. With an ErrorDetail that is the *backend.Error it
// stands for, which errorFromStatus takes as it is.
func callErrorToStatus(e *raftpb.CallError) error {
	if d := e.GetDetail(); d != nil {
		return errorFromDetail(d)
	}
	return status.Error(codes.Code(e.GetGrpcCode()), e.GetMessage())
}

// callMux is a connection's Calls stream: opened by the first call, and
// again by the first call after it breaks. Calls on it go concurrently; a
// receiver goroutine hands each Reply to the call with its id.
type callMux struct {
	client raftpb.RaftLockClient

	mu      sync.Mutex
	cur     *muxStream    // the open stream; nil: none
	opening chan struct{} // closed when the open in progress ends; nil: none
	noCalls bool          // the node said it has no Calls stream
	closed  bool

	work sync.WaitGroup // receivers and late releases
}

// muxStream is one Calls stream and its calls in flight.
type muxStream struct {
	stream raftpb.RaftLock_CallsClient
	end    context.CancelFunc // resets the stream

	sendMu sync.Mutex // one Send at a time

	mu        sync.Mutex
	next      uint64 // the last id given out
	pending   map[uint64]chan *raftpb.Reply
	abandoned map[uint64]bool // waiting Acquires given up without an answer
	err       error           // why the stream broke; nil while it works
	broken    chan struct{}   // closed when err is set
}

func newCallMux(client raftpb.RaftLockClient) *callMux {
	return &callMux{client: client}
}

// do sends call and returns its Reply. call's id and timeout (ctx's
// deadline) are set here.
// With grace 0, ctx ending ends the call at once (the node hears a cancel
// and stops working on it). With grace > 0 (a waiting Acquire), ctx ending
// sends the cancel and waits up to grace for the node's answer; if none
// comes, a grant that comes later is released. It returns errNoCalls when
// the node has no Calls stream, having sent nothing it served.
func (m *callMux) do(ctx context.Context, call *raftpb.Call, grace time.Duration) (*raftpb.Reply, error) {
	s, err := m.stream(ctx)
	if err != nil {
		return nil, err
	}
	id, ch, err := s.register()
	if err != nil {
		return nil, m.streamError(s, err)
	}
	call.Id = id
	if dl, ok := ctx.Deadline(); ok {
		// A waiting Acquire sends it too: its node records it as the
		// waiter's timeout, so that the waiter leaves the queue on time
		// even if the node dies with the call.
		call.TimeoutNanos = max(int64(time.Until(dl)), 1)
	}
	if err := s.send(call); err != nil {
		s.forget(id)
		return nil, m.streamError(s, err)
	}

	select {
	case r := <-ch:
		return r, nil
	case <-s.broken:
		return m.answerOrBroken(s, id, ch)
	case <-ctx.Done():
	}
	_ = s.send(&raftpb.Call{Id: id, Op: &raftpb.Call_Cancel{Cancel: &raftpb.CallCancel{}}})
	if grace <= 0 {
		s.forget(id)
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case r := <-ch:
		return r, nil
	case <-s.broken:
		return m.answerOrBroken(s, id, ch)
	case <-t.C:
		s.abandon(id)
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// answerOrBroken is the end of call id on a stream that broke: its
// answer, if it came first, else the stream's error.
func (m *callMux) answerOrBroken(s *muxStream, id uint64, ch chan *raftpb.Reply) (*raftpb.Reply, error) {
	select {
	case r := <-ch:
		return r, nil
	default:
	}
	s.forget(id)
	return nil, m.streamError(s, s.err)
}

// streamError is what a call on broken stream s fails with: errNoCalls for
// a node without the Calls stream (the call was never served), else the
// stream's status.
func (m *callMux) streamError(s *muxStream, err error) error {
	if status.Code(err) != codes.Unimplemented {
		return err
	}
	m.mu.Lock()
	m.noCalls = true
	m.mu.Unlock()
	return errNoCalls
}

// stream returns the open stream, opening one if there is none. Concurrent
// callers share one open; each waits for it only as long as its own ctx
// lets it.
func (m *callMux) stream(ctx context.Context) (*muxStream, error) {
	for {
		m.mu.Lock()
		switch {
		case m.closed:
			m.mu.Unlock()
			return nil, status.Error(codes.Canceled, "raft store driver closed")
		case m.noCalls:
			m.mu.Unlock()
			return nil, errNoCalls
		case m.cur != nil && !m.cur.isBroken():
			s := m.cur
			m.mu.Unlock()
			return s, nil
		case m.opening != nil:
			opening := m.opening
			m.mu.Unlock()
			select {
			case <-opening:
				continue
			case <-ctx.Done():
				return nil, status.FromContextError(ctx.Err()).Err()
			}
		}
		opening := make(chan struct{})
		m.opening = opening
		m.mu.Unlock()

		s, err := m.open(ctx)
		m.mu.Lock()
		m.opening = nil
		if err == nil {
			if m.closed {
				s.end()
				err = status.Error(codes.Canceled, "raft store driver closed")
			} else {
				m.cur = s
				m.work.Add(1)
				go m.receive(s)
			}
		}
		m.mu.Unlock()
		close(opening)
		return s, err
	}
}

// open starts a Calls stream. The stream outlives ctx, which bounds only
// the wait for the connection.
func (m *callMux) open(ctx context.Context) (*muxStream, error) {
	sctx, end := context.WithCancel(context.Background())
	early := context.AfterFunc(ctx, end)
	stream, err := m.client.Calls(sctx)
	if !early() {
		end()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if err != nil {
		end()
		return nil, err
	}
	return &muxStream{
		stream:    stream,
		end:       end,
		pending:   make(map[uint64]chan *raftpb.Reply),
		abandoned: make(map[uint64]bool),
		broken:    make(chan struct{}),
	}, nil
}

// receive hands the replies on s to their calls until s breaks.
func (m *callMux) receive(s *muxStream) {
	defer m.work.Done()
	for {
		r, err := s.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = status.Error(codes.Unavailable, "the node ended the Calls stream")
			}
			s.fail(err)
			return
		}
		if s.deliver(r) {
			m.releaseLate(r.GetAcquire().GetLock())
		}
	}
}

// releaseLate releases a waited grant whose caller had given up before it
// came, so that it does not stay held until its TTL runs out.
func (m *callMux) releaseLate(l *raftpb.Lock) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.work.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.work.Done()
		ctx, cancel := context.WithTimeout(context.Background(), lateReleaseTimeout)
		defer cancel()
		req := &raftpb.ReleaseRequest{LockId: l.GetLockId(), ClientId: l.GetOwner(), Version: l.GetVersion()}
		_, _ = m.do(ctx, &raftpb.Call{Op: &raftpb.Call_Release{Release: req}}, 0)
	}()
}

// close resets the open stream, if any, and waits for its receiver and
// for late releases. The driver calls it once no call is in flight.
func (m *callMux) close() {
	m.mu.Lock()
	m.closed = true
	s := m.cur
	m.cur = nil
	m.mu.Unlock()
	if s != nil {
		s.end()
	}
	m.work.Wait()
}

// register gives a new call an id and the channel its Reply comes on.
func (s *muxStream) register() (uint64, chan *raftpb.Reply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, nil, s.err
	}
	s.next++
	ch := make(chan *raftpb.Reply, 1)
	s.pending[s.next] = ch
	return s.next, ch, nil
}

// forget drops call id: its Reply, if one comes, is dropped too.
func (s *muxStream) forget(id uint64) {
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
}

// abandon drops waiting Acquire id, whose caller gave up without an
// answer: if its Reply comes and is a grant, the grant is released.
func (s *muxStream) abandon(id uint64) {
	s.mu.Lock()
	if _, ok := s.pending[id]; ok {
		delete(s.pending, id)
		s.abandoned[id] = true
	}
	s.mu.Unlock()
}

// deliver hands r to its call; it reports whether r is a waited grant
// that nobody will take, which the caller then releases.
func (s *muxStream) deliver(r *raftpb.Reply) (releaseIt bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.GetId()
	if ch, ok := s.pending[id]; ok {
		delete(s.pending, id)
		ch <- r // buffered for one, and only this Reply is sent on it
		return false
	}
	if s.abandoned[id] {
		delete(s.abandoned, id)
		return r.GetAcquire().GetWaited()
	}
	return false // a call whose caller gave up; its node has stopped
}

// send sends c on the stream.
func (s *muxStream) send(c *raftpb.Call) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	err := s.stream.Send(c)
	if errors.Is(err, io.EOF) {
		// The stream broke; Recv has the reason.
		<-s.broken
		return s.err
	}
	return err
}

// fail marks the stream broken with err. Calls in flight see it at once.
// A waited grant whose answer the stream dropped is the node's to release
// (its Send fails).
func (s *muxStream) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
		close(s.broken)
	}
	s.end()
}

func (s *muxStream) isBroken() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err != nil
}
