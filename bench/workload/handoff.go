package workload

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// FIFOSlack is how much earlier a client must have asked for the lock than
// another for a grant to the other first to count as out of order. The
// bench sees when each client called, not when the store queued it; a
// client that called a few milliseconds earlier may be queued later
// through no fault of the store (its request was scheduled later on this
// busy machine), but not one that called this much earlier.
const FIFOSlack = 100 * time.Millisecond

// grant is one grant of the shared lock.
type grant struct {
	seq        int64 // its place in the order of grants
	client     int
	asked, got time.Time
}

// runHandoff has Params.Clients clients take turns on one lock until the
// budget runs out. The order of the grants is exact: each client numbers
// its grant while it holds the lock, so no two can do it at once.
func runHandoff(ctx context.Context, c *Contender, p Params) (Figures, error) {
	clients := p.Clients
	key := fmt.Sprintf("one/r%d", p.Round)
	// Cancelling run stops the clients that wait; the holder still gives
	// the lock back, with ctx.
	run, stop := context.WithCancel(ctx)
	defer stop()
	var (
		seq    atomic.Int64
		grants = make([][]grant, clients)
		errs   firstError
		wg     sync.WaitGroup
	)
	m := startMeter(c)
	start := time.Now()
	deadline := start.Add(p.Duration)
	if p.Ops == 0 {
		t := time.AfterFunc(p.Duration, stop)
		defer t.Stop()
	}
	for i := range clients {
		wg.Go(func() {
			for run.Err() == nil {
				asked := time.Now()
				release, err := c.Hold(run, i, key)
				if err != nil {
					if run.Err() == nil {
						errs.set(fmt.Errorf("client %d: %w", i, err))
						stop()
					}
					return
				}
				got := time.Now()
				n := seq.Add(1)
				if p.Ops > 0 && n <= int64(p.Ops) || p.Ops == 0 && got.Before(deadline) {
					grants[i] = append(grants[i], grant{seq: n, client: i, asked: asked, got: got})
				}
				if p.Ops > 0 && n >= int64(p.Ops) {
					stop()
				}
				if err := release(ctx); err != nil {
					errs.set(fmt.Errorf("client %d release: %w", i, err))
					stop()
					return
				}
			}
		})
	}
	wg.Wait()
	var f Figures
	m.stop(&f)
	if err := errs.get(); err != nil {
		return f, err
	}
	all := slices.Concat(grants...)
	if len(all) == 0 {
		return f, fmt.Errorf("no grant in %v", time.Since(start).Round(time.Millisecond))
	}
	slices.SortFunc(all, func(a, b grant) int { return cmp.Compare(a.seq, b.seq) })
	end := all[len(all)-1].got
	if p.Ops == 0 {
		end = deadline
	}
	f.Ops, f.Elapsed = len(all), end.Sub(start)
	f.Turns = len(all) - 1
	f.Handoffs, f.OutOfOrder = order(all)
	lat := make([]time.Duration, len(all))
	for i, g := range all {
		lat[i] = g.got.Sub(g.asked)
	}
	percentiles(&f, lat)
	return f, nil
}

// order counts, in grants sorted by seq, the hand-offs (grants to a client
// other than the previous one) and the grants out of order: made while a
// client that asked FIFOSlack or more earlier was still waiting, which a
// FIFO queue never does.
func order(grants []grant) (handoffs, outOfOrder int) {
	for i := 1; i < len(grants); i++ {
		if grants[i].client != grants[i-1].client {
			handoffs++
		}
	}
	// earliest[i] is the earliest ask among the grants from i on; grant i
	// is out of order if a later grant's client asked well before it.
	earliest := make([]time.Time, len(grants)+1)
	earliest[len(grants)] = time.Now().Add(time.Hour)
	for i := len(grants) - 1; i >= 0; i-- {
		earliest[i] = grants[i].asked
		if earliest[i+1].Before(earliest[i]) {
			earliest[i] = earliest[i+1]
		}
	}
	for i, g := range grants {
		if earliest[i+1].Before(g.asked.Add(-FIFOSlack)) {
			outOfOrder++
		}
	}
	return handoffs, outOfOrder
}
