package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/bench/servers"
	"github.com/raftlock/raftlock/bench/workload"
)

// suite is a group of contenders on their servers: raftlock's first, then
// its peers.
type suite struct {
	name, title string
	// setup says what runs where, for the report.
	setup     string
	workloads []*workload.Workload
	// open starts the servers and connects the contenders' clients.
	open func(ctx context.Context, clients int) (*stage, error)
}

// stage is a suite's running servers and connected contenders.
type stage struct {
	clusters   []*servers.Cluster
	contenders []*workload.Contender
}

// start starts a cluster for the stage, which stops it on close.
func (s *stage) start(cl *servers.Cluster, err error) (*servers.Cluster, error) {
	if err == nil {
		s.clusters = append(s.clusters, cl)
	}
	return cl, err
}

// add adds a contender, which close closes.
func (s *stage) add(c *workload.Contender, err error) error {
	if err == nil {
		s.contenders = append(s.contenders, c)
	}
	return err
}

// close closes the contenders, then stops the servers.
func (s *stage) close() error {
	var errs []error
	for _, c := range s.contenders {
		errs = append(errs, c.Close())
	}
	for _, cl := range s.clusters {
		errs = append(errs, cl.Stop())
	}
	return errors.Join(errs...)
}

// errSkip marks a suite that cannot run here, which is not a failure.
var errSkip = errors.New("skipped")

// suites are all the suites, in the order they run.
func suites(clients int) []*suite {
	steady := []*workload.Workload{workload.Pairs(1), workload.Pairs(clients), workload.Handoff(), workload.Burst()}
	return []*suite{
		{
			name: "raft3", title: "Raft store, 3 nodes", workloads: steady,
			setup: "raftlock's Raft store on 3 nodes (`raft://` with all three addresses); " +
				"etcd's concurrency.Mutex on a 3-member etcd cluster; " +
				"raw hashicorp/raft Apply on 3 nodes with raftlock's storage and raft settings, one command per entry",
			open: func(ctx context.Context, clients int) (*stage, error) { return openRaft(ctx, 3, clients) },
		},
		{
			name: "raft1", title: "Raft store, 1 node", workloads: steady,
			setup: "raftlock's Raft store on 1 node, etcd's concurrency.Mutex on 1 etcd member, " +
				"raw hashicorp/raft Apply on 1 node",
			open: func(ctx context.Context, clients int) (*stage, error) { return openRaft(ctx, 1, clients) },
		},
		{
			name: "etcd", title: "etcd store, 1 member", workloads: steady,
			setup: "raftlock's etcd store (`etcd://`) and etcd's concurrency.Mutex on the same 1-member etcd",
			open:  openEtcd,
		},
		{
			name: "redis", title: "Redis store", workloads: steady,
			setup: "raftlock's Redis store (`redis://`), go-redsync/redsync and bsm/redislock on the same redis-server, without persistence",
			open:  openRedis,
		},
		{
			name: "failover", title: "Failover, 3 members", workloads: []*workload.Workload{workload.Failover()},
			setup: "raftlock's Raft store on 3 nodes and etcd's concurrency.Mutex on 3 etcd members, each with its default " +
				"election settings (raftlock: 500 ms heartbeat and election timeouts; etcd: 100 ms heartbeats, 1 s election timeout); " +
				"a new cluster every round",
			open: openFailover,
		},
	}
}

// pick selects the suites and workloads that only names: comma-separated
// suite names, or suite/workload; all when only is empty.
func pick(all []*suite, only string) ([]*suite, error) {
	if strings.TrimSpace(only) == "" {
		return all, nil
	}
	want := map[string][]string{} // suite -> workloads; empty for all of them
	var order []string
	for _, item := range strings.Split(only, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, wl, _ := strings.Cut(item, "/")
		i := slices.IndexFunc(all, func(s *suite) bool { return s.name == name })
		if i < 0 {
			return nil, fmt.Errorf("-only: no suite %q (want raft3, raft1, etcd, redis or failover)", name)
		}
		if wl != "" && !slices.ContainsFunc(all[i].workloads, func(w *workload.Workload) bool { return w.Name == wl }) {
			var names []string
			for _, w := range all[i].workloads {
				names = append(names, w.Name)
			}
			return nil, fmt.Errorf("-only: suite %s has no workload %q (want %s)", name, wl, strings.Join(names, ", "))
		}
		if _, seen := want[name]; !seen {
			order = append(order, name)
			want[name] = nil
		}
		if wl != "" {
			want[name] = append(want[name], wl)
		} else {
			want[name] = append(want[name], "") // "" stands for all
		}
	}
	var out []*suite
	for _, s := range all {
		wls, ok := want[s.name]
		if !ok {
			continue
		}
		if !slices.Contains(wls, "") {
			c := *s
			c.workloads = slices.DeleteFunc(slices.Clone(s.workloads), func(w *workload.Workload) bool { return !slices.Contains(wls, w.Name) })
			s = &c
		}
		out = append(out, s)
	}
	return out, nil
}

// raftConfig is how raftlock's contenders open a store: the defaults an
// application gets from raftlock.Open.
func raftConfig(url string) raftlock.Config {
	cfg := raftlock.DefaultConfig()
	cfg.URL = url
	return cfg
}

// openRaft starts raftlock's Raft store, etcd and raw raft, each on size
// nodes, and connects the contenders.
func openRaft(ctx context.Context, size, clients int) (st *stage, err error) {
	st = &stage{}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	rl, err := st.start(servers.StartRaftlock(ctx, size))
	if err != nil {
		return nil, err
	}
	et, err := st.start(servers.StartEtcd(ctx, size))
	if err != nil {
		return nil, err
	}
	rr, err := st.start(servers.StartRawRaft(ctx, size))
	if err != nil {
		return nil, err
	}
	if err := st.add(workload.Raftlock(ctx, raftConfig(workload.RaftURL(rl)), clients, rl)); err != nil {
		return nil, err
	}
	if err := st.add(workload.EtcdMutex(ctx, et, clients)); err != nil {
		return nil, err
	}
	if err := st.add(workload.RawRaft(ctx, rr, clients)); err != nil {
		return nil, err
	}
	return st, nil
}

// openEtcd starts one etcd member and connects raftlock's etcd store and
// etcd's Mutex to it.
func openEtcd(ctx context.Context, clients int) (st *stage, err error) {
	st = &stage{}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	et, err := st.start(servers.StartEtcd(ctx, 1))
	if err != nil {
		return nil, err
	}
	if err := st.add(workload.Raftlock(ctx, raftConfig(workload.EtcdURL(et)), clients, et)); err != nil {
		return nil, err
	}
	if err := st.add(workload.EtcdMutex(ctx, et, clients)); err != nil {
		return nil, err
	}
	return st, nil
}

// openRedis starts a redis-server and connects raftlock's Redis store,
// redsync and redislock to it.
func openRedis(ctx context.Context, clients int) (st *stage, err error) {
	st = &stage{}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	rd, err := st.start(servers.StartRedis(ctx))
	if errors.Is(err, servers.ErrNoRedis) {
		return nil, fmt.Errorf("%w: %v", errSkip, err)
	}
	if err != nil {
		return nil, err
	}
	if err := st.add(workload.Raftlock(ctx, raftConfig(workload.RedisURL(rd)), clients, rd)); err != nil {
		return nil, err
	}
	if err := st.add(workload.Redsync(ctx, rd, clients)); err != nil {
		return nil, err
	}
	if err := st.add(workload.Redislock(ctx, rd, clients)); err != nil {
		return nil, err
	}
	return st, nil
}

// failoverClients is how many clients the failover workload uses: a holder
// and a waiter.
const failoverClients = 2

// openFailover starts nothing: the failover workload starts a new cluster
// for each contender in each round.
func openFailover(context.Context, int) (*stage, error) {
	// An application that wants its lock calls to ride out a leader
	// election gives the client a retry policy that outlasts one, as here:
	// the default gives up after about 350 ms, before a new leader of a
	// 3-node cluster can be elected.
	cfg := func(cl *servers.Cluster) raftlock.Config {
		c := raftConfig(workload.RaftURL(cl))
		c.RetryPolicy = raftlock.RetryPolicy{
			MaxRetries: 100, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
			BackoffMultiplier: 2, JitterFactor: 0.2,
		}
		return c
	}
	return &stage{contenders: []*workload.Contender{
		{
			Name: "raftlock",
			Fresh: workload.OnNew(
				func(ctx context.Context) (*servers.Cluster, error) { return servers.StartRaftlock(ctx, 3) },
				func(ctx context.Context, cl *servers.Cluster) (*workload.Contender, error) {
					return workload.Raftlock(ctx, cfg(cl), failoverClients, cl)
				}),
		},
		{
			Name: "etcd Mutex",
			Fresh: workload.OnNew(
				func(ctx context.Context) (*servers.Cluster, error) { return servers.StartEtcd(ctx, 3) },
				func(ctx context.Context, cl *servers.Cluster) (*workload.Contender, error) {
					return workload.EtcdMutex(ctx, cl, failoverClients)
				}),
		},
	}}, nil
}
