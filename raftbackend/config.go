package raftbackend

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"google.golang.org/grpc"

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

	// RaftPeerAddrs makes the node dial the Raft peer with a given server
	// ID at another address than the one in the cluster configuration: a
	// proxy, a tunnel, a NAT hairpin. Keys are server IDs, values
	// host:port. A peer without an entry is dialled at its configured
	// address; an entry for the node itself is unused, so every node may
	// be given the same map. Only this node's dials change: the cluster
	// configuration, which every node replicates, keeps the addresses the
	// peers advertise, and the peers dial this node as before. Under TLS,
	// a peer's certificate is verified against the host dialled, the
	// override's, unless TLSFiles.ServerName (or ClientTLS.ServerName)
	// names another.
	RaftPeerAddrs map[string]string

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

	// MaxLocks bounds the lock IDs held (or waited on) at once in the whole
	// store: an Acquire or Enqueue that would add one more fails with
	// CodeResourceExhausted. MaxWaiters bounds each lock's wait queue: a
	// client that would join a full queue fails with CodeWaitQueueFull.
	// Either way nothing changes. Zero means no limit, the default;
	// negative values are refused.
	//
	// The limits change what the state machine answers, so they are
	// replicated state rather than a node's own setting: a node writes its
	// limits into the first log entry of each term it leads, and every node
	// enforces them from that entry on. When the nodes of a cluster are
	// configured differently, the leader's limits apply for as long as it
	// leads. Lowering a limit ends nothing: locks and waiters beyond it
	// stay, and new ones are refused until there is room. A node's Status
	// shows the limits in force (Details "max_locks" and "max_waiters").
	MaxLocks, MaxWaiters int

	// MaxRequestBytes bounds the size of one message the client API
	// accepts; a larger one fails with CodeResourceExhausted on the client,
	// before the node buffers or decodes it. Default
	// DefaultMaxRequestBytes. A value below the largest valid request
	// (just over 5 KiB, see DefaultMaxRequestBytes) refuses some valid
	// requests.
	MaxRequestBytes int

	// MaxBatch bounds the commands packed into one log entry. Default 256.
	MaxBatch int
	// MaxInflight bounds the entries the node has proposed and not yet seen
	// applied; while they are in flight, new commands gather into the next
	// entry. Default 1: on a disk whose fsync dominates a commit, one entry
	// in flight gathers the most commands per fsync (measured at 16
	// clients on 3 nodes: about 8 commands an entry against 5 with 2 in
	// flight, and more pairs/s). A lone client pays no wait either way.
	MaxInflight int

	// TLS secures both of the node's listeners, the client API and the
	// Raft transport, with certificates read from files and read again
	// when they change (see TLSFiles). Raft traffic is then mutual TLS:
	// nodes accept and dial only peers whose certificates CAFile's CAs
	// signed. The node's own connections to client APIs (status of its
	// peers, join, an embedded driver forwarding to the leader) present
	// its certificate too. nil, with ServerTLS nil: plaintext everywhere.
	TLS *TLSFiles
	// ServerTLS and ClientTLS secure the node like TLS, with certificates
	// the program manages (and reloads, through GetCertificate,
	// GetConfigForClient or GetClientCertificate). ServerTLS serves both
	// listeners; on the Raft listener the node requires a client
	// certificate signed by ClientTLS.RootCAs, whatever ServerTLS says.
	// ClientTLS dials peers, Raft and API alike, and its RootCAs are
	// required. Both or neither, and not with TLS.
	ServerTLS, ClientTLS *tls.Config

	// BindClientIDs binds the client IDs of lock calls to client
	// certificates: a call that names a client ID (Acquire, Release,
	// Renew, Enqueue, CancelWait) is refused, with CodeInvalidArgument and
	// nothing changed, unless the ID belongs to the identity of the
	// caller's verified certificate (see CertificateIdentity and
	// ClientIDBelongsTo: "alice" may use "alice" and "alice/job1"). So a
	// client cannot release, renew or cancel another's lock or wait even
	// if it learns its client ID and version. Needs mutual TLS on the
	// client API. Calls of an embedded driver are bound to the identity
	// of the node's own certificate, on the node and on the leader it
	// forwards them to. Reads and admin calls name no client ID and are
	// not bound (see AdminIdentities). Set it alike on every node of a
	// cluster.
	BindClientIDs bool
	// AdminIdentities lists the client certificate identities that may
	// make operator calls (Join, Leave, ForceRelease) through the client
	// API when it requires client certificates; the nodes themselves (a
	// certificate their CAs verify) always may. Give clients certificates
	// from a CA of their own (TLSFiles.ClientCAFile), or every client
	// counts as a node. Without client certificates on the API, operator
	// calls are open to whoever reaches it, as every other call is.
	AdminIdentities []string

	// RateLimit bounds the calls each client makes to this node's client
	// API, in calls per second on average, with bursts of up to RateBurst
	// (default: RateLimit rounded up). A client is its certificate's
	// identity under mutual TLS, else the client ID its call names, else
	// its IP address. A call over the limit fails with CodeRateLimit and a
	// RetryAfter of the time until the client may call again, which the
	// client's retry policy waits. GetCapabilities and Health are not
	// counted. 0: no limit.
	RateLimit float64
	RateBurst int

	// Logger receives the node's logs (and hashicorp/raft's warnings).
	// Default: discard.
	Logger *slog.Logger

	// ServerOptions are added to the gRPC server of the client API, after
	// the node's own (keep-alive enforcement and pings), so they may
	// override them. Several parts of a program may each append to it:
	// install interceptors with grpc.ChainUnaryInterceptor and
	// grpc.ChainStreamInterceptor, which combine (the first appended runs
	// outermost), never with grpc.UnaryInterceptor or
	// grpc.StreamInterceptor, which may be set only once per server.
	ServerOptions []grpc.ServerOption
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
	if c.MaxLocks < 0 || c.MaxWaiters < 0 {
		return c, backend.Errorf(backend.CodeInvalidArgument, "raft store: MaxLocks %d and MaxWaiters %d must not be negative (0 means no limit)", c.MaxLocks, c.MaxWaiters)
	}
	switch {
	case c.MaxRequestBytes < 0:
		return c, backend.Errorf(backend.CodeInvalidArgument, "raft store: MaxRequestBytes %d is negative", c.MaxRequestBytes)
	case c.MaxRequestBytes == 0:
		c.MaxRequestBytes = DefaultMaxRequestBytes
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
	if e := checkPeerAddrs(c.RaftPeerAddrs); e != nil {
		return c, e
	}
	// The node's own copy: a caller that changes its map after the start
	// changes nothing under the transport.
	c.RaftPeerAddrs = maps.Clone(c.RaftPeerAddrs)
	if c.Bootstrap && len(c.Join) > 0 {
		return c, backend.Errorf(backend.CodeInvalidArgument, "raft store: Bootstrap and Join exclude each other")
	}
	if e := c.checkSecurity(); e != nil {
		return c, e
	}
	return c, nil
}

func (c Config) String() string {
	return fmt.Sprintf("node %s (raft %s, api %s, data %s)", c.NodeID, c.RaftAddr, c.APIAddr, c.DataDir)
}
