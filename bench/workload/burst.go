package workload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// runBurst has Params.Clients clients take Params.Burst locks between them
// and keep them, then lists them, then gives them back. Only taking and
// listing are timed, and the CPU is counted while taking.
func runBurst(ctx context.Context, c *Contender, p Params) (Figures, error) {
	releases := make([]Release, p.Burst)
	f, err := takeAndList(ctx, c, p, releases)
	if rerr := giveBack(ctx, p.Clients, releases); rerr != nil {
		err = errors.Join(err, fmt.Errorf("giving the locks back: %w", rerr))
	}
	return f, err
}

// takeAndList is the timed part of runBurst: it fills releases.
func takeAndList(ctx context.Context, c *Contender, p Params, releases []Release) (Figures, error) {
	take := c.take()
	prefix := fmt.Sprintf("burst/r%d/", p.Round)
	var (
		lat  = make([][]time.Duration, p.Clients)
		next atomic.Int64
		errs firstError
		wg   sync.WaitGroup
	)
	m := startMeter(c)
	start := time.Now()
	for i := range p.Clients {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= p.Burst || errs.get() != nil {
					return
				}
				t := time.Now()
				rel, err := take(ctx, i, fmt.Sprintf("%s%05d", prefix, k))
				if err != nil {
					errs.set(fmt.Errorf("client %d: %w", i, err))
					return
				}
				lat[i] = append(lat[i], time.Since(t))
				releases[k] = rel
			}
		})
	}
	wg.Wait()
	f, err := timedFigures(start, m, &errs, lat)
	if err != nil {
		return f, err
	}

	if c.List != nil {
		t := time.Now()
		n, err := c.List(ctx, prefix)
		f.List = time.Since(t)
		if err != nil {
			return f, fmt.Errorf("list: %w", err)
		}
		if f.Listed = n; n != p.Burst {
			return f, fmt.Errorf("listed %d locks, not the %d held", n, p.Burst)
		}
	}
	return f, nil
}

// giveBack releases the locks a burst took, with clients goroutines.
func giveBack(ctx context.Context, clients int, releases []Release) error {
	var (
		next   atomic.Int64
		failed atomic.Int64
		first  firstError
		wg     sync.WaitGroup
	)
	for range clients {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(releases) {
					return
				}
				if releases[k] == nil {
					continue
				}
				if err := releases[k](ctx); err != nil {
					failed.Add(1)
					first.set(err)
				}
			}
		})
	}
	wg.Wait()
	if err := first.get(); err != nil {
		return fmt.Errorf("%d failed, the first with: %w", failed.Load(), err)
	}
	return nil
}
