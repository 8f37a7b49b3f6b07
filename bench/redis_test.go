package bench

import (
	"errors"
	"testing"

	"github.com/raftlock/raftlock/bench/servers"
	"github.com/raftlock/raftlock/bench/workload"
)

// BenchmarkRedis compares raftlock's Redis store with go-redsync/redsync
// and bsm/redislock on one redis-server: each of up to 16 clients has its
// own connection pool. The peers retry a taken lock the way their users
// would configure them to wait (see workload.Redsync and
// workload.Redislock).
func BenchmarkRedis(b *testing.B) {
	ctx := b.Context()
	srv, err := servers.StartRedis(ctx)
	if errors.Is(err, servers.ErrNoRedis) {
		b.Skip("no redis-server on PATH; install it to compare the Redis store")
	}
	srv = started(b, srv, err)
	store, err := workload.Raftlock(ctx, config(workload.RedisURL(srv)), clients, srv)
	store = opened(b, store, err)
	rs, err := workload.Redsync(ctx, srv, clients)
	rs = opened(b, rs, err)
	rl, err := workload.Redislock(ctx, srv, clients)
	rl = opened(b, rl, err)
	for _, w := range steady() {
		b.Run(w.Name, func(b *testing.B) { compare(b, w, store, rs, rl) })
	}
}
