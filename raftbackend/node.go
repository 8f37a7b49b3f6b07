package raftbackend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"

	"github.com/raftlock/raftlock/backend"
)

// Node is one server of a Raft store: the replicated lock state machine, its
// storage, its Raft transport and, when Config.APIAddr is set, its gRPC
// client API. A Node implements backend.Driver, backend.Queuer and
// backend.Admin itself, so a program that embeds one calls it without a
// network hop; lock operations on a follower fail with CodeNotLeader naming
// the leader's client API address.
type Node struct {
	cfg    Config
	caps   backend.Capabilities
	logger *slog.Logger

	raft      *raft.Raft
	fsm       *fsm
	wal       *raftwal.WAL
	meta      *metadb.BoltMetaDB
	transport *raft.NetworkTransport
	peerAddrs *peerAddrs // the transport's dial overrides; nil without
	api       *grpcServer
	apiLis    net.Listener
	apiAddr   string // published client API address
	hadState  bool   // the data directory held a log or snapshot at start

	sec *nodeSecurity // TLS, identity binding, rate limits

	batch *batcher
	clock leaderClock
	waits waitRegistry

	// epoch is this node's current stretch of leadership, nil while it
	// follows; lock commands wait for its ready channel.
	leadMu sync.Mutex
	epoch  *epoch
	wake   chan struct{} // the expiry loop re-arms

	stopped   chan struct{} // closed by Close
	died      chan struct{} // closed when raft stops on its own (see Done)
	closeOnce sync.Once
	diedOnce  sync.Once
	removedAt atomic.Int64 // when the member table dropped this node; 0 if never
	closed    atomic.Bool
	wg        sync.WaitGroup
}

var (
	_ backend.Driver = (*Node)(nil)
	_ backend.Queuer = (*Node)(nil)
	_ backend.Admin  = (*Node)(nil)
	_ nodeAPI        = (*Node)(nil)
)

// StartNode opens (or creates) a node's storage in cfg.DataDir, starts its
// Raft transport and client API, and bootstraps or joins a cluster as cfg
// says. A node whose data directory already holds state skips both: it is
// a member already and finds its peers from its log. ctx bounds only the
// join. StartNode returns without waiting for a leader; WaitLeader does
// that.
func StartNode(ctx context.Context, cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:    cfg,
		logger: cfg.Logger.With("node", cfg.NodeID),
		caps: backend.Capabilities{
			FIFO: true, Priorities: true, ServerSideWait: true, Metadata: true, Replicated: true,
			MinTTL: cfg.MinTTL, MaxTTL: cfg.MaxTTL,
		},
		stopped: make(chan struct{}),
		died:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
	}
	n.waits.init()
	if err := n.open(); err != nil {
		n.teardown()
		return nil, err
	}
	// A node with state is already a member: it finds its peers from its
	// own log, and asking to join again would need a leader to be up.
	if len(cfg.Join) > 0 && !n.hadState {
		if err := n.join(ctx); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// open builds the storage, transport, raft instance and API server.
func (n *Node) open() error {
	cfg := n.cfg
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "wal"), 0o700); err != nil {
		return backend.Errorf(backend.CodeInvalidArgument, "raft store: data dir: %v", err)
	}
	hlog := hclog.New(&hclog.LoggerOptions{
		Name:   "raft",
		Level:  hclog.Warn,
		Output: slogWriter{n.logger},
	})
	// raft-wal's Close leaves its metadata database open (and its file
	// lock held), so the node keeps the database and closes it itself: a
	// node restarted in the same process must be able to open it again.
	n.meta = &metadb.BoltMetaDB{}
	walDir := filepath.Join(cfg.DataDir, "wal")
	if mended, err := repairTruncatedSegments(walDir, n.meta); err != nil {
		return fmt.Errorf("raft store: repair log: %w", err)
	} else if mended > 0 {
		n.logger.Warn("raft store: rebuilt the index of log segments cut short by a truncation", "segments", mended)
	}
	wal, err := raftwal.Open(walDir, raftwal.WithMetaStore(n.meta))
	if err != nil {
		return fmt.Errorf("raft store: open log: %w", err)
	}
	n.wal = wal
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, cfg.SnapshotRetain, hlog)
	if err != nil {
		return fmt.Errorf("raft store: open snapshots: %w", err)
	}

	var advertise net.Addr
	if cfg.AdvertiseRaftAddr != "" {
		if advertise, err = net.ResolveTCPAddr("tcp", cfg.AdvertiseRaftAddr); err != nil {
			return backend.Errorf(backend.CodeInvalidArgument, "raft store: advertise address: %v", err)
		}
	}
	if n.sec, err = newNodeSecurity(cfg, n.logger); err != nil {
		return err
	}
	tc := &raft.NetworkTransportConfig{MaxPool: raftMaxPool, Timeout: raftIOTimeout, Logger: hlog}
	if len(cfg.RaftPeerAddrs) > 0 {
		n.peerAddrs = &peerAddrs{override: cfg.RaftPeerAddrs}
		tc.ServerAddressProvider = n.peerAddrs
	}
	if n.sec.raftServer != nil {
		n.transport, err = newTLSTransport(cfg.RaftAddr, advertise, n.sec.raftServer, n.sec.raftClient, tc)
	} else {
		n.transport, err = raft.NewTCPTransportWithConfig(cfg.RaftAddr, advertise, tc)
	}
	if err != nil {
		return fmt.Errorf("raft store: raft transport: %w", err)
	}

	if cfg.APIAddr != "" {
		if n.apiLis, err = net.Listen("tcp", cfg.APIAddr); err != nil {
			return fmt.Errorf("raft store: client API: %w", err)
		}
		n.apiAddr = n.apiLis.Addr().String()
		if cfg.AdvertiseAPIAddr != "" {
			n.apiAddr = cfg.AdvertiseAPIAddr
		}
	}

	n.fsm = newFSM(n.logger)
	n.fsm.notify = n.waits.deliver
	n.fsm.earlier = n.rearm
	n.fsm.removed = func(id string) {
		if id == n.cfg.NodeID {
			n.removedAt.CompareAndSwap(0, time.Now().UnixNano())
		}
	}

	rc := cfg.raftConfig(hlog)
	notify := make(chan bool, 8)
	rc.NotifyCh = notify

	n.hadState, err = raft.HasExistingState(wal, wal, snaps)
	if err != nil {
		return fmt.Errorf("raft store: read state: %w", err)
	}
	if cfg.Bootstrap {
		if !n.hadState {
			boot := raft.Configuration{Servers: []raft.Server{{
				ID: rc.LocalID, Address: n.transport.LocalAddr(), Suffrage: raft.Voter,
			}}}
			if err := raft.BootstrapCluster(rc, wal, wal, snaps, n.transport, boot); err != nil {
				return fmt.Errorf("raft store: bootstrap: %w", err)
			}
		}
	}
	n.raft, err = raft.NewRaft(rc, timedFSM{n.fsm}, wal, wal, snaps, n.transport)
	if err != nil {
		return fmt.Errorf("raft store: start raft: %w", err)
	}
	if n.peerAddrs != nil {
		n.peerAddrs.raft.Store(n.raft)
	}

	n.batch = newBatcher(n, cfg.MaxBatch, cfg.MaxInflight)
	n.wg.Add(2)
	go func() { defer n.wg.Done(); n.batch.run() }()
	go func() { defer n.wg.Done(); n.watchLeadership(notify) }()

	if n.apiLis != nil {
		// The security options come last, so that interceptors of
		// ServerOptions (metrics) see the calls the guard refuses.
		n.api = newGRPCServer(n, n.logger, append(cfg.apiServerOptions(), n.sec.serverOptions()...)...)
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := n.api.Serve(n.apiLis); err != nil && !n.closed.Load() {
				n.logger.Error("client API stopped", "error", err)
			}
		}()
	}
	n.logger.Info("raft node started", "raft", n.transport.LocalAddr(), "api", n.apiAddr, "data", cfg.DataDir)
	return nil
}

// raftConfig is the hashicorp/raft configuration of a node. Benchmarks
// build their raw-Apply baseline from it too, so the two compare alike.
func (cfg Config) raftConfig(logger hclog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = logger
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = min(cfg.HeartbeatTimeout, rc.LeaderLeaseTimeout)
	// A short commit timeout lets followers learn of commits quickly when
	// the leader is idle; under load, AppendEntries carry them anyway.
	rc.CommitTimeout = 5 * time.Millisecond
	// Let the leader take every waiting Apply in one dispatch: one disk
	// write and one replication round for all of them.
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 256
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.SnapshotInterval
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	return rc
}

// ID is the node's Raft server ID.
func (n *Node) ID() string { return n.cfg.NodeID }

// RaftAddress is the address peers reach the node's Raft transport at.
func (n *Node) RaftAddress() string { return string(n.transport.LocalAddr()) }

// APIAddress is the node's published client API address, "" if it serves
// none.
func (n *Node) APIAddress() string { return n.apiAddr }

// IsLeader reports whether the node leads its cluster and has committed the
// first entry of its term, so that it serves lock commands.
func (n *Node) IsLeader() bool {
	n.leadMu.Lock()
	ep := n.epoch
	n.leadMu.Unlock()
	if ep == nil {
		return false
	}
	select {
	case <-ep.ready:
		return true
	default:
		return false
	}
}

// WaitLeader blocks until the cluster has a leader that serves lock
// commands, as far as this node can tell, or ctx is done.
func (n *Node) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if n.IsLeader() {
			return nil
		}
		if addr, id := n.raft.LeaderWithID(); addr != "" && id != "" && string(id) != n.cfg.NodeID {
			n.fsm.mu.RLock()
			known := n.fsm.leader == string(id)
			n.fsm.mu.RUnlock()
			if known {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return backend.ContextError(ctx, "")
		case <-n.stopped:
			return closedNode("")
		case <-t.C:
		}
	}
}

// Done is closed when the node stops serving: after Close, or when raft
// shut down on its own (the node was removed from its cluster). A process
// that runs a node waits on it to exit rather than linger half alive.
func (n *Node) Done() <-chan struct{} { return n.died }

// Snapshot makes the node take a snapshot now and compact its log.
func (n *Node) Snapshot() error {
	return n.raft.Snapshot().Error()
}

// Close shuts the node down. A leader first hands leadership to a peer, so
// the cluster does not wait an election timeout. Calls blocked in the node
// fail with CodeClosed; the locks stay in the replicated state (they expire
// on the other nodes as leases do). Close is idempotent.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		n.closed.Store(true)
		if n.raft != nil && n.raft.State() == raft.Leader && n.peerCount() > 0 {
			if e := n.raft.LeadershipTransfer().Error(); e != nil {
				n.logger.Info("leadership transfer before shutdown failed", "error", e)
			}
		}
		err = n.teardown()
	})
	return err
}

// teardown stops everything that open started, in reverse order.
func (n *Node) teardown() error {
	n.closed.Store(true)
	select {
	case <-n.stopped:
	default:
		close(n.stopped)
	}
	defer n.markDied()
	if n.api != nil {
		n.api.Stop()
	} else if n.apiLis != nil {
		n.apiLis.Close()
	}
	var errs []error
	if n.raft != nil {
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, err)
		}
	}
	n.wg.Wait()
	if n.transport != nil {
		// Close the pooled connections to peers too: a peer's handler of
		// such a connection only ends when it is closed.
		n.transport.CloseStreams()
		n.transport.Close()
	}
	if n.wal != nil {
		if err := n.wal.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.meta != nil {
		if err := n.meta.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	n.logger.Info("raft node stopped")
	return errors.Join(errs...)
}

// Kill stops the node abruptly, as a crash would: no leadership transfer,
// no goodbye to peers. Tests use it to stand for a dead leader. Close after
// Kill is a no-op.
func (n *Node) Kill() {
	n.closeOnce.Do(func() { n.teardown() })
}

func (n *Node) peerCount() int {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	return len(f.Configuration().Servers) - 1
}

// markDied closes Done once.
func (n *Node) markDied() {
	n.diedOnce.Do(func() { close(n.died) })
}

// slogWriter turns hashicorp/raft's log lines into slog records.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn(strings.TrimSpace(string(p)), "component", "raft")
	return len(p), nil
}

var _ io.Writer = slogWriter{}
