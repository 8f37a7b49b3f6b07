package workload

import (
	"slices"
	"sync/atomic"
	"syscall"
	"time"
)

// Params say how much each run of a workload does.
type Params struct {
	// Clients is how many clients work at once in the workloads for many
	// clients (Pairs of more than one, Handoff, Burst).
	Clients int
	// Duration is how long one contender runs in one round, when Ops is 0.
	Duration time.Duration
	// Ops is how many operations (pairs, grants) one contender makes in
	// one round; it takes precedence over Duration.
	Ops int
	// Burst is how many locks Burst takes.
	Burst int
	// Round numbers the round, from 0. Keys carry it, so that nothing a
	// round leaves behind (a waiter that gave up, a lease not yet expired)
	// is in the way of the next.
	Round int
}

// Figures are what one run of one workload measured for one contender.
type Figures struct {
	// Ops is how many operations were counted: pairs (Pairs), grants
	// (Handoff), locks taken (Burst).
	Ops int
	// Elapsed is the time over which they were made.
	Elapsed time.Duration
	// P50 and P99 are percentiles of one operation's latency: a pair, the
	// wait from asking to being granted, one lock taken.
	P50, P99 time.Duration
	// ClientCPU is the CPU time this process spent meanwhile, ServerCPU
	// the store's server processes'.
	ClientCPU, ServerCPU time.Duration

	// Turns counts the grants that followed another grant, and Handoffs
	// those of them to a client other than the previous holder (Handoff).
	Turns, Handoffs int
	// OutOfOrder counts the grants made while another client, which had
	// asked clearly earlier (see FIFOSlack), still waited (Handoff).
	OutOfOrder int

	// List is how long listing the locks took, and Listed how many it
	// found (Burst; 0 for a contender that cannot list).
	List   time.Duration
	Listed int

	// Failover is the time from the leader's kill to the next grant
	// (Failover).
	Failover time.Duration
}

// Rate is operations per second.
func (f Figures) Rate() float64 { return perSecond(f.Ops, f.Elapsed) }

// HandoffRate is hand-offs per second.
func (f Figures) HandoffRate() float64 { return perSecond(f.Handoffs, f.Elapsed) }

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// budget decides when a run stops: after a number of operations, or after
// a duration.
type budget struct {
	ops      int64
	deadline time.Time
	taken    atomic.Int64
}

func newBudget(p Params) *budget {
	return &budget{ops: int64(p.Ops), deadline: time.Now().Add(p.Duration)}
}

// take reports whether one more operation may start.
func (b *budget) take() bool {
	if b.ops > 0 {
		return b.taken.Add(1) <= b.ops
	}
	return time.Now().Before(b.deadline)
}

// meter measures the CPU time spent by this process and by a contender's
// servers between its start and stop.
type meter struct {
	c              *Contender
	client, server time.Duration
}

func startMeter(c *Contender) meter {
	return meter{c: c, client: clientCPU(), server: c.serverCPU()}
}

func (m meter) stop(f *Figures) {
	f.ClientCPU = clientCPU() - m.client
	f.ServerCPU = m.c.serverCPU() - m.server
}

// clientCPU is the user and system CPU time this process has used.
func clientCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// percentiles sets f's P50 and P99 from lat, which it sorts.
func percentiles(f *Figures, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	f.P50 = lat[len(lat)/2]
	f.P99 = lat[min(len(lat)*99/100, len(lat)-1)]
}
