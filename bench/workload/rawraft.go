package workload

import (
	"context"
	"sync"

	"github.com/raftlock/raftlock/bench/servers"
)

// RawRaft is the ceiling of a lock store on hashicorp/raft: the raw raft
// cluster srv, with clients clients, each with a connection of its own to
// the leader, every lock operation one command in a log entry of its own
// and nothing else.
//
//   - A pair is two commands, as a lock and an unlock are.
//   - A burst takes each lock with one command.
//   - Taking turns on one lock, the waiters queue in this process, in
//     order, at no cost, and each hand-off is the one command that a
//     replicated lock needs at the least: a store that hands the lock to
//     the next waiter in the entry that releases it (as raftlock's does)
//     can at best match it.
//   - Listing is one linearizable read of the keys on the leader.
func RawRaft(ctx context.Context, srv *servers.Cluster, clients int) (*Contender, error) {
	c := &Contender{Name: "raw raft Apply", Servers: srv, ListHow: "read of the keys"}
	leader, err := srv.Leader(ctx)
	if err != nil {
		return nil, err
	}
	conns := make([]*servers.RawRaftClient, clients)
	for i := range conns {
		if conns[i], err = servers.DialRawRaft(srv.Addrs[leader]); err != nil {
			c.Close()
			return nil, err
		}
		c.OnClose(conns[i].Close)
	}
	c.Pair = func(ctx context.Context, i int, key string) error {
		if err := conns[i].Put(ctx, key); err != nil {
			return err
		}
		return conns[i].Delete(ctx, key)
	}
	c.Take = func(ctx context.Context, i int, key string) (Release, error) {
		if err := conns[i].Put(ctx, key); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return conns[i].Delete(ctx, key) }, nil
	}
	var queues fifoLocks
	c.Hold = func(ctx context.Context, i int, key string) (Release, error) {
		q := queues.get(key)
		// Blocked senders on a channel are served in the order they came.
		select {
		case q <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return func(ctx context.Context) error {
			err := conns[i].Put(ctx, key) // the hand-off's command
			<-q
			return err
		}, nil
	}
	c.List = func(ctx context.Context, prefix string) (int, error) {
		keys, err := conns[0].List(ctx, prefix)
		return len(keys), err
	}
	return c, nil
}

// fifoLocks are in-process FIFO locks by key: a channel with room for one,
// taken by sending to it.
type fifoLocks struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

func (f *fifoLocks) get(key string) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = make(map[string]chan struct{})
	}
	q, ok := f.m[key]
	if !ok {
		q = make(chan struct{}, 1)
		f.m[key] = q
	}
	return q
}
