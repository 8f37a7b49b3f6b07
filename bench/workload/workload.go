package workload

import (
	"context"
	"fmt"
)

// Workload is one thing the contenders do, the same way for each.
type Workload struct {
	// Name is short, for the command line: "pairs1", "pairs16",
	// "handoff", "burst", "failover".
	Name string
	// Title says what it does, for the report; Short says it in a few
	// words, for a chart.
	Title, Short string
	// Kind says which figures it measures, and so how a report shows it.
	Kind Kind
	// Key is the figure the ratio compares.
	Key Metric

	run func(ctx context.Context, c *Contender, p Params) (Figures, error)
	// needs says why the workload cannot run on c, or "" if it can.
	needs func(c *Contender) string
}

// Kind is a kind of workload.
type Kind int

// The kinds of workload, one per constructor.
const (
	KindPairs Kind = iota
	KindHandoff
	KindBurst
	KindFailover
)

// Metric is a figure of a Summary that a ratio compares.
type Metric struct {
	// Label names it with its unit: "pairs/s", "s".
	Label string
	// HigherIsBetter is true for rates, false for times.
	HigherIsBetter bool
	// Of reads it from a summary.
	Of func(*Summary) float64
}

var (
	rate         = Metric{Label: "ops/s", HigherIsBetter: true, Of: func(s *Summary) float64 { return s.Rate }}
	handoffRate  = Metric{Label: "hand-offs/s", HigherIsBetter: true, Of: func(s *Summary) float64 { return s.HandoffRate }}
	failoverTime = Metric{Label: "s", Of: func(s *Summary) float64 { return s.Failover.Seconds() }}
)

// Pairs is clients clients, each taking and giving back a lock of its own
// over and over: Lock+Unlock pairs per second, and the latency of a pair.
// With one client it is the latency of the store; with many, how much it
// gets done when nothing contends.
func Pairs(clients int) *Workload {
	m := rate
	m.Label = "pairs/s"
	title := fmt.Sprintf("Lock+Unlock pairs, %d clients on distinct locks", clients)
	short := fmt.Sprintf("%d clients, own locks", clients)
	if clients == 1 {
		title, short = "Lock+Unlock pairs, 1 client", "1 client"
	}
	return &Workload{
		Name: fmt.Sprintf("pairs%d", clients), Title: title, Short: short, Kind: KindPairs, Key: m,
		run: func(ctx context.Context, c *Contender, p Params) (Figures, error) {
			return runPairs(ctx, c, clients, p)
		},
		needs: func(c *Contender) string {
			if c.Pair == nil {
				return "no Lock+Unlock"
			}
			return ""
		},
	}
}

// Handoff is Params.Clients clients taking turns on one lock, each waiting
// for it, holding it for no time, giving it back and asking again: grants
// per second, and of those the real hand-offs, to a client other than the
// previous holder (a library whose releaser takes the lock again at once
// scores grants but not hand-offs), with a check of the order of the
// grants against the order in which the clients asked (see FIFOSlack).
// The ratio compares hand-offs per second.
func Handoff() *Workload {
	return &Workload{
		Name: "handoff", Title: "Clients taking turns on one lock", Short: "clients on one lock", Kind: KindHandoff, Key: handoffRate,
		run: runHandoff,
		needs: func(c *Contender) string {
			if c.Hold == nil {
				return "cannot wait for a lock"
			}
			return ""
		},
	}
}

// Burst is Params.Clients clients taking Params.Burst different locks
// between them and keeping them, then one client listing them through the
// library's or store's own listing: the time to take them all (as locks
// per second), and the time to list them. The locks are then given back,
// untimed. The ratio compares locks taken per second.
func Burst() *Workload {
	m := rate
	m.Label = "locks/s"
	return &Workload{
		Name: "burst", Title: "A burst of locks taken and held, then listed", Short: "burst of locks", Kind: KindBurst, Key: m,
		run: runBurst,
		needs: func(c *Contender) string {
			if c.take() == nil {
				return "cannot hold a lock"
			}
			return ""
		},
	}
}

// Failover kills the leader of a 3-member store with SIGKILL while one
// client holds a lock and another waits for it, has the holder give it
// back as soon as the store lets it, and measures the time from the kill
// to the waiter's grant. Each round starts a new store (Contender.Fresh).
// The ratio compares those times: below 1, raftlock's is shorter.
func Failover() *Workload {
	return &Workload{
		Name:  "failover",
		Title: "Leader killed (SIGKILL) while a client waits: time to the next grant",
		Short: "kill -9 leader → next grant",
		Kind:  KindFailover,
		Key:   failoverTime,
		run:   runFailover,
		needs: func(c *Contender) string {
			if c.Fresh == nil {
				return "no store to kill a leader of"
			}
			return ""
		},
	}
}
