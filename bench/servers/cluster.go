package servers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// Kind names a kind of store server.
type Kind string

// The kinds of cluster this package starts.
const (
	Etcd     Kind = "etcd"
	Raftlock Kind = "raftlock"
	RawRaft  Kind = "raw raft"
	Redis    Kind = "redis"
)

// Cluster is a running store: one process per member.
type Cluster struct {
	Kind Kind
	// Addrs are the members' client addresses (host:port), in member
	// order: etcd's client URL, raftlock's gRPC API, raw raft's RPC API,
	// redis-server's port.
	Addrs []string

	procs []*Process
	// leader asks the members which of them leads; nil for a store
	// without a leader.
	leader func(ctx context.Context, c *Cluster) (int, error)
}

// Members is the number of members.
func (c *Cluster) Members() int { return len(c.procs) }

// CPU is the CPU time the cluster's processes have used so far, summed. A
// member that has exited counts with what it had used when last read.
func (c *Cluster) CPU() time.Duration {
	var sum time.Duration
	for _, p := range c.procs {
		sum += p.CPU()
	}
	return sum
}

// Leader finds the member that leads the cluster now, waiting for one
// within ctx, and for a minute at most.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	if c.leader == nil {
		return 0, fmt.Errorf("%s has no leader", c.Kind)
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		i, err := c.leader(ctx, c)
		if err == nil {
			return i, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s: no leader: %w", c.Kind, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Kill ends member i with SIGKILL, as a crash would.
func (c *Cluster) Kill(i int) { c.procs[i].Kill() }

// Stop kills every member and removes their data directories. It may be
// called more than once.
func (c *Cluster) Stop() error {
	var errs []error
	for _, p := range c.procs {
		errs = append(errs, p.stop())
		untrack(p)
	}
	return errors.Join(errs...)
}

// live is every process started and not yet stopped, for StopAll.
var live struct {
	sync.Mutex
	procs map[*Process]struct{}
}

func track(p *Process) {
	live.Lock()
	defer live.Unlock()
	if live.procs == nil {
		live.procs = make(map[*Process]struct{})
	}
	live.procs[p] = struct{}{}
}

func untrack(p *Process) {
	live.Lock()
	defer live.Unlock()
	delete(live.procs, p)
}

// StopAll stops every server process this program started and has not
// stopped yet, and removes their data directories: for the way out on an
// error or a signal.
func StopAll() error {
	live.Lock()
	procs := make([]*Process, 0, len(live.procs))
	for p := range live.procs {
		procs = append(procs, p)
	}
	live.procs = nil
	live.Unlock()
	var errs []error
	for _, p := range procs {
		errs = append(errs, p.stop())
	}
	return errors.Join(errs...)
}

// startAll starts n members with start, concurrently (the members of an
// etcd cluster wait for each other), and stops those that did start when
// one fails.
func startAll(n int, start func(i int) (*Process, error)) ([]*Process, error) {
	procs := make([]*Process, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { procs[i], errs[i] = start(i) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, p := range procs {
			if p != nil {
				p.stop()
				untrack(p)
			}
		}
		return nil, err
	}
	return procs, nil
}

// freePorts returns n loopback ports that nothing listened on a moment
// ago, all different. A server given one binds it a little later, which
// is a race, but a loopback port is rarely taken in between.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		// Held open until all are picked, so that none comes back twice.
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// dataDir makes a member's temporary data directory.
func dataDir(name string) (string, error) {
	return os.MkdirTemp("", "raftlock-bench-"+name+"-")
}
