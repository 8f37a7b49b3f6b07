package bench

import (
	"testing"

	"github.com/raftlock/raftlock/bench/servers"
	"github.com/raftlock/raftlock/bench/workload"
)

// BenchmarkEtcd compares raftlock's etcd store with etcd's own
// concurrency.Mutex on one etcd member: each of up to 16 clients has its
// own connection (and, for the Mutex, its own session).
func BenchmarkEtcd(b *testing.B) {
	ctx := b.Context()
	srv, err := servers.StartEtcd(ctx, 1)
	srv = started(b, srv, err)
	store, err := workload.Raftlock(ctx, config(workload.EtcdURL(srv)), clients, srv)
	store = opened(b, store, err)
	mutex, err := workload.EtcdMutex(ctx, srv, clients)
	mutex = opened(b, mutex, err)
	for _, w := range steady() {
		b.Run(w.Name, func(b *testing.B) { compare(b, w, store, mutex) })
	}
}
