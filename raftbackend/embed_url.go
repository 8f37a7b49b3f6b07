package raftbackend

import (
	"context"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// EmbedScheme is the URL scheme of an embedded node:
//
//	raft+embed:///var/lib/app/locks?node_id=app-1&raft_addr=10.0.0.5:7000&api_addr=10.0.0.5:7100&join=10.0.0.4:7100
//
// The path is the node's data directory. Without join the node bootstraps
// a cluster of its own (a single node, the default). Every driver opened in
// one process with the same data directory shares one node, which closes
// with the last of them. Query parameters (all optional):
//
//	node_id              Raft server ID (default "node1")
//	raft_addr            Raft listen address (default 127.0.0.1:0)
//	api_addr             gRPC client API listen address (default: none)
//	advertise_raft       Raft address published to peers
//	advertise_api        client API address published to clients
//	bootstrap            true/false (default true without join)
//	join                 client API addresses of members, comma-separated
//	snapshot_threshold   entries between snapshots
//	snapshot_interval    how often the threshold is checked (Go duration)
//	trailing_logs        entries kept after a snapshot
//	heartbeat_timeout, election_timeout    Go durations
//	min_ttl, max_ttl, default_wait_timeout Go durations
//	max_batch            commands per log entry
//	max_locks, max_waiters   store limits, 0 for none (see Config.MaxLocks)
//	max_request_bytes    largest client API message (see Config.MaxRequestBytes)
//	cert_file, key_file  PEM certificate and key of the node (TLS on both listeners, see Config.TLS)
//	ca_file              PEM CAs of the nodes' certificates
//	client_ca_file       PEM CAs of client certificates: the client API requires one (mutual TLS)
//	server_name          name to verify peers' certificates against, when not the host dialled
//	bind_client_ids      true to bind client IDs to client certificates (see Config.BindClientIDs)
//	rate_limit, rate_burst   calls per second per client, and bursts (see Config.RateLimit)
const EmbedScheme = "raft+embed"

func init() {
	backend.Register(EmbedScheme, openEmbedded)
}

// embedded holds the nodes opened from raft+embed URLs, by data directory.
var embedded = struct {
	sync.Mutex
	m map[string]*sharedNode
}{m: make(map[string]*sharedNode)}

type sharedNode struct {
	node  *Node
	query string // the URL's query, which a second open must repeat
	refs  int
}

func openEmbedded(ctx context.Context, u *url.URL, opts backend.OpenOptions) (backend.Driver, error) {
	cfg, err := parseEmbedURL(u)
	if err != nil {
		return nil, err
	}
	if opts.Logger != nil {
		cfg.Logger = opts.Logger
	}
	embedded.Lock()
	defer embedded.Unlock()
	sn := embedded.m[cfg.DataDir]
	if sn == nil {
		n, err := StartNode(ctx, cfg)
		if err != nil {
			return nil, err
		}
		if err := n.WaitLeader(ctx); err != nil {
			n.Close()
			return nil, &backend.Error{Code: backend.CodeUnavailable, Message: "the embedded node found no leader", Err: err}
		}
		sn = &sharedNode{node: n, query: u.RawQuery}
		embedded.m[cfg.DataDir] = sn
	} else if sn.query != u.RawQuery {
		return nil, backend.Errorf(backend.CodeInvalidArgument,
			"raft+embed: %s is already open in this process with other options", cfg.DataDir)
	}
	sn.refs++
	d := sn.node.NewDriver()
	d.onClose = func() {
		embedded.Lock()
		sn.refs--
		last := sn.refs == 0
		if last {
			delete(embedded.m, cfg.DataDir)
		}
		embedded.Unlock()
		if last {
			sn.node.Close()
		}
	}
	return d, nil
}

// parseEmbedURL reads a raft+embed URL into a node Config.
func parseEmbedURL(u *url.URL) (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, backend.Errorf(backend.CodeInvalidArgument, "raft+embed URL: "+format, args...)
	}
	dir := u.Opaque
	if dir == "" {
		dir = u.Host + u.Path
	}
	if dir == "" {
		return bad("the data directory is missing (raft+embed:///path/to/data)")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return bad("data directory %q: %v", dir, err)
	}
	// Not u.Query(), which drops a pair it cannot read: a typo would
	// silently lose a limit or a TLS file.
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("query: %v", err)
	}
	cfg := Config{NodeID: "node1", DataDir: abs}
	bootstrap := ""
	var tlsFiles TLSFiles
	for key, vals := range q {
		v := vals[len(vals)-1]
		var err error
		if tlsFiles.setURLParam(key, v, true) {
			continue
		}
		switch key {
		case "bind_client_ids":
			cfg.BindClientIDs, err = strconv.ParseBool(v)
		case "rate_limit":
			cfg.RateLimit, err = strconv.ParseFloat(v, 64)
		case "rate_burst":
			cfg.RateBurst, err = nonNegativeInt(v)
		case "node_id":
			cfg.NodeID = v
		case "raft_addr":
			cfg.RaftAddr = v
		case "api_addr":
			cfg.APIAddr = v
		case "advertise_raft":
			cfg.AdvertiseRaftAddr = v
		case "advertise_api":
			cfg.AdvertiseAPIAddr = v
		case "bootstrap":
			bootstrap = v
			_, err = strconv.ParseBool(v)
		case "join":
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); a != "" {
					cfg.Join = append(cfg.Join, a)
				}
			}
		case "snapshot_threshold":
			cfg.SnapshotThreshold, err = strconv.ParseUint(v, 10, 64)
		case "trailing_logs":
			cfg.TrailingLogs, err = strconv.ParseUint(v, 10, 64)
		case "max_batch":
			cfg.MaxBatch, err = strconv.Atoi(v)
		case "max_locks":
			cfg.MaxLocks, err = nonNegativeInt(v)
		case "max_waiters":
			cfg.MaxWaiters, err = nonNegativeInt(v)
		case "max_request_bytes":
			cfg.MaxRequestBytes, err = nonNegativeInt(v)
		case "snapshot_interval":
			cfg.SnapshotInterval, err = positiveDuration(v)
		case "heartbeat_timeout":
			cfg.HeartbeatTimeout, err = positiveDuration(v)
		case "election_timeout":
			cfg.ElectionTimeout, err = positiveDuration(v)
		case "min_ttl":
			cfg.MinTTL, err = positiveDuration(v)
		case "max_ttl":
			cfg.MaxTTL, err = positiveDuration(v)
		case "default_wait_timeout":
			cfg.DefaultWaitTimeout, err = positiveDuration(v)
		default:
			return bad("unknown parameter %q", key)
		}
		if err != nil {
			return bad("parameter %s=%q: %v", key, v, err)
		}
	}
	if tlsFiles != (TLSFiles{}) {
		cfg.TLS = &tlsFiles
	}
	cfg.Bootstrap = len(cfg.Join) == 0
	if bootstrap != "" {
		cfg.Bootstrap, _ = strconv.ParseBool(bootstrap)
	}
	return cfg.withDefaults()
}

func nonNegativeInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err == nil && n < 0 {
		return 0, strconv.ErrRange
	}
	return n, err
}

func positiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err == nil && d <= 0 {
		return 0, strconv.ErrRange
	}
	return d, err
}
