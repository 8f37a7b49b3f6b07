package workload

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/raftlock/raftlock/bench/servers"
)

// mutexPrefix is where the etcd Mutex peer keeps its keys.
const mutexPrefix = "/bench/mutex/"

// EtcdMutex is etcd's own concurrency.Mutex on the etcd cluster srv, with
// clients clients, each with a connection to every member and a session
// (a lease kept alive) of its own, as an application would use it.
func EtcdMutex(ctx context.Context, srv *servers.Cluster, clients int) (*Contender, error) {
	c := &Contender{Name: "etcd Mutex", Servers: srv, ListHow: "Get with prefix"}
	sessions := make([]*concurrency.Session, clients)
	var first *clientv3.Client
	for i := range clients {
		cli, err := clientv3.New(clientv3.Config{
			Endpoints: srv.Addrs, DialTimeout: 5 * time.Second, Context: ctx,
			Logger: zap.NewNop(), // its warnings during a failover are expected
		})
		if err != nil {
			c.Close()
			return nil, err
		}
		c.OnClose(cli.Close)
		s, err := concurrency.NewSession(cli, concurrency.WithTTL(int(TTL/time.Second)))
		if err != nil {
			c.Close()
			return nil, err
		}
		c.OnClose(s.Close)
		sessions[i] = s
		if first == nil {
			first = cli
		}
	}
	c.Hold = func(ctx context.Context, i int, key string) (Release, error) {
		m := concurrency.NewMutex(sessions[i], mutexPrefix+key)
		if err := m.Lock(ctx); err != nil {
			return nil, err
		}
		return m.Unlock, nil
	}
	c.Pair = pairOf(c.Hold)
	// A Mutex has no listing; its keys, one per holder or waiter, are read
	// with one Get of their prefix.
	c.List = func(ctx context.Context, prefix string) (int, error) {
		r, err := first.Get(ctx, mutexPrefix+prefix, clientv3.WithPrefix())
		if err != nil {
			return 0, err
		}
		return len(r.Kvs), nil
	}
	return c, nil
}
