package conformance

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// RunBenchmarks measures the store behind h with the same workloads for
// every store, so that their numbers compare:
//
//   - AcquireRelease: one client takes and gives up a free lock.
//   - AcquireReleaseParallel: GOMAXPROCS clients (b.RunParallel), each on a
//     driver of its own, each on its own lock.
//   - ContendedHandOff: the same clients on one lock, waiting in the queue
//     when the store declares ServerSideWait and retrying otherwise; one
//     iteration is one grant.
//   - Renew, Get: one client on a lock it holds.
//   - ListPage: one page of 100 among 250 locks, by cursor.
//
// Each benchmark reports allocations. Lock IDs carry a random prefix, as in
// Run, so a shared server can be measured.
func RunBenchmarks(b *testing.B, h Harness) {
	bs := &benchSuite{h: h, prefix: randomPrefix()}
	d := bs.driver(b)
	bs.caps = d.Capabilities()
	bs.ttl = fitTTL(time.Minute, bs.caps)
	b.Run("AcquireRelease", bs.acquireRelease)
	b.Run("AcquireReleaseParallel", bs.acquireReleaseParallel)
	b.Run("ContendedHandOff", bs.contended)
	b.Run("Renew", bs.renew)
	b.Run("Get", bs.get)
	b.Run("ListPage", bs.listPage)
}

// benchSuite is what the benchmarks of one RunBenchmarks share.
type benchSuite struct {
	h      Harness
	prefix string
	caps   backend.Capabilities
	ttl    time.Duration
	seq    atomic.Int64
}

// driver opens a driver that the benchmark closes when it ends.
func (bs *benchSuite) driver(b *testing.B) backend.Driver {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := bs.h.MakeDriver(ctx)
	if err != nil {
		b.Fatalf("MakeDriver: %v", err)
	}
	b.Cleanup(func() {
		if err := d.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	return d
}

// name returns a lock or client ID unique to this run.
func (bs *benchSuite) name(kind string) string {
	return fmt.Sprintf("%s/bench/%s-%d", bs.prefix, kind, bs.seq.Add(1))
}

func (bs *benchSuite) acquireRelease(b *testing.B) {
	d := bs.driver(b)
	ctx := context.Background()
	acq := &backend.AcquireRequest{LockID: bs.name("lock"), ClientID: bs.name("client"), TTL: bs.ttl}
	rel := &backend.ReleaseRequest{LockID: acq.LockID, ClientID: acq.ClientID}
	b.ReportAllocs()
	for b.Loop() {
		res, err := d.Acquire(ctx, acq)
		if err != nil {
			b.Fatalf("Acquire: %v", err)
		}
		rel.Version = res.Lock.Version
		if _, err := d.Release(ctx, rel); err != nil {
			b.Fatalf("Release: %v", err)
		}
	}
}

func (bs *benchSuite) acquireReleaseParallel(b *testing.B) {
	ds := make([]backend.Driver, runtime.GOMAXPROCS(0))
	for i := range ds {
		ds[i] = bs.driver(b)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		d := ds[int(next.Add(1)-1)%len(ds)]
		ctx := context.Background()
		acq := &backend.AcquireRequest{LockID: bs.name("lock"), ClientID: bs.name("client"), TTL: bs.ttl}
		rel := &backend.ReleaseRequest{LockID: acq.LockID, ClientID: acq.ClientID}
		for pb.Next() {
			res, err := d.Acquire(ctx, acq)
			if err != nil {
				b.Errorf("Acquire: %v", err)
				return
			}
			rel.Version = res.Lock.Version
			if _, err := d.Release(ctx, rel); err != nil {
				b.Errorf("Release: %v", err)
				return
			}
		}
	})
}

// contended hands one lock between GOMAXPROCS clients (at least two). Each
// iteration is one grant and its release.
func (bs *benchSuite) contended(b *testing.B) {
	n := max(runtime.GOMAXPROCS(0), 2)
	ds := make([]backend.Driver, n)
	for i := range ds {
		ds[i] = bs.driver(b)
	}
	lockID := bs.name("lock")
	wait := bs.caps.ServerSideWait
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(max(1, n/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		d := ds[int(next.Add(1)-1)%len(ds)]
		ctx := context.Background()
		acq := &backend.AcquireRequest{LockID: lockID, ClientID: bs.name("client"), TTL: bs.ttl, Wait: wait}
		rel := &backend.ReleaseRequest{LockID: lockID, ClientID: acq.ClientID}
		for pb.Next() {
			for {
				res, err := d.Acquire(ctx, acq)
				if err == nil {
					rel.Version = res.Lock.Version
					break
				}
				if !errors.Is(err, backend.ErrLockHeld) {
					b.Errorf("Acquire: %v", err)
					return
				}
				runtime.Gosched()
			}
			if _, err := d.Release(ctx, rel); err != nil {
				b.Errorf("Release: %v", err)
				return
			}
		}
	})
}

func (bs *benchSuite) holding(b *testing.B) (backend.Driver, *backend.Lock) {
	b.Helper()
	d := bs.driver(b)
	res, err := d.Acquire(context.Background(), &backend.AcquireRequest{
		LockID: bs.name("lock"), ClientID: bs.name("client"), TTL: bs.ttl,
	})
	if err != nil {
		b.Fatalf("Acquire: %v", err)
	}
	return d, &res.Lock
}

func (bs *benchSuite) renew(b *testing.B) {
	d, l := bs.holding(b)
	ctx := context.Background()
	req := &backend.RenewRequest{LockID: l.LockID, ClientID: l.Owner, Version: l.Version, TTL: bs.ttl}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Renew(ctx, req); err != nil {
			b.Fatalf("Renew: %v", err)
		}
	}
}

func (bs *benchSuite) get(b *testing.B) {
	d, l := bs.holding(b)
	ctx := context.Background()
	req := &backend.GetRequest{LockID: l.LockID}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Get(ctx, req); err != nil {
			b.Fatalf("Get: %v", err)
		}
	}
}

func (bs *benchSuite) listPage(b *testing.B) {
	d := bs.driver(b)
	ctx := context.Background()
	dir := bs.name("list")
	owner := bs.name("client")
	for i := range 250 {
		_, err := d.Acquire(ctx, &backend.AcquireRequest{
			LockID: fmt.Sprintf("%s/%03d", dir, i), ClientID: owner, TTL: bs.ttl,
		})
		if err != nil {
			b.Fatalf("Acquire: %v", err)
		}
	}
	first := &backend.ListRequest{Filter: backend.ListFilter{Pattern: dir + "/*"}, Limit: 100}
	res, err := d.List(ctx, first)
	if err != nil || len(res.Locks) != 100 || res.NextCursor == "" {
		b.Fatalf("List: %d locks, cursor %q, %v", lenLocks(res), cursorOf(res), err)
	}
	// Measure the middle page: it starts from a cursor, as most pages do.
	req := &backend.ListRequest{Filter: first.Filter, Limit: 100, Cursor: res.NextCursor}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.List(ctx, req); err != nil {
			b.Fatalf("List: %v", err)
		}
	}
}

func lenLocks(r *backend.ListResult) int {
	if r == nil {
		return 0
	}
	return len(r.Locks)
}

func cursorOf(r *backend.ListResult) string {
	if r == nil {
		return ""
	}
	return r.NextCursor
}
