package bench

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pairFunc takes and gives back the lock of client c once.
type pairFunc func(c int) error

// runPairs spreads b.N pairs over clients goroutines and reports the rate
// and latency percentiles.
func runPairs(b *testing.B, clients int, pair pairFunc) {
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
			for next.Add(1) <= int64(b.N) {
				t := time.Now()
				if err := pair(c); err != nil {
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
	report(b, slices.Concat(lat...), elapsed, "pairs/s")
}

// holdFunc waits for the one shared lock as client c, and returns a
// function that releases it.
type holdFunc func(c int) (release func() error, err error)

// runHandoffs has clients take turns on one lock until b.N grants have been
// made, and reports grants/s and real hand-offs/s (grants to a client other
// than the previous holder).
func runHandoffs(b *testing.B, clients int, hold holdFunc) {
	var grants, handoffs atomic.Int64
	var last atomic.Int64
	last.Store(-1)
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for grants.Load() < int64(b.N) {
				release, err := hold(c)
				if err != nil {
					failed.Store(fmt.Errorf("client %d: %w", c, err))
					return
				}
				grants.Add(1)
				if last.Swap(int64(c)) != int64(c) {
					handoffs.Add(1)
				}
				if err := release(); err != nil {
					failed.Store(fmt.Errorf("client %d release: %w", c, err))
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
	b.ReportMetric(float64(grants.Load())/elapsed.Seconds(), "grants/s")
	b.ReportMetric(float64(handoffs.Load())/elapsed.Seconds(), "handoffs/s")
	b.ReportMetric(0, "ns/op")
}

func report(b *testing.B, all []time.Duration, elapsed time.Duration, unit string) {
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), unit)
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(0, "ns/op")
}
