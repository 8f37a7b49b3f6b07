package workload

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// runPairs has clients clients make Lock+Unlock pairs, each on a lock of its
// own, until the budget runs out.
func runPairs(ctx context.Context, c *Contender, clients int, p Params) (Figures, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		lat  = make([][]time.Duration, clients)
		errs firstError
		wg   sync.WaitGroup
	)
	m := startMeter(c)
	b := newBudget(p)
	start := time.Now()
	for i := range clients {
		key := fmt.Sprintf("pairs%d/r%d/c%02d", clients, p.Round, i)
		wg.Go(func() {
			for ctx.Err() == nil && b.take() {
				t := time.Now()
				if err := c.Pair(ctx, i, key); err != nil {
					errs.set(fmt.Errorf("client %d: %w", i, err))
					cancel()
					return
				}
				lat[i] = append(lat[i], time.Since(t))
			}
		})
	}
	wg.Wait()
	return timedFigures(start, m, &errs, lat)
}

// timedFigures ends a workload whose clients recorded the latency of each
// operation in lat, one slice per client: the figures from start until
// now, the meter's CPU counts, and the operations' count and percentiles;
// or the first error a client met.
func timedFigures(start time.Time, m meter, errs *firstError, lat [][]time.Duration) (Figures, error) {
	f := Figures{Elapsed: time.Since(start)}
	m.stop(&f)
	if err := errs.get(); err != nil {
		return f, err
	}
	all := slices.Concat(lat...)
	f.Ops = len(all)
	percentiles(&f, all)
	return f, nil
}

// firstError keeps the first error set.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (e *firstError) set(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil {
		e.err = err
	}
}

func (e *firstError) get() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}
