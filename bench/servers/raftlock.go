package servers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/raftlock/raftlock/raftbackend"
)

// raftlockSpec is one node of raftlock's Raft store.
type raftlockSpec struct {
	NodeID    string   `json:"node_id"`
	Dir       string   `json:"dir"`
	Bootstrap bool     `json:"bootstrap,omitempty"`
	Join      []string `json:"join,omitempty"`
}

// raftlockReady is what a node announces: its client API address.
type raftlockReady struct {
	API string `json:"api"`
}

// StartRaftlock starts a cluster of nodes nodes (1 or 3, say) of raftlock's
// Raft store: the first bootstraps the cluster, the others join it one after
// the other, as an operator would start `raftlock serve`. It returns once
// every node is a voter and the cluster has a leader. Clients reach it at
// raft:// followed by Addrs joined with commas.
func StartRaftlock(ctx context.Context, nodes int) (*Cluster, error) {
	c := &Cluster{Kind: Raftlock, leader: raftlockLeader}
	for i := range nodes {
		name := fmt.Sprintf("raftlock-%d", i+1)
		dir, err := dataDir(name)
		if err != nil {
			c.Stop()
			return nil, err
		}
		spec := raftlockSpec{NodeID: fmt.Sprintf("n%d", i+1), Dir: dir, Bootstrap: i == 0}
		if i > 0 {
			spec.Join = c.Addrs[:1]
		}
		var ready raftlockReady
		p, err := launchChild(ctx, name, childSpec{Raftlock: &spec}, dir, &ready)
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.procs = append(c.procs, p)
		c.Addrs = append(c.Addrs, ready.API)
	}
	if err := c.waitVoters(ctx, nodes); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// waitVoters waits until the leader counts n voters.
func (c *Cluster) waitVoters(ctx context.Context, n int) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	d, err := raftbackend.Dial(ctx, c.Addrs)
	if err != nil {
		return err
	}
	defer d.Close()
	for {
		i, err := c.Leader(ctx)
		if err != nil {
			return err
		}
		st, err := d.StatusOf(ctx, c.Addrs[i], true)
		if err == nil {
			voters := 0
			for _, p := range st.Peers {
				if p.Voter {
					voters++
				}
			}
			if voters == n {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("raftlock: %d voters: %w", n, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// raftlockLeader asks each node for its own status and returns the one
// that says it leads.
func raftlockLeader(ctx context.Context, c *Cluster) (int, error) {
	d, err := raftbackend.Dial(ctx, c.Addrs)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	var errs []error
	for i, addr := range c.Addrs {
		if c.procs[i].Exited() {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := d.StatusOf(sctx, addr, true)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if st.Role == raftbackend.StateLeader {
			return i, nil
		}
	}
	return 0, errors.Join(append(errs, errors.New("no node leads"))...)
}

// serveRaftlock runs one node until ctx ends, with the settings `raftlock
// serve` has when given only a node ID, a data directory and addresses.
func serveRaftlock(ctx context.Context, s *raftlockSpec) error {
	cfg := raftbackend.Config{
		NodeID:    s.NodeID,
		DataDir:   s.Dir,
		RaftAddr:  "127.0.0.1:0",
		APIAddr:   "127.0.0.1:0",
		Bootstrap: s.Bootstrap,
		Join:      s.Join,
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	jctx, cancel := context.WithTimeout(ctx, startTimeout)
	node, err := raftbackend.StartNode(jctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer node.Close()
	if s.Bootstrap {
		if err := node.WaitLeader(ctx); err != nil {
			return err
		}
	}
	if err := announce(raftlockReady{API: node.APIAddress()}); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return nil
	case <-node.Done():
		return errors.New("the node stopped serving")
	}
}
