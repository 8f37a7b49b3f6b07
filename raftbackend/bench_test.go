package raftbackend

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"

	"github.com/raftlock/raftlock/backend"
)

// The benchmarks run on a loopback cluster of 3 nodes (and of 1) with
// fsync on (raft-wal syncs every append) and report, side by side in one
// run:
//
//   - raw-apply: hashicorp/raft Apply of one command per log entry, a put
//     then a delete of the same size as an encoded Acquire and Release, on
//     a cluster built with the same raft configuration and storage: the
//     ceiling of a store that does not batch;
//   - embedded: Acquire+Release pairs through a Node's in-process driver;
//   - grpc: the same pairs through the gRPC driver;
//   - handoff: 16 clients taking turns on one lock.
//
// Each reports pairs/s (or handoffs/s), the p50 and p99 latency of a pair,
// and how many commands shared a log entry. Run them with
//
//	go test -run '^$' -bench 'ThreeNodes|OneNode' -benchtime 3000x -count 5 ./raftbackend
func BenchmarkThreeNodes(b *testing.B) { benchCluster(b, 3) }

func BenchmarkOneNode(b *testing.B) { benchCluster(b, 1) }

func benchCluster(b *testing.B, size int) {
	raw := startRawCluster(b, size)
	b.Run("raw-apply", func(b *testing.B) {
		for _, clients := range []int{1, 16} {
			b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
				runPairs(b, clients, func(i, j int) error { return raw.pair(i, j) })
			})
		}
	})
	raw.close()

	c := startCluster(b, size, nil)
	leader := c.nodes[c.leader()]
	embedded := leader.NewDriver()
	defer embedded.Close()
	remote, err := Dial(context.Background(), c.endpoints(c.leader()))
	if err != nil {
		b.Fatal(err)
	}
	defer remote.Close()
	for _, d := range []struct {
		name string
		drv  backend.Driver
	}{{"embedded", embedded}, {"grpc", remote}} {
		b.Run(d.name, func(b *testing.B) {
			for _, clients := range []int{1, 16} {
				b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
					reportBatching(b, leader, func() {
						runPairs(b, clients, func(i, j int) error { return lockPair(d.drv, i) })
					})
				})
			}
		})
	}
	b.Run("handoff/grpc/clients=16", func(b *testing.B) { reportBatching(b, leader, func() { runHandoffs(b, remote, 16) }) })
	b.Run("handoff/embedded/clients=16", func(b *testing.B) { reportBatching(b, leader, func() { runHandoffs(b, embedded, 16) }) })
}

// runPairs spreads b.N pairs over clients goroutines and reports the rate
// and latency percentiles.
func runPairs(b *testing.B, clients int, pair func(client, i int) error) {
	lat := make([][]time.Duration, clients)
	var next atomic.Int64
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > b.N {
					return
				}
				t := time.Now()
				if err := pair(c, i); err != nil {
					failed.Store(err)
					return
				}
				lat[c] = append(lat[c], time.Since(t))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	reportLatency(b, slices.Concat(lat...), elapsed, "pairs/s")
}

// reportBatching reports how many commands shared a log entry on n while
// fn ran.
func reportBatching(b *testing.B, n *Node, fn func()) {
	e0, c0 := n.batch.entries.Load(), n.batch.commands.Load()
	fn()
	if e := n.batch.entries.Load() - e0; e > 0 {
		b.ReportMetric(float64(n.batch.commands.Load()-c0)/float64(e), "cmds/entry")
	}
}

func reportLatency(b *testing.B, all []time.Duration, elapsed time.Duration, unit string) {
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), unit)
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(0, "ns/op") // the rate says it better
}

// requestSeq makes every benchmark request ID unique: the store answers a
// repeated ID from its dedupe table, which would flatter the figures.
var requestSeq atomic.Int64

func requestID(owner string) string {
	return fmt.Sprintf("%s-%d", owner, requestSeq.Add(1))
}

// lockPair takes and gives back a lock of the client's own.
func lockPair(d backend.Driver, client int) error {
	ctx := context.Background()
	id := fmt.Sprintf("bench-%02d", client)
	owner := fmt.Sprintf("client-%02d", client)
	r, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: id, ClientID: owner, TTL: time.Minute,
		RequestID: requestID(owner)})
	if err != nil {
		return err
	}
	_, err = d.Release(ctx, &backend.ReleaseRequest{LockID: id, ClientID: owner, Version: r.Lock.Version,
		RequestID: requestID(owner)})
	return err
}

// runHandoffs has clients take turns on one lock: each waits for it,
// releases it at once, and waits again. Every grant is a hand-off.
func runHandoffs(b *testing.B, d backend.Driver, clients int) {
	ctx := context.Background()
	var grants atomic.Int64
	lat := make([][]time.Duration, clients)
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("handoff-%02d", c)
			for {
				t := time.Now()
				r, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "handoff", ClientID: owner, TTL: time.Minute,
					Wait: true, RequestID: requestID(owner)})
				if err != nil {
					failed.Store(err)
					return
				}
				n := grants.Add(1)
				lat[c] = append(lat[c], time.Since(t))
				if _, err := d.Release(ctx, &backend.ReleaseRequest{LockID: "handoff", ClientID: owner,
					Version: r.Lock.Version, RequestID: requestID(owner)}); err != nil {
					failed.Store(err)
					return
				}
				if n >= int64(b.N) {
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	reportLatency(b, slices.Concat(lat...), elapsed, "handoffs/s")
}

// rawCluster is hashicorp/raft with a trivial key-value state machine, on
// the same storage and configuration as a Node.
type rawCluster struct {
	rafts []*raft.Raft
	wals  []*raftwal.WAL
	metas []*metadb.BoltMetaDB
	trans []*raft.NetworkTransport
	put   [][]byte // per client: an encoded Acquire-sized command
	del   [][]byte
}

type rawFSM struct {
	mu sync.Mutex
	m  map[string]struct{}
}

func (f *rawFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := string(l.Data[len(l.Data)-16:])
	if l.Data[0] == 'p' {
		f.m[key] = struct{}{}
	} else {
		delete(f.m, key)
	}
	return nil
}
func (f *rawFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, fmt.Errorf("not supported") }
func (f *rawFSM) Restore(io.ReadCloser) error         { return nil }

func startRawCluster(b *testing.B, size int) *rawCluster {
	rc := &rawCluster{}
	var servers []raft.Server
	for i := range size {
		dir := filepath.Join(b.TempDir(), "wal")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			b.Fatal(err)
		}
		meta := &metadb.BoltMetaDB{}
		rc.metas = append(rc.metas, meta)
		wal, err := raftwal.Open(dir, raftwal.WithMetaStore(meta))
		if err != nil {
			b.Fatal(err)
		}
		tr, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 3, 10*time.Second, hclog.NewNullLogger())
		if err != nil {
			b.Fatal(err)
		}
		rc.wals, rc.trans = append(rc.wals, wal), append(rc.trans, tr)
		servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprintf("r%d", i)), Address: tr.LocalAddr()})
	}
	for i := range size {
		cfg := testConfig(b, string(servers[i].ID))
		c, err := cfg.withDefaults()
		if err != nil {
			b.Fatal(err)
		}
		conf := c.raftConfig(hclog.NewNullLogger())
		snaps := raft.NewInmemSnapshotStore()
		if i == 0 {
			if err := raft.BootstrapCluster(conf, rc.wals[i], rc.wals[i], snaps, rc.trans[i], raft.Configuration{Servers: servers}); err != nil {
				b.Fatal(err)
			}
		}
		r, err := raft.NewRaft(conf, &rawFSM{m: map[string]struct{}{}}, rc.wals[i], rc.wals[i], snaps, rc.trans[i])
		if err != nil {
			b.Fatal(err)
		}
		rc.rafts = append(rc.rafts, r)
	}
	for range 16 {
		rc.put = append(rc.put, nil)
		rc.del = append(rc.del, nil)
	}
	for c := range 16 {
		acq := entry{now: time.Now().UnixNano(), cmds: []command{{kind: cmdAcquire, ttl: int64(time.Minute),
			lockID: fmt.Sprintf("bench-%02d", c), clientID: fmt.Sprintf("client-%02d", c), requestID: fmt.Sprintf("client-%02d-a-100000", c)}}}
		rel := entry{now: time.Now().UnixNano(), cmds: []command{{kind: cmdRelease, version: 1 << 20,
			lockID: fmt.Sprintf("bench-%02d", c), clientID: fmt.Sprintf("client-%02d", c), requestID: fmt.Sprintf("client-%02d-r-100000", c)}}}
		rc.put[c] = append([]byte{'p'}, encodeEntry(nil, &acq)...)
		rc.del[c] = append([]byte{'d'}, encodeEntry(nil, &rel)...)
	}
	deadline := time.Now().Add(20 * time.Second)
	for rc.rafts[0].State() != raft.Leader {
		if time.Now().After(deadline) {
			b.Fatal("raw cluster elected no leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return rc
}

func (rc *rawCluster) pair(client, _ int) error {
	if err := rc.rafts[0].Apply(rc.put[client], 0).Error(); err != nil {
		return err
	}
	return rc.rafts[0].Apply(rc.del[client], 0).Error()
}

func (rc *rawCluster) close() {
	for i, r := range rc.rafts {
		r.Shutdown().Error()
		rc.trans[i].Close()
		rc.wals[i].Close()
		rc.metas[i].Close()
	}
}
