//go:build unix

package chaos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// The kinds of fault, as Counts names them.
const (
	FaultKill            = "kill"             // SIGKILL a node, restart it later
	FaultPause           = "pause"            // SIGSTOP a node, SIGCONT it later
	FaultPartitionLeader = "partition-leader" // the leader in a minority
	FaultIsolate         = "isolate-follower" // a follower alone
	FaultOneWay          = "one-way"          // one node's bytes to another dropped
	FaultDelay           = "delay"            // every link slow
	FaultHeal            = "heal"             // the network healed early
)

// faultWeights is how often each kind is drawn, against the others; the
// process faults are drawn only while fewer nodes than a minority are
// down. The order is fixed, so a seed draws the same kinds every time.
var faultWeights = []struct {
	kind   string
	weight int
}{
	{FaultKill, 3},
	{FaultPause, 2},
	{FaultPartitionLeader, 2},
	{FaultIsolate, 2},
	{FaultOneWay, 2},
	{FaultDelay, 1},
	{FaultHeal, 1},
}

// How long faults last, and how often the leader is the target of a kill
// or a pause. A pause outlasts the cluster's election timeout (1s) by
// far, so that the others elect a new leader while the paused one still
// believes it leads.
const (
	leaderBias                   = 0.6
	downMin, downMax             = 500 * time.Millisecond, 4 * time.Second
	pauseMin, pauseMax           = 2500 * time.Millisecond, 5 * time.Second
	cutMin, cutMax               = 2 * time.Second, 5 * time.Second
	delayMin, delayMax           = 10 * time.Millisecond, 150 * time.Millisecond
	delayHoldMin, delayHoldMax   = 2 * time.Second, 6 * time.Second
	defaultMinGap, defaultMaxGap = time.Second, 3 * time.Second
	leaderLookup                 = 1500 * time.Millisecond
	restartTimeout               = time.Minute
	retryAfter                   = time.Second
	healTimeout                  = 2 * time.Minute
)

// NemesisConfig configures a Nemesis.
type NemesisConfig struct {
	// Seed seeds the schedule: which faults, on which nodes (as far as
	// the leader found at each step allows), for how long, with what gaps.
	Seed int64
	// Logf receives each fault and each repair with its time, and the seed
	// first; nil discards them.
	Logf func(format string, args ...any)
	// MinGap and MaxGap bound the random time between two faults. Defaults
	// 1s and 3s.
	MinGap, MaxGap time.Duration
	// OnRestart, if set, is called after a killed node serves again, from
	// the nemesis's goroutine: faults wait while it runs.
	OnRestart func(id string)
}

// Nemesis injects faults into a Cluster on a seeded random schedule: kill
// -9 a node (the leader more often than not) and restart it after a
// random pause; SIGSTOP a node (often the leader) for well over an
// election timeout, then SIGCONT it; partition the leader into a
// minority; isolate a follower; cut one node's traffic to another one way;
// delay every link; heal the network early. Faults overlap (a partition
// may come while a node is down) but fewer than half the nodes are ever
// down or paused at once (one of three, two of five), so a majority can
// make progress most of the time; a partition on top of a node down may
// leave none for a few seconds. A new network fault replaces the previous
// one.
//
// The schedule of draws is the seed's; what a draw hits depends on the
// cluster (who leads when it is drawn), so a replay with the same seed
// repeats the kinds and timings, and the targets as far as the cluster
// behaves alike.
type Nemesis struct {
	c   *Cluster
	cfg NemesisConfig
	rng *rand.Rand

	mu     sync.Mutex
	counts map[string]int

	// Only Run's goroutine touches what follows.
	start   time.Time
	down    map[string]string // node ID -> FaultKill or FaultPause
	pending []repair          // in due order
	cutGen  int               // counts network cuts; a repair undoes only its own
	slowGen int               // the same for delays
}

// repair undoes a fault when it is due.
type repair struct {
	due  time.Time
	what string
	do   func(ctx context.Context) error
}

// NewNemesis makes a nemesis for c; Run starts it.
func NewNemesis(c *Cluster, cfg NemesisConfig) *Nemesis {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.MinGap <= 0 {
		cfg.MinGap = defaultMinGap
	}
	if cfg.MaxGap < cfg.MinGap {
		cfg.MaxGap = max(cfg.MinGap, defaultMaxGap)
	}
	seed := uint64(cfg.Seed)
	return &Nemesis{
		c:      c,
		cfg:    cfg,
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		counts: make(map[string]int),
		down:   make(map[string]string),
	}
}

// Counts reports how many faults of each kind were injected so far.
func (n *Nemesis) Counts() map[string]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.counts)
}

// Run injects faults until ctx ends, then heals everything: it heals the
// network, resumes the paused nodes and restarts the killed ones, and
// returns nil once every node runs again. It returns an error naming
// what it could not repair, and any node that exited without being
// killed (a crash, which it leaves for the checks to find). Call Run once
// per Nemesis.
func (n *Nemesis) Run(ctx context.Context) error {
	n.start = time.Now()
	n.logf("nemesis: seed %d, %d nodes, a fault every %v to %v", n.cfg.Seed, len(n.c.ids), n.cfg.MinGap, n.cfg.MaxGap)
	next := n.start.Add(n.between(n.cfg.MinGap, n.cfg.MaxGap))
	for {
		wake := next
		if len(n.pending) > 0 && n.pending[0].due.Before(wake) {
			wake = n.pending[0].due
		}
		t := time.NewTimer(time.Until(wake))
		select {
		case <-ctx.Done():
			t.Stop()
			return n.healAll()
		case <-t.C:
		}
		for len(n.pending) > 0 && !time.Now().Before(n.pending[0].due) && ctx.Err() == nil {
			r := n.pending[0]
			n.pending = n.pending[1:]
			n.run(ctx, r)
		}
		if !time.Now().Before(next) && ctx.Err() == nil {
			n.inject(ctx)
			next = time.Now().Add(n.between(n.cfg.MinGap, n.cfg.MaxGap))
		}
	}
}

// run carries out a repair; one that fails is tried again shortly.
func (n *Nemesis) run(ctx context.Context, r repair) {
	if err := r.do(ctx); err != nil {
		if ctx.Err() != nil {
			return
		}
		n.logf("nemesis: %s failed, retrying in %v: %v", r.what, retryAfter, err)
		r.due = time.Now().Add(retryAfter)
		n.schedule(r)
	}
}

// schedule queues a repair in due order.
func (n *Nemesis) schedule(r repair) {
	i, _ := slices.BinarySearchFunc(n.pending, r.due, func(p repair, due time.Time) int { return p.due.Compare(due) })
	n.pending = slices.Insert(n.pending, i, r)
}

// inject draws a fault and injects it.
func (n *Nemesis) inject(ctx context.Context) {
	kind := n.draw()
	if len(n.c.ids) < 2 && kind != FaultKill && kind != FaultPause {
		return // a network of one node has no link to cut or slow
	}
	var leader string
	if kind != FaultDelay && kind != FaultHeal {
		leader = n.leader(ctx)
	}
	switch kind {
	case FaultKill, FaultPause:
		n.processFault(ctx, kind, leader)
	case FaultPartitionLeader:
		n.partitionLeader(leader)
	case FaultIsolate:
		n.isolateFollower(leader)
	case FaultOneWay:
		n.oneWay(leader)
	case FaultDelay:
		n.delay()
	case FaultHeal:
		n.cutGen++
		n.slowGen++
		n.c.Net().Heal()
		n.injected(FaultHeal, "heal the network")
	}
}

// draw picks a fault kind by weight. A process fault drawn while as many
// nodes are down as may be becomes a delay.
func (n *Nemesis) draw() string {
	maxDown := (len(n.c.ids) - 1) / 2
	total := 0
	for _, f := range faultWeights {
		total += f.weight
	}
	// Always one draw from the same range, so that a run with nodes down
	// does not shift the rest of the schedule.
	r := n.rng.IntN(total)
	for _, f := range faultWeights {
		if r < f.weight {
			if (f.kind == FaultKill || f.kind == FaultPause) && len(n.down) >= maxDown {
				// The mildest fault instead: a delay takes no node away.
				return FaultDelay
			}
			return f.kind
		}
		r -= f.weight
	}
	return FaultHeal
}

// leader is the leader a majority reports, or "" if none answers soon.
func (n *Nemesis) leader(ctx context.Context) string {
	lctx, cancel := context.WithTimeout(ctx, leaderLookup)
	defer cancel()
	id, err := n.c.Leader(lctx)
	if err != nil {
		return ""
	}
	return id
}

// up lists the nodes neither killed nor paused, in ID order.
func (n *Nemesis) up() []string {
	return slices.DeleteFunc(slices.Clone(n.c.ids), func(id string) bool { return n.down[id] != "" })
}

// pick returns the leader with probability bias if it is up, else a node
// of candidates; "" if there is none.
func (n *Nemesis) pick(candidates []string, leader string, bias float64) string {
	// Both draws are made whatever the outcome, to keep the schedule.
	toLeader := n.rng.Float64() < bias
	i := n.rng.IntN(max(len(candidates), 1))
	if toLeader && leader != "" && slices.Contains(candidates, leader) {
		return leader
	}
	if len(candidates) == 0 {
		return ""
	}
	return candidates[i]
}

// processFault kills or pauses a node and schedules its repair.
func (n *Nemesis) processFault(ctx context.Context, kind, leader string) {
	id := n.pick(n.up(), leader, leaderBias)
	role := "follower"
	if id == leader {
		role = "leader"
	}
	if kind == FaultKill {
		after := n.between(downMin, downMax)
		if id == "" {
			return
		}
		if err := n.c.Kill(id); err != nil {
			n.logf("nemesis: kill %s failed: %v", id, err)
			return
		}
		n.down[id] = FaultKill
		n.injected(FaultKill, "kill -9 %s (%s), restart in %v", id, role, after.Round(time.Millisecond))
		n.schedule(repair{due: time.Now().Add(after), what: "restart " + id, do: func(ctx context.Context) error { return n.restart(ctx, id) }})
		return
	}
	after := n.between(pauseMin, pauseMax)
	if id == "" {
		return
	}
	if err := n.c.Pause(id); err != nil {
		n.logf("nemesis: pause %s failed: %v", id, err)
		return
	}
	n.down[id] = FaultPause
	n.injected(FaultPause, "pause %s (%s) for %v", id, role, after.Round(time.Millisecond))
	n.schedule(repair{due: time.Now().Add(after), what: "resume " + id, do: func(context.Context) error { return n.resume(id) }})
}

// restart starts a killed node again and tells OnRestart.
func (n *Nemesis) restart(ctx context.Context, id string) error {
	rctx, cancel := context.WithTimeout(ctx, restartTimeout)
	defer cancel()
	if err := n.c.Restart(rctx, id); err != nil {
		return err
	}
	delete(n.down, id)
	n.logf("nemesis %s: %s restarted", n.stamp(), id)
	if n.cfg.OnRestart != nil {
		n.cfg.OnRestart(id)
	}
	return nil
}

func (n *Nemesis) resume(id string) error {
	if err := n.c.Resume(id); err != nil {
		return err
	}
	delete(n.down, id)
	n.logf("nemesis %s: %s resumed", n.stamp(), id)
	return nil
}

// partitionLeader puts the leader in a minority: alone on three nodes,
// with one other on five.
func (n *Nemesis) partitionLeader(leader string) {
	others := slices.Clone(n.c.ids)
	n.rng.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	if leader == "" {
		leader = others[0]
	}
	others = slices.DeleteFunc(others, func(id string) bool { return id == leader })
	minority := append([]string{leader}, others[:max((len(n.c.ids)-1)/2-1, 0)]...)
	majority := others[len(minority)-1:]
	n.c.Net().Partition(minority, majority)
	n.cut(FaultPartitionLeader, fmt.Sprintf("partition leader: %v | %v", minority, majority))
}

// isolateFollower cuts a node other than the leader off from the rest.
func (n *Nemesis) isolateFollower(leader string) {
	followers := slices.DeleteFunc(slices.Clone(n.c.ids), func(id string) bool { return id == leader })
	id := followers[n.rng.IntN(len(followers))]
	n.c.Net().Isolate(id)
	n.cut(FaultIsolate, "isolate "+id)
}

// oneWay drops one node's bytes to another, the leader's half the time.
func (n *Nemesis) oneWay(leader string) {
	from := n.pick(n.c.ids, leader, 0.5)
	others := slices.DeleteFunc(slices.Clone(n.c.ids), func(id string) bool { return id == from })
	to := others[n.rng.IntN(len(others))]
	nw := n.c.Net()
	nw.Partition(n.c.ids) // replace the previous cut
	nw.OneWay(from, to)
	n.cut(FaultOneWay, fmt.Sprintf("one way: %s's bytes to %s dropped", from, to))
}

// cut records a network cut and schedules its repair, which reconnects
// every link unless another cut or a heal came first.
func (n *Nemesis) cut(kind, what string) {
	n.cutGen++
	gen := n.cutGen
	after := n.between(cutMin, cutMax)
	n.injected(kind, "%s, for %v", what, after.Round(time.Millisecond))
	n.schedule(repair{due: time.Now().Add(after), what: "reconnect", do: func(context.Context) error {
		if gen == n.cutGen {
			n.c.Net().Partition(n.c.ids)
			n.logf("nemesis %s: reconnected; network %s", n.stamp(), n.c.Net())
		}
		return nil
	}})
}

// delay slows every link.
func (n *Nemesis) delay() {
	d := n.between(delayMin, delayMax)
	jitter := n.between(0, d/2)
	after := n.between(delayHoldMin, delayHoldMax)
	n.slowGen++
	gen := n.slowGen
	n.c.Net().Delay(d, jitter)
	n.injected(FaultDelay, "delay every link %v+%v, for %v", d.Round(time.Millisecond), jitter.Round(time.Millisecond), after.Round(time.Millisecond))
	n.schedule(repair{due: time.Now().Add(after), what: "undelay", do: func(context.Context) error {
		if gen == n.slowGen {
			n.c.Net().Delay(0, 0)
			n.logf("nemesis %s: delay removed; network %s", n.stamp(), n.c.Net())
		}
		return nil
	}})
}

// healAll undoes every fault: the network first, so that the nodes that
// come back find their peers, then the paused nodes, then the killed ones.
func (n *Nemesis) healAll() error {
	ctx, cancel := context.WithTimeout(context.Background(), healTimeout)
	defer cancel()
	n.pending = nil
	n.c.Net().Heal()
	n.logf("nemesis %s: stopping; network healed", n.stamp())
	var errs []error
	for _, id := range n.c.ids {
		if n.down[id] == "" && !n.c.Running(id) {
			// Nothing here stopped it: it crashed, and stays down for
			// the checks to find (see Cluster.LogTail).
			n.logf("nemesis: %s exited on its own", id)
			errs = append(errs, fmt.Errorf("%s exited on its own", id))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(n.down)) {
		switch n.down[id] {
		case FaultPause:
			if err := n.resume(id); err != nil {
				errs = append(errs, err)
			}
		case FaultKill:
			for {
				err := n.restart(ctx, id)
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					errs = append(errs, fmt.Errorf("restart %s: %w", id, err))
					break
				}
				n.logf("nemesis: restart %s failed, retrying: %v", id, err)
				time.Sleep(retryAfter)
			}
		}
	}
	n.logf("nemesis %s: healed; faults %v", n.stamp(), n.Counts())
	return errors.Join(errs...)
}

// injected counts and logs a fault.
func (n *Nemesis) injected(kind, format string, args ...any) {
	n.mu.Lock()
	n.counts[kind]++
	n.mu.Unlock()
	n.logf("nemesis %s: %s", n.stamp(), fmt.Sprintf(format, args...))
}

// between draws a duration in [lo, hi].
func (n *Nemesis) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(n.rng.Int64N(int64(hi-lo)+1))
}

// stamp is the wall clock and the time since Run began, for the log.
func (n *Nemesis) stamp() string {
	now := time.Now()
	return fmt.Sprintf("%s +%.3fs", now.Format("15:04:05.000"), now.Sub(n.start).Seconds())
}

func (n *Nemesis) logf(format string, args ...any) { n.cfg.Logf(format, args...) }
