package workload

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/bench/servers"

	// The stores raftlock's contenders open, by URL.
	_ "github.com/raftlock/raftlock/etcdbackend"
	_ "github.com/raftlock/raftlock/raftbackend"
	_ "github.com/raftlock/raftlock/redisbackend"
)

// TTL is the lease every contender takes its locks with: long enough that
// none expires during a run, the failover included.
const TTL = 10 * time.Second

// Raftlock is raftlock's client on the store cfg names (cfg.URL: raft://,
// etcd://, redis://), with clients clients, each a Client of its own and a
// client ID of its own. srv is that store's servers. The lock IDs are the
// workloads' keys as they are; the stores' own URL parameters keep them
// apart from the peers' keys.
func Raftlock(ctx context.Context, cfg raftlock.Config, clients int, srv *servers.Cluster) (*Contender, error) {
	c := &Contender{Name: "raftlock", Servers: srv, ListHow: "GetLocks"}
	stores := make([]*raftlock.Client, clients)
	ids := make([]string, clients)
	for i := range clients {
		cl, err := raftlock.OpenConfig(ctx, cfg)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.OnClose(cl.Close)
		stores[i], ids[i] = cl, raftlock.NewClientID()
	}
	acquire := func(ctx context.Context, i int, key string, wait bool) (Release, error) {
		r, err := stores[i].Acquire(ctx, &raftlock.AcquireRequest{LockID: key, ClientID: ids[i], TTL: TTL, Wait: wait})
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			_, err := stores[i].Release(ctx, &raftlock.ReleaseRequest{LockID: key, ClientID: ids[i], Version: r.Version})
			return err
		}, nil
	}
	c.Hold = func(ctx context.Context, i int, key string) (Release, error) { return acquire(ctx, i, key, true) }
	c.Take = func(ctx context.Context, i int, key string) (Release, error) { return acquire(ctx, i, key, false) }
	c.Pair = pairOf(c.Take)
	c.List = func(ctx context.Context, prefix string) (int, error) {
		n := 0
		req := &raftlock.GetLocksRequest{Filter: raftlock.LockFilter{Pattern: prefix + "*"}, Limit: backend.MaxPageSize}
		for {
			page, err := stores[0].GetLocks(ctx, req)
			if err != nil {
				return n, err
			}
			n += len(page.Locks)
			if page.NextCursor == "" {
				return n, nil
			}
			req.Cursor = page.NextCursor
		}
	}
	return c, nil
}

// RaftURL is the raft:// URL of a raftlock cluster: every node's address,
// as an application would list them.
func RaftURL(srv *servers.Cluster) string {
	return "raft://" + strings.Join(srv.Addrs, ",")
}

// EtcdURL is the etcd:// URL of raftlock's etcd store on an etcd cluster,
// with a key prefix of its own.
func EtcdURL(srv *servers.Cluster) string {
	return "etcd://" + strings.Join(srv.Addrs, ",") + "?prefix=/bench/raftlock/"
}

// RedisURL is the redis:// URL of raftlock's Redis store on a
// redis-server, with a key prefix of its own.
func RedisURL(srv *servers.Cluster) string {
	return fmt.Sprintf("redis://%s/0?prefix=bench", srv.Addrs[0])
}
