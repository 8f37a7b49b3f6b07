package raftlock

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftlock/raftlock/memory"
)

// BenchmarkClientAcquireRelease is one uncontended Acquire+Release pair
// through the whole client: validation, request IDs, the per-attempt
// timeout, the retry loop and in-memory metrics, on the memory store.
func BenchmarkClientAcquireRelease(b *testing.B) {
	ctx := context.Background()
	c, _ := newTestClient(b, DefaultConfig())
	acq := &AcquireRequest{LockID: "bench", ClientID: "c", TTL: time.Minute}
	b.ReportAllocs()
	for b.Loop() {
		res, err := c.Acquire(ctx, acq)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Release(ctx, &ReleaseRequest{LockID: "bench", ClientID: "c", Version: res.Version}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClientAcquireReleaseParallel runs pairs from 16 goroutines (more
// on machines with more cores), each on its own lock: it must scale with
// cores, not queue on one mutex.
func BenchmarkClientAcquireReleaseParallel(b *testing.B) {
	ctx := context.Background()
	store := memory.NewStore()
	defer store.Close()
	c := newClientOn(b, store, DefaultConfig())
	var next atomic.Int64
	b.SetParallelism(max(1, (16+runtime.GOMAXPROCS(0)-1)/runtime.GOMAXPROCS(0)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		id := "bench/" + strconv.FormatInt(next.Add(1), 10)
		acq := &AcquireRequest{LockID: id, ClientID: id, TTL: time.Minute}
		for pb.Next() {
			res, err := c.Acquire(ctx, acq)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := c.Release(ctx, &ReleaseRequest{LockID: id, ClientID: id, Version: res.Version}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
