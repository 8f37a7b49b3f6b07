package etcdbackend

import (
	"context"
	"errors"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// keeper sends one-off lease keep-alives over one long-lived stream.
//
// clientv3's KeepAliveOnce opens a gRPC stream for every keep-alive, and
// the driver sends one with every Acquire that takes a stocked lease: the
// stream's set-up and tear-down, on both sides, cost more than the
// keep-alive itself. etcd answers the requests of one stream in the order
// it received them, so the keeper matches each answer to the oldest
// request waiting on the same lease. A request whose caller gave up keeps
// its place in that queue, so that a later request is never answered with
// an earlier one's renewal: the later caller counts its lease from its own
// send.
type keeper struct {
	lease pb.LeaseClient

	mu      sync.Mutex
	closed  bool
	stream  pb.Lease_LeaseKeepAliveClient // nil until needed, and after a failure
	cancel  context.CancelFunc            // ends stream
	waiting map[int64][]chan keepResult   // by lease ID, oldest first
	recv    sync.WaitGroup                // the receiving goroutine
}

// keepResult is the answer to one keep-alive: the lease's new TTL in
// seconds, or why there is none.
type keepResult struct {
	ttl int64
	err error
}

// errKeeperClosed is the failure of keep-alives sent after close.
var errKeeperClosed = errors.New("etcd driver is closed")

func newKeeper(cli *clientv3.Client) *keeper {
	return &keeper{lease: clientv3.RetryLeaseClient(cli), waiting: make(map[int64][]chan keepResult)}
}

// keepAlive renews lease id once and returns its TTL in seconds; a lease
// that is gone fails with rpctypes.ErrLeaseNotFound, as with
// clientv3's KeepAliveOnce.
func (k *keeper) keepAlive(ctx context.Context, id clientv3.LeaseID) (int64, error) {
	done := make(chan keepResult, 1)
	if err := k.send(int64(id), done); err != nil {
		return 0, err
	}
	select {
	case r := <-done:
		return r.ttl, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// send queues done for lease id and sends the request, opening the stream
// when there is none.
func (k *keeper) send(id int64, done chan keepResult) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return errKeeperClosed
	}
	if k.stream == nil {
		// The stream needs a leader, as clientv3's own keep-alives do, so
		// that a partitioned member fails the request rather than hold it.
		ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(context.Background()))
		stream, err := k.lease.LeaseKeepAlive(ctx)
		if err != nil {
			cancel()
			return err
		}
		k.stream, k.cancel = stream, cancel
		k.recv.Add(1)
		go k.receive(stream)
	}
	k.waiting[id] = append(k.waiting[id], done)
	if err := k.stream.Send(&pb.LeaseKeepAliveRequest{ID: id}); err != nil {
		k.failLocked(k.stream, err)
		return err
	}
	return nil
}

// receive hands each answer of stream to the oldest request on its lease,
// until the stream fails.
func (k *keeper) receive(stream pb.Lease_LeaseKeepAliveClient) {
	defer k.recv.Done()
	for {
		resp, err := stream.Recv()
		k.mu.Lock()
		if err != nil {
			k.failLocked(stream, err)
			k.mu.Unlock()
			return
		}
		q := k.waiting[resp.ID]
		if len(q) == 0 {
			k.mu.Unlock()
			continue // not ours to answer; cannot happen on a stream of our own
		}
		done := q[0]
		if len(q) == 1 {
			delete(k.waiting, resp.ID)
		} else {
			k.waiting[resp.ID] = q[1:]
		}
		k.mu.Unlock()
		r := keepResult{ttl: resp.TTL}
		if resp.TTL <= 0 {
			r.err = rpctypes.ErrLeaseNotFound
		}
		done <- r
	}
}

// failLocked ends stream, if it is still the current one, and fails every
// request waiting on it; the next keep-alive opens a new stream.
func (k *keeper) failLocked(stream pb.Lease_LeaseKeepAliveClient, err error) {
	if k.stream != stream {
		return
	}
	k.cancel()
	k.stream, k.cancel = nil, nil
	for id, q := range k.waiting {
		for _, done := range q {
			done <- keepResult{err: err}
		}
		delete(k.waiting, id)
	}
}

// close ends the stream, fails what waits on it, and returns once the
// receiving goroutine has ended.
func (k *keeper) close() {
	k.mu.Lock()
	k.closed = true
	if k.stream != nil {
		k.failLocked(k.stream, errKeeperClosed)
	}
	k.mu.Unlock()
	k.recv.Wait()
}
