package servers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// rawRaftSpec is one node of a raw hashicorp/raft cluster.
type rawRaftSpec struct {
	ID       string    `json:"id"`
	Dir      string    `json:"dir"`
	RaftAddr string    `json:"raft_addr"`
	RPCAddr  string    `json:"rpc_addr"`
	Peers    []rawPeer `json:"peers"` // every node, this one included
}

type rawPeer struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

// StartRawRaft starts a cluster of nodes nodes (1 or 3, say) of bare
// hashicorp/raft, each on raft-wal with fsync on and the raft settings of a
// raftlock node, and returns once it has a leader. Addrs are the nodes' RPC
// addresses (see DialRawRaft).
func StartRawRaft(ctx context.Context, nodes int) (*Cluster, error) {
	ports, err := freePorts(2 * nodes)
	if err != nil {
		return nil, err
	}
	specs := make([]rawRaftSpec, nodes)
	var peers []rawPeer
	for i := range specs {
		specs[i] = rawRaftSpec{
			ID:       fmt.Sprintf("r%d", i+1),
			RaftAddr: fmt.Sprintf("127.0.0.1:%d", ports[2*i]),
			RPCAddr:  fmt.Sprintf("127.0.0.1:%d", ports[2*i+1]),
		}
		peers = append(peers, rawPeer{ID: specs[i].ID, Addr: specs[i].RaftAddr})
	}
	c := &Cluster{Kind: RawRaft, leader: rawRaftLeader}
	for i := range specs {
		specs[i].Peers = peers
		c.Addrs = append(c.Addrs, specs[i].RPCAddr)
	}
	c.procs, err = startAll(nodes, func(i int) (*Process, error) {
		name := fmt.Sprintf("rawraft-%d", i+1)
		dir, err := dataDir(name)
		if err != nil {
			return nil, err
		}
		spec := specs[i]
		spec.Dir = dir
		return launchChild(ctx, name, childSpec{RawRaft: &spec}, dir, &struct{}{})
	})
	if err != nil {
		return nil, err
	}
	if _, err := c.Leader(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// rawRaftLeader asks each node whether it leads.
func rawRaftLeader(ctx context.Context, c *Cluster) (int, error) {
	var errs []error
	for i, addr := range c.Addrs {
		if c.procs[i].Exited() {
			continue
		}
		cl, err := DialRawRaft(addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		leads, err := cl.IsLeader(ctx)
		cl.Close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if leads {
			return i, nil
		}
	}
	return 0, errors.Join(append(errs, errors.New("no node leads"))...)
}

// serveRawRaft runs one raw raft node and its RPC API until ctx ends.
func serveRawRaft(ctx context.Context, s *rawRaftSpec) error {
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: os.Stderr})
	walDir := filepath.Join(s.Dir, "wal")
	if err := os.MkdirAll(walDir, 0o700); err != nil {
		return err
	}
	meta := &metadb.BoltMetaDB{}
	defer meta.Close()
	wal, err := raftwal.Open(walDir, raftwal.WithMetaStore(meta))
	if err != nil {
		return err
	}
	defer wal.Close()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(s.Dir, 2, hlog)
	if err != nil {
		return err
	}
	trans, err := raft.NewTCPTransportWithLogger(s.RaftAddr, nil, 3, 10*time.Second, hlog)
	if err != nil {
		return err
	}
	defer trans.Close()

	// The settings raftbackend gives hashicorp/raft, so that the two differ
	// only in what raftlock adds on top (its state machine, batching of
	// commands into entries, the gRPC API).
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(s.ID)
	rc.Logger = hlog
	rc.HeartbeatTimeout = 500 * time.Millisecond
	rc.ElectionTimeout = 500 * time.Millisecond
	rc.LeaderLeaseTimeout = min(rc.HeartbeatTimeout, rc.LeaderLeaseTimeout)
	rc.CommitTimeout = 5 * time.Millisecond
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 256

	var conf raft.Configuration
	for _, p := range s.Peers {
		conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr), Suffrage: raft.Voter})
	}
	// Every node bootstraps with the same configuration, which
	// hashicorp/raft allows, so that no node has to join.
	if err := raft.BootstrapCluster(rc, wal, wal, snaps, trans, conf); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return err
	}
	fsm := &keySet{keys: make(map[string]struct{})}
	r, err := raft.NewRaft(rc, fsm, wal, wal, snaps, trans)
	if err != nil {
		return err
	}
	defer r.Shutdown()

	srv := rpc.NewServer()
	if err := srv.RegisterName(rawService, &RawRaftService{raft: r, fsm: fsm}); err != nil {
		return err
	}
	lis, err := net.Listen("tcp", s.RPCAddr)
	if err != nil {
		return err
	}
	defer lis.Close()
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			go srv.ServeConn(conn)
		}
	}()
	if err := announce(struct{}{}); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// keySet is the raw raft state machine: a set of keys, each command
// putting or deleting one.
type keySet struct {
	mu   sync.RWMutex
	keys map[string]struct{}
}

// Apply implements raft.FSM.
func (f *keySet) Apply(l *raft.Log) any {
	op, key, err := decodeRawCommand(l.Data)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if op == rawPut {
		f.keys[key] = struct{}{}
	} else {
		delete(f.keys, key)
	}
	return nil
}

// list returns the keys that start with prefix, sorted.
func (f *keySet) list(prefix string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []string
	for k := range f.keys {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Snapshot implements raft.FSM: raftlock's nodes take snapshots, so the
// ceiling pays for them too.
func (f *keySet) Snapshot() (raft.FSMSnapshot, error) {
	return keySnapshot(f.list("")), nil
}

// Restore implements raft.FSM.
func (f *keySet) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	keys := make(map[string]struct{})
	s := bufio.NewScanner(rc)
	for s.Scan() {
		keys[s.Text()] = struct{}{}
	}
	if err := s.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	f.keys = keys
	f.mu.Unlock()
	return nil
}

// keySnapshot is the keys, one a line.
type keySnapshot []string

// Persist implements raft.FSMSnapshot.
func (s keySnapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriter(sink)
	for _, k := range s {
		w.WriteString(k)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (keySnapshot) Release() {}
