package raftbackend

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// The default TTL range. A lease shorter than a few commit latencies could
// end before its holder hears of it, hence the floor.
const (
	DefaultMinTTL = 10 * time.Millisecond
	DefaultMaxTTL = 24 * time.Hour
)

// Config describes one node of a Raft store.
type Config struct {
	// NodeID is the node's Raft server ID, unique in its cluster and kept
	// across restarts. Required.
	NodeID string
	// DataDir holds the node's log (raft-wal), its stable store and its
	// snapshots. Required; created if missing.
	DataDir string

	// RaftAddr is the TCP address the node's Raft transport listens on
	// ("127.0.0.1:7000"; port 0 picks a free port). Default "127.0.0.1:0".
	RaftAddr string
	// AdvertiseRaftAddr is the Raft address peers dial, when it differs from
	// the listener's (behind NAT, or a listener on 0.0.0.0).
	AdvertiseRaftAddr string
	// APIAddr is the TCP address of the node's gRPC client API; "" serves
	// none (a single embedded node needs none). Port 0 picks a free port.
	APIAddr string
	// AdvertiseAPIAddr is the client API address published to clients and
	// peers, when it differs from the listener's.
	AdvertiseAPIAddr string

	// Bootstrap makes a node without state the first member of a new
	// cluster. A node with state ignores it.
	Bootstrap bool
	// Join lists client API addresses of existing members; a node that is
	// not yet a member asks them, in turn, to add it as a voter.
	Join []string

	// SnapshotThreshold is how many log entries since the last snapshot
	// trigger a new one; SnapshotInterval how often that is checked;
	// TrailingLogs how many entries stay in the log after a snapshot, so
	// that slow followers catch up from the log. Zero takes hashicorp/raft's
	// defaults (8192, 120s, 10240).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// SnapshotRetain is how many snapshots stay on disk. Default 2.
	SnapshotRetain int

	// HeartbeatTimeout and ElectionTimeout bound how fast a dead leader is
	// replaced. Defaults: 500ms and 500ms, suited to a LAN.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration

	// MinTTL and MaxTTL bound lock TTLs. Defaults: DefaultMinTTL and
	// DefaultMaxTTL.
	MinTTL, MaxTTL time.Duration
	// DefaultWaitTimeout is the wait timeout of an Enqueue that names none.
	// Default one minute, as in the memory store.
	DefaultWaitTimeout time.Duration

	// MaxBatch bounds the commands packed into one log entry. Default 256.
	MaxBatch int
	// MaxInflight bounds the entries the node has proposed and not yet seen
	// applied; while they are in flight, new commands gather into the next
	// entry. Default 1: on a disk whose fsync dominates a commit, one entry
	// in flight gathers the most commands per fsync (measured at 16
	// clients on 3 nodes: about 8 commands an entry against 5 with 2 in
	// flight, and more pairs/s). A lone client pays no wait either way.
	MaxInflight int

	// Logger receives the node's logs (and hashicorp/raft's warnings).
	// Default: discard.
	Logger *slog.Logger
}

// withDefaults fills the zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if e := backend.ValidateID("node ID", c.NodeID); e != nil {
		return c, e
	}
	if c.DataDir == "" {
		return c, backend.Errorf(backend.CodeInvalidArgument, "raft store: DataDir is required")
	}
	if c.RaftAddr == "" {
		c.RaftAddr = "127.0.0.1:0"
	}
	if c.SnapshotRetain <= 0 {
		c.SnapshotRetain = 2
	}
	if c.HeartbeatTimeout <= 0 {
		c.HeartbeatTimeout = 500 * time.Millisecond
	}
	if c.ElectionTimeout <= 0 {
		c.ElectionTimeout = 500 * time.Millisecond
	}
	if c.MinTTL <= 0 {
		c.MinTTL = DefaultMinTTL
	}
	if c.MaxTTL <= 0 {
		c.MaxTTL = DefaultMaxTTL
	}
	if c.MinTTL > c.MaxTTL {
		return c, backend.Errorf(backend.CodeInvalidArgument, "raft store: MinTTL %v above MaxTTL %v", c.MinTTL, c.MaxTTL)
	}
	if c.DefaultWaitTimeout <= 0 {
		c.DefaultWaitTimeout = time.Minute
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 256
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Bootstrap && len(c.Join) > 0 {
		return c, backend.Errorf(backend.CodeInvalidArgument, "raft store: Bootstrap and Join exclude each other")
	}
	return c, nil
}

func (c Config) String() string {
	return fmt.Sprintf("node %s (raft %s, api %s, data %s)", c.NodeID, c.RaftAddr, c.APIAddr, c.DataDir)
}
