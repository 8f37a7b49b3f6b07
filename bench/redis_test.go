package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bsm/redislock"
	"github.com/go-redsync/redsync/v4"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	"github.com/redis/go-redis/v9"

	"github.com/raftlock/raftlock"
	_ "github.com/raftlock/raftlock/redisbackend"
)

// BenchmarkRedis compares raftlock's Redis store with go-redsync/redsync
// and bsm/redislock on one redis-server: each of up to 16 clients has its
// own connection pool. The peers retry a taken lock the way their users
// would configure them to wait: redsync with its default retry delays and
// enough tries never to give up here, redislock with a 10 ms linear
// backoff.
func BenchmarkRedis(b *testing.B) {
	addr := startRedis(b)
	ctx := context.Background()
	const clients = 16
	const ttl = 10 * time.Second

	stores := make([]*raftlock.Client, clients)
	ids := make([]string, clients)
	rdb := make([]*redis.Client, clients)
	for c := range clients {
		var err error
		if stores[c], err = raftlock.Open(ctx, "redis://"+addr+"/0?prefix=bench"); err != nil {
			b.Fatal(err)
		}
		defer stores[c].Close()
		ids[c] = raftlock.NewClientID()
		rdb[c] = redis.NewClient(&redis.Options{Addr: addr})
		defer rdb[c].Close()
	}
	syncs := make([]*redsync.Redsync, clients)
	lockers := make([]*redislock.Client, clients)
	for c := range clients {
		syncs[c] = redsync.New(goredis.NewPool(rdb[c]))
		lockers[c] = redislock.New(rdb[c])
	}

	raftlockPair := func(c int) error {
		r, err := stores[c].Acquire(ctx, &raftlock.AcquireRequest{LockID: fmt.Sprintf("k%02d", c), ClientID: ids[c], TTL: ttl})
		if err != nil {
			return err
		}
		_, err = stores[c].Release(ctx, &raftlock.ReleaseRequest{LockID: r.LockID, ClientID: ids[c], Version: r.Version})
		return err
	}
	redsyncPair := func(c int) error {
		m := syncs[c].NewMutex(fmt.Sprintf("bench:redsync:k%02d", c), redsync.WithExpiry(ttl))
		if err := m.LockContext(ctx); err != nil {
			return err
		}
		_, err := m.UnlockContext(ctx)
		return err
	}
	redislockPair := func(c int) error {
		l, err := lockers[c].Obtain(ctx, fmt.Sprintf("bench:redislock:k%02d", c), ttl, nil)
		if err != nil {
			return err
		}
		return l.Release(ctx)
	}
	for _, n := range []int{1, clients} {
		b.Run(fmt.Sprintf("pairs/clients=%d", n), func(b *testing.B) {
			compare(b, "pairs/s", "pairs/s", pairs("raftlock", n, raftlockPair),
				pairs("redsync", n, redsyncPair), pairs("redislock", n, redislockPair))
		})
	}
	// The ratio compares real hand-offs with redsync's, as redislock's
	// waiters sleep through most releases.
	b.Run("handoff/clients=16", func(b *testing.B) {
		compare(b, "grants/s", "handoffs/s",
			handoffs("raftlock", clients, func(c int) (func() error, error) {
				r, err := stores[c].Acquire(ctx, &raftlock.AcquireRequest{LockID: "one", ClientID: ids[c], TTL: ttl, Wait: true})
				if err != nil {
					return nil, err
				}
				return func() error {
					_, err := stores[c].Release(ctx, &raftlock.ReleaseRequest{LockID: "one", ClientID: ids[c], Version: r.Version})
					return err
				}, nil
			}),
			handoffs("redsync", clients, func(c int) (func() error, error) {
				m := syncs[c].NewMutex("bench:redsync:one", redsync.WithExpiry(ttl), redsync.WithTries(1<<20))
				if err := m.LockContext(ctx); err != nil {
					return nil, err
				}
				return func() error { _, err := m.UnlockContext(ctx); return err }, nil
			}))
	})
	b.Run("handoff/clients=16/redislock", func(b *testing.B) {
		compare(b, "grants/s", "handoffs/s",
			handoffs("redislock", clients, func(c int) (func() error, error) {
				l, err := lockers[c].Obtain(ctx, "bench:redislock:one", ttl,
					&redislock.Options{RetryStrategy: redislock.LinearBackoff(10 * time.Millisecond)})
				if err != nil {
					return nil, err
				}
				return func() error { return l.Release(ctx) }, nil
			}))
	})
}
