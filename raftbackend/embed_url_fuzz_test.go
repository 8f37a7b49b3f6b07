package raftbackend

import (
	"errors"
	"math"
	"net/url"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// formatEmbedURL writes a raft+embed URL that sets every parameter to
// cfg's value, so that parsing it gives cfg back.
func formatEmbedURL(cfg Config) string {
	q := url.Values{}
	set := func(key, v string) {
		if v != "" {
			q.Set(key, v)
		}
	}
	set("node_id", cfg.NodeID)
	set("raft_addr", cfg.RaftAddr)
	set("api_addr", cfg.APIAddr)
	set("advertise_raft", cfg.AdvertiseRaftAddr)
	set("advertise_api", cfg.AdvertiseAPIAddr)
	set("bootstrap", strconv.FormatBool(cfg.Bootstrap))
	set("join", strings.Join(cfg.Join, ","))
	set("snapshot_threshold", strconv.FormatUint(cfg.SnapshotThreshold, 10))
	set("trailing_logs", strconv.FormatUint(cfg.TrailingLogs, 10))
	set("max_batch", strconv.Itoa(cfg.MaxBatch))
	set("max_locks", strconv.Itoa(cfg.MaxLocks))
	set("max_waiters", strconv.Itoa(cfg.MaxWaiters))
	set("max_request_bytes", strconv.Itoa(cfg.MaxRequestBytes))
	for key, d := range map[string]time.Duration{
		"heartbeat_timeout": cfg.HeartbeatTimeout, "election_timeout": cfg.ElectionTimeout,
		"min_ttl": cfg.MinTTL, "max_ttl": cfg.MaxTTL, "default_wait_timeout": cfg.DefaultWaitTimeout,
	} {
		set(key, d.String())
	}
	if cfg.SnapshotInterval > 0 {
		set("snapshot_interval", cfg.SnapshotInterval.String())
	}
	set("bind_client_ids", strconv.FormatBool(cfg.BindClientIDs))
	set("rate_limit", strconv.FormatFloat(cfg.RateLimit, 'g', -1, 64))
	set("rate_burst", strconv.Itoa(cfg.RateBurst))
	if f := cfg.TLS; f != nil {
		set("cert_file", f.CertFile)
		set("key_file", f.KeyFile)
		set("ca_file", f.CAFile)
		set("client_ca_file", f.ClientCAFile)
		set("server_name", f.ServerName)
	}
	u := url.URL{Scheme: EmbedScheme, Path: cfg.DataDir, RawQuery: q.Encode()}
	return u.String()
}

// checkEmbedConfig returns what is wrong with a Config that parseEmbedURL
// accepted, by the rules Config's fields document and StartNode relies on.
func checkEmbedConfig(cfg Config) string {
	switch {
	case !filepath.IsAbs(cfg.DataDir):
		return "data directory not absolute"
	case backend.ValidateID("node ID", cfg.NodeID) != nil:
		return "node ID not valid"
	case cfg.RaftAddr == "":
		return "no Raft address"
	case cfg.Bootstrap && len(cfg.Join) > 0:
		return "both bootstrap and join"
	case cfg.HeartbeatTimeout <= 0 || cfg.ElectionTimeout <= 0 || cfg.SnapshotInterval < 0:
		return "a Raft duration is not positive"
	case cfg.MinTTL <= 0 || cfg.MaxTTL < cfg.MinTTL || cfg.DefaultWaitTimeout <= 0:
		return "TTL range or default wait timeout not positive"
	case cfg.MaxLocks < 0 || cfg.MaxWaiters < 0 || cfg.MaxRequestBytes <= 0 || cfg.MaxBatch <= 0:
		return "a limit out of range"
	case math.IsNaN(cfg.RateLimit) || math.IsInf(cfg.RateLimit, 0) || cfg.RateLimit < 0 || cfg.RateBurst < 0,
		cfg.RateLimit > 0 && cfg.RateBurst == 0:
		return "rate limit out of range"
	case cfg.TLS != nil && cfg.TLS.check(true) != nil:
		return "TLS files a node cannot use"
	case cfg.BindClientIDs && (cfg.TLS == nil || cfg.TLS.ClientCAFile == ""):
		return "client IDs bound without client certificates"
	}
	for _, a := range cfg.Join {
		if a == "" || a != strings.TrimSpace(a) || strings.Contains(a, ",") {
			return "join address " + strconv.Quote(a)
		}
	}
	return ""
}

// FuzzParseEmbedURL parses arbitrary strings as raft+embed URLs without
// starting a node or touching the data directory. parseEmbedURL must
// never panic; it refuses a URL with a CodeInvalidArgument error that says
// what is wrong; and a URL it accepts has a query that reads cleanly (a
// malformed parameter is refused, never dropped), gives a Config that
// withDefaults keeps as it is and that keeps the rules of Config's
// fields, and written back as a URL parses to the same Config.
func FuzzParseEmbedURL(f *testing.F) {
	for _, s := range []string{
		"raft+embed:///data/x", "raft+embed:relative/dir",
		"raft+embed:///d?node_id=a&raft_addr=127.0.0.1:7000&api_addr=127.0.0.1:7100&snapshot_threshold=10&trailing_logs=5" +
			"&max_batch=8&min_ttl=50ms&max_ttl=1h&default_wait_timeout=1m&heartbeat_timeout=1s&election_timeout=1s&snapshot_interval=10s",
		"raft+embed:///d?join=h1:1,h2:2", "raft+embed:///d?bootstrap=false", "raft+embed:///tmp/x?max_locks=10&max_waiters=3&max_request_bytes=65536",
		"raft+embed:///tmp/locks?cert_file=/n.pem&key_file=/n.key&ca_file=/ca.pem&client_ca_file=/clients.pem" +
			"&server_name=locks.internal&bind_client_ids=true&rate_limit=2.5",
		"raft+embed://", "raft+embed:///d?unknown=1", "raft+embed:///d?bootstrap=maybe", "raft+embed:///d?min_ttl=-1s",
		"raft+embed:///d?min_ttl=1h&max_ttl=1m", "raft+embed:///d?snapshot_threshold=-3", "raft+embed:///d?node_id=",
		"raft+embed:///d?join=h:1&bootstrap=true", "raft+embed:///d?max_batch=x", "raft+embed:///tmp/x?max_locks=-1",
		"raft+embed:///tmp/locks?cert_file=/n.pem&ca_file=/ca.pem", "raft+embed:///tmp/locks?bind_client_ids=1",
		"raft+embed:///tmp/locks?rate_limit=fast", "raft+embed:///tmp/locks?rate_burst=2", "raft+embed:///tmp/locks?rate_limit=NaN",
		"raft+embed:///d?max_locks=%zz", "raft+embed:///d?node_id=a;max_locks=5", "raft+embed:///d?node_id=a&node_id=b",
		"raft+embed://host/rel?join=+a:1+,,b:2", "raft+embed:///d%3Fx?api_addr=%5B::1%5D:7100",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return // backend.Open refuses it before it reaches the driver
		}
		cfg, err := parseEmbedURL(u)
		if err != nil {
			var e *backend.Error
			if !errors.As(err, &e) || e.Code != backend.CodeInvalidArgument || e.Message == "" {
				t.Fatalf("parseEmbedURL(%q) failed with %#v, want CodeInvalidArgument saying why", raw, err)
			}
			return
		}
		if _, err := url.ParseQuery(u.RawQuery); err != nil {
			t.Fatalf("parseEmbedURL(%q) accepted a malformed query (%v), dropping what it could not read", raw, err)
		}
		if what := checkEmbedConfig(cfg); what != "" {
			t.Fatalf("parseEmbedURL(%q) = %+v: %s", raw, cfg, what)
		}
		if again, err := cfg.withDefaults(); err != nil || !reflect.DeepEqual(again, cfg) {
			t.Fatalf("parseEmbedURL(%q) = %+v, which withDefaults makes %+v (%v)", raw, cfg, again, err)
		}

		again := formatEmbedURL(cfg)
		u2, err := url.Parse(again)
		if err != nil {
			t.Fatalf("%q is written back as %q, which does not parse: %v", raw, again, err)
		}
		cfg2, err := parseEmbedURL(u2)
		if err != nil {
			t.Fatalf("%q is written back as %q, which parseEmbedURL refuses: %v", raw, again, err)
		}
		cfg.Logger, cfg2.Logger = nil, nil
		if !reflect.DeepEqual(cfg2, cfg) {
			t.Fatalf("%q written back as %q parses to\n%+v\nwant\n%+v", raw, again, cfg2, cfg)
		}
	})
}
