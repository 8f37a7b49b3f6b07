package memory_test

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/memory"
)

// BenchmarkDriverAcquireRelease measures one uncontended Acquire and Release
// pair through a driver, the cost every lock use pays at least once.
func BenchmarkDriverAcquireRelease(b *testing.B) {
	s := memory.NewStore()
	defer s.Close()
	d := s.NewDriver()
	defer d.Close()
	ctx := context.Background()
	acq := &backend.AcquireRequest{LockID: "bench/lock", ClientID: "bench-client", TTL: time.Minute}
	rel := &backend.ReleaseRequest{LockID: acq.LockID, ClientID: acq.ClientID}
	b.ReportAllocs()
	for b.Loop() {
		res, err := d.Acquire(ctx, acq)
		if err != nil {
			b.Fatal(err)
		}
		rel.Version = res.Lock.Version
		if _, err := d.Release(ctx, rel); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDriverAcquireReleaseParallel runs 16 goroutines (or more, on
// machines with more cores), each with its own lock, through one shared
// driver. With the lock table sharded, the time per pair should fall as
// cores are added instead of rising with contention.
func BenchmarkDriverAcquireReleaseParallel(b *testing.B) {
	s := memory.NewStore()
	defer s.Close()
	d := s.NewDriver()
	defer d.Close()
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(max(1, (16+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		n := strconv.FormatInt(next.Add(1), 10)
		acq := &backend.AcquireRequest{LockID: "bench/lock-" + n, ClientID: "bench-client-" + n, TTL: time.Minute}
		rel := &backend.ReleaseRequest{LockID: acq.LockID, ClientID: acq.ClientID}
		for pb.Next() {
			res, err := d.Acquire(ctx, acq)
			if err != nil {
				b.Error(err)
				return
			}
			rel.Version = res.Lock.Version
			if _, err := d.Release(ctx, rel); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
