package bench

import (
	"flag"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var rounds = flag.Int("rounds", 5, "interleaved rounds of each comparison; medians are reported")

// figures are what one round of one workload measured.
type figures struct {
	rate     float64 // operations (pairs, grants) per second
	handoffs float64 // grants to a client other than the previous holder, per second
	p50, p99 time.Duration
}

// contender is one library running one workload: run performs n
// operations and measures them.
type contender struct {
	name string
	run  func(n int) (figures, error)
}

// compare runs the contenders in turn, b.N operations each, for -rounds
// rounds, reversing their order every other round: this machine's load
// changes from second to second, and interleaving spreads that over all of
// them alike. It reports each contender's median rate (and hand-off rate
// and latencies, when measured) and the ratio of the first contender's
// median to the best median of the others, under key.
func compare(b *testing.B, unit, key string, contenders ...contender) {
	all := make([][]figures, len(contenders))
	for r := range *rounds {
		order := make([]int, len(contenders))
		for i := range order {
			order[i] = i
		}
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, i := range order {
			f, err := contenders[i].run(b.N)
			if err != nil {
				b.Fatalf("%s: %v", contenders[i].name, err)
			}
			all[i] = append(all[i], f)
		}
	}
	b.StopTimer()
	pick := func(fs []figures, of func(figures) float64) float64 {
		v := make([]float64, len(fs))
		for i, f := range fs {
			v[i] = of(f)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	byKey := func(f figures) float64 { return f.rate }
	if key == "handoffs/s" {
		byKey = func(f figures) float64 { return f.handoffs }
	}
	var best float64
	for i, c := range contenders {
		b.ReportMetric(pick(all[i], func(f figures) float64 { return f.rate }), c.name+"-"+unit)
		if key == "handoffs/s" {
			b.ReportMetric(pick(all[i], byKey), c.name+"-handoffs/s")
		}
		if all[i][0].p50 > 0 {
			b.ReportMetric(pick(all[i], func(f figures) float64 { return float64(f.p50.Microseconds()) }), c.name+"-p50-µs")
			b.ReportMetric(pick(all[i], func(f figures) float64 { return float64(f.p99.Microseconds()) }), c.name+"-p99-µs")
		}
		if i > 0 {
			best = max(best, pick(all[i], byKey))
		}
	}
	if best > 0 {
		b.ReportMetric(pick(all[0], byKey)/best, "ratio")
	}
	b.ReportMetric(0, "ns/op")
}

// pairFunc takes and gives back the lock of client c once.
type pairFunc func(c int) error

// pairs returns a contender that spreads n pairs over clients goroutines.
func pairs(name string, clients int, pair pairFunc) contender {
	return contender{name: name, run: func(n int) (figures, error) {
		lat := make([][]time.Duration, clients)
		var next atomic.Int64
		var failed atomic.Value
		start := time.Now()
		var wg sync.WaitGroup
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
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
		if err, _ := failed.Load().(error); err != nil {
			return figures{}, err
		}
		all := slices.Concat(lat...)
		slices.Sort(all)
		return figures{rate: float64(len(all)) / elapsed.Seconds(), p50: all[len(all)/2], p99: all[len(all)*99/100]}, nil
	}}
}

// holdFunc waits for the one shared lock as client c, and returns a
// function that releases it.
type holdFunc func(c int) (release func() error, err error)

// handoffs returns a contender whose clients take turns on one lock until
// n grants have been made; it measures grants/s and real hand-offs/s.
func handoffs(name string, clients int, hold holdFunc) contender {
	return contender{name: name, run: func(n int) (figures, error) {
		var grants, moved atomic.Int64
		var last atomic.Int64
		last.Store(-1)
		var failed atomic.Value
		start := time.Now()
		var wg sync.WaitGroup
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for grants.Load() < int64(n) {
					release, err := hold(c)
					if err != nil {
						failed.Store(fmt.Errorf("client %d: %w", c, err))
						return
					}
					grants.Add(1)
					if last.Swap(int64(c)) != int64(c) {
						moved.Add(1)
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
		if err, _ := failed.Load().(error); err != nil {
			return figures{}, err
		}
		return figures{rate: float64(grants.Load()) / elapsed.Seconds(), handoffs: float64(moved.Load()) / elapsed.Seconds()}, nil
	}}
}
