package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/raftlock/raftlock"
	_ "github.com/raftlock/raftlock/etcdbackend"
)

// BenchmarkEtcd compares raftlock's etcd store with etcd's own
// concurrency.Mutex on one etcd member: each of up to 16 clients has its
// own connection (and, for the Mutex, its own session).
func BenchmarkEtcd(b *testing.B) {
	addr := startEtcd(b)
	ctx := context.Background()
	const clients = 16

	stores := make([]*raftlock.Client, clients)
	ids := make([]string, clients)
	sessions := make([]*concurrency.Session, clients)
	for c := range clients {
		var err error
		if stores[c], err = raftlock.Open(ctx, "etcd://"+addr+"?prefix=/bench/raftlock"); err != nil {
			b.Fatal(err)
		}
		defer stores[c].Close()
		ids[c] = raftlock.NewClientID()
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: 5 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		defer cli.Close()
		if sessions[c], err = concurrency.NewSession(cli, concurrency.WithTTL(10)); err != nil {
			b.Fatal(err)
		}
		defer sessions[c].Close()
	}

	raftlockPair := func(c int) error {
		r, err := stores[c].Acquire(ctx, &raftlock.AcquireRequest{LockID: fmt.Sprintf("k%02d", c), ClientID: ids[c], TTL: 10 * time.Second})
		if err != nil {
			return err
		}
		_, err = stores[c].Release(ctx, &raftlock.ReleaseRequest{LockID: r.LockID, ClientID: ids[c], Version: r.Version})
		return err
	}
	mutexes := make([]*concurrency.Mutex, clients)
	for c := range clients {
		mutexes[c] = concurrency.NewMutex(sessions[c], fmt.Sprintf("/bench/mutex/k%02d", c))
	}
	mutexPair := func(c int) error {
		if err := mutexes[c].Lock(ctx); err != nil {
			return err
		}
		return mutexes[c].Unlock(ctx)
	}
	one := make([]*concurrency.Mutex, clients)
	for c := range clients {
		one[c] = concurrency.NewMutex(sessions[c], "/bench/mutex/one")
	}
	for _, n := range []int{1, clients} {
		b.Run(fmt.Sprintf("pairs/clients=%d", n), func(b *testing.B) {
			compare(b, "pairs/s", "pairs/s", pairs("raftlock", n, raftlockPair), pairs("mutex", n, mutexPair))
		})
	}
	b.Run("handoff/clients=16", func(b *testing.B) {
		compare(b, "grants/s", "handoffs/s",
			handoffs("raftlock", clients, func(c int) (func() error, error) {
				r, err := stores[c].Acquire(ctx, &raftlock.AcquireRequest{LockID: "one", ClientID: ids[c], TTL: 10 * time.Second, Wait: true})
				if err != nil {
					return nil, err
				}
				return func() error {
					_, err := stores[c].Release(ctx, &raftlock.ReleaseRequest{LockID: "one", ClientID: ids[c], Version: r.Version})
					return err
				}, nil
			}),
			handoffs("mutex", clients, func(c int) (func() error, error) {
				if err := one[c].Lock(ctx); err != nil {
					return nil, err
				}
				return func() error { return one[c].Unlock(ctx) }, nil
			}))
	})
}
