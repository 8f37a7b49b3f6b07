package workload

import (
	"context"
	"slices"
	"time"
)

// Summary is one contender's figures for one workload over the rounds:
// medians, except for the counts of the hand-off check, which are totals.
type Summary struct {
	Contender string
	// NA says why the workload does not apply to the contender; its
	// figures are then zero.
	NA string
	// Err is the error that ended the contender's runs, if one did; the
	// figures are then those of the rounds before.
	Err error
	// Rounds are the figures of each round that completed.
	Rounds []Figures

	Rate     float64       // operations per second
	P50, P99 time.Duration // latency percentiles
	// ClientCPU and ServerCPU are CPU seconds per 1,000 operations.
	ClientCPU, ServerCPU float64

	HandoffRate float64 // Handoff: real hand-offs per second
	// Grants, Turns, Handoffs and OutOfOrder total the rounds' counts
	// (Handoff; see Figures).
	Grants, Turns, Handoffs, OutOfOrder int

	Elapsed time.Duration // the time over which the operations were made
	List    time.Duration // Burst: time to list, 0 if the contender cannot
	Listed  int           // Burst: locks listed, in the last round

	Failover time.Duration // Failover: from the kill to the next grant

	// Ratio is raftlock's Key over this contender's, 0 for raftlock
	// itself or when either is missing.
	Ratio float64
}

// OK reports whether the summary has figures.
func (s *Summary) OK() bool { return s.NA == "" && len(s.Rounds) > 0 }

// Result is one workload compared on one suite's contenders.
type Result struct {
	Workload  *Workload
	Summaries []Summary // in the contenders' order; the first is raftlock's
}

// Progress is told of each run as it ends.
type Progress func(round int, contender string, f Figures, err error)

// Compare runs w on each contender for rounds rounds, each contender once
// per round, in reverse order every other round, and summarizes the
// figures. The first contender is raftlock's, which the ratios compare the
// others with. A contender whose run fails is reported with its error and
// not run again; Compare itself fails only when ctx ends.
func Compare(ctx context.Context, w *Workload, contenders []*Contender, p Params, rounds int, progress Progress) (Result, error) {
	res := Result{Workload: w, Summaries: make([]Summary, len(contenders))}
	for i, c := range contenders {
		res.Summaries[i] = Summary{Contender: c.Name, NA: w.needs(c)}
	}
	order := make([]int, len(contenders))
	for r := range rounds {
		for i := range order {
			order[i] = i
		}
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, i := range order {
			s := &res.Summaries[i]
			if s.NA != "" || s.Err != nil {
				continue
			}
			p.Round = r
			f, err := w.run(ctx, contenders[i], p)
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			if progress != nil {
				progress(r, s.Contender, f, err)
			}
			if err != nil {
				s.Err = err
				continue
			}
			s.Rounds = append(s.Rounds, f)
		}
	}
	for i := range res.Summaries {
		summarize(&res.Summaries[i])
	}
	if first := &res.Summaries[0]; first.OK() {
		mine := w.Key.Of(first)
		for i := 1; i < len(res.Summaries); i++ {
			s := &res.Summaries[i]
			if theirs := w.Key.Of(s); s.OK() && mine > 0 && theirs > 0 {
				s.Ratio = mine / theirs
			}
		}
	}
	return res, nil
}

// summarize fills s's medians and totals from its rounds.
func summarize(s *Summary) {
	if len(s.Rounds) == 0 {
		return
	}
	med := func(of func(Figures) float64) float64 {
		v := make([]float64, len(s.Rounds))
		for i, f := range s.Rounds {
			v[i] = of(f)
		}
		return median(v)
	}
	dur := func(of func(Figures) time.Duration) time.Duration {
		return time.Duration(med(func(f Figures) float64 { return float64(of(f)) }))
	}
	perThousand := func(of func(Figures) time.Duration) float64 {
		return med(func(f Figures) float64 {
			if f.Ops == 0 {
				return 0
			}
			return of(f).Seconds() * 1000 / float64(f.Ops)
		})
	}
	s.Rate = med(Figures.Rate)
	s.HandoffRate = med(Figures.HandoffRate)
	s.P50 = dur(func(f Figures) time.Duration { return f.P50 })
	s.P99 = dur(func(f Figures) time.Duration { return f.P99 })
	s.ClientCPU = perThousand(func(f Figures) time.Duration { return f.ClientCPU })
	s.ServerCPU = perThousand(func(f Figures) time.Duration { return f.ServerCPU })
	s.Elapsed = dur(func(f Figures) time.Duration { return f.Elapsed })
	s.List = dur(func(f Figures) time.Duration { return f.List })
	s.Failover = dur(func(f Figures) time.Duration { return f.Failover })
	s.Listed = s.Rounds[len(s.Rounds)-1].Listed
	for _, f := range s.Rounds {
		s.Grants += f.Ops
		s.Turns += f.Turns
		s.Handoffs += f.Handoffs
		s.OutOfOrder += f.OutOfOrder
	}
}

// median is the middle value of v, or the mean of the two middle ones.
func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
