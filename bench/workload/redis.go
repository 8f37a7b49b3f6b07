package workload

import (
	"context"
	"time"

	"github.com/bsm/redislock"
	"github.com/go-redsync/redsync/v4"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	"github.com/redis/go-redis/v9"

	"github.com/raftlock/raftlock/bench/servers"
)

// The peers wait for a taken lock the way their users would configure them
// to: redsync with its default retry delays and enough tries never to give
// up here, redislock with a 10 ms linear backoff.
const (
	redsyncTries   = 1 << 20
	redislockRetry = 10 * time.Millisecond
)

// redisClients opens clients clients on srv, each with a connection pool
// of its own, which c's Close closes.
func redisClients(c *Contender, srv *servers.Cluster, clients int) []*redis.Client {
	rdb := make([]*redis.Client, clients)
	for i := range rdb {
		rdb[i] = redis.NewClient(&redis.Options{Addr: srv.Addrs[0]})
		c.OnClose(rdb[i].Close)
	}
	return rdb
}

// Redsync is go-redsync/redsync on the redis-server srv, with clients
// clients.
func Redsync(_ context.Context, srv *servers.Cluster, clients int) (*Contender, error) {
	const prefix = "bench:redsync:"
	c := &Contender{Name: "redsync", Servers: srv, ListHow: "SCAN"}
	rdb := redisClients(c, srv, clients)
	syncs := make([]*redsync.Redsync, clients)
	for i := range syncs {
		syncs[i] = redsync.New(goredis.NewPool(rdb[i]))
	}
	lock := func(ctx context.Context, i int, key string, opts ...redsync.Option) (Release, error) {
		m := syncs[i].NewMutex(prefix+key, append(opts, redsync.WithExpiry(TTL))...)
		if err := m.LockContext(ctx); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { _, err := m.UnlockContext(ctx); return err }, nil
	}
	c.Hold = func(ctx context.Context, i int, key string) (Release, error) {
		return lock(ctx, i, key, redsync.WithTries(redsyncTries))
	}
	c.Take = func(ctx context.Context, i int, key string) (Release, error) { return lock(ctx, i, key) }
	c.Pair = pairOf(c.Take)
	c.List = func(ctx context.Context, p string) (int, error) { return scan(ctx, rdb[0], prefix+p) }
	return c, nil
}

// Redislock is bsm/redislock on the redis-server srv, with clients
// clients.
func Redislock(_ context.Context, srv *servers.Cluster, clients int) (*Contender, error) {
	const prefix = "bench:redislock:"
	c := &Contender{Name: "redislock", Servers: srv, ListHow: "SCAN"}
	rdb := redisClients(c, srv, clients)
	lockers := make([]*redislock.Client, clients)
	for i := range lockers {
		lockers[i] = redislock.New(rdb[i])
	}
	obtain := func(ctx context.Context, i int, key string, opt *redislock.Options) (Release, error) {
		l, err := lockers[i].Obtain(ctx, prefix+key, TTL, opt)
		if err != nil {
			return nil, err
		}
		return l.Release, nil
	}
	c.Hold = func(ctx context.Context, i int, key string) (Release, error) {
		return obtain(ctx, i, key, &redislock.Options{RetryStrategy: redislock.LinearBackoff(redislockRetry)})
	}
	c.Take = func(ctx context.Context, i int, key string) (Release, error) { return obtain(ctx, i, key, nil) }
	c.Pair = pairOf(c.Take)
	c.List = func(ctx context.Context, p string) (int, error) { return scan(ctx, rdb[0], prefix+p) }
	return c, nil
}

// scan counts the keys that start with prefix, with SCAN: how a Redis lock
// library's locks are listed, as none of them can.
func scan(ctx context.Context, rdb *redis.Client, prefix string) (int, error) {
	n := 0
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, prefix+"*", 1000).Result()
		if err != nil {
			return n, err
		}
		n += len(keys)
		if cursor = next; cursor == 0 {
			return n, nil
		}
	}
}
