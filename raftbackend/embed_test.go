package raftbackend

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/backend"
)

type redirects struct {
	mu   sync.Mutex
	hops [][2]string
}

func (r *redirects) LeaderRedirect(from, to string) {
	r.mu.Lock()
	r.hops = append(r.hops, [2]string{from, to})
	r.mu.Unlock()
}
func (r *redirects) Connections(int) {}

// TestEmbeddedFollowerForwardsToLeader: an application replica whose
// embedded node follows still takes locks, through the leader's API.
func TestEmbeddedFollowerForwardsToLeader(t *testing.T) {
	c := startCluster(t, 3, nil)
	f := c.nodes[c.follower()]
	leader := c.nodes[c.leader()]
	d := f.NewDriver()
	defer d.Close()
	obs := &redirects{}
	d.SetObserver(obs)
	ctx := context.Background()
	r, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "fwd", ClientID: "app-2", TTL: time.Minute, RequestID: "fwd-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Release(ctx, &backend.ReleaseRequest{LockID: "fwd", ClientID: "app-2", Version: r.Lock.Version}); err != nil {
		t.Fatal(err)
	}
	if d.LeaderAddress() != leader.APIAddress() {
		t.Fatalf("LeaderAddress %q, want %q", d.LeaderAddress(), leader.APIAddress())
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.hops) != 1 || obs.hops[0] != [2]string{f.APIAddress(), leader.APIAddress()} {
		t.Fatalf("redirects %v", obs.hops)
	}
}

func TestOpenEmbeddedSharesOneNodePerDataDir(t *testing.T) {
	dir := t.TempDir()
	u := "raft+embed://" + filepath.ToSlash(dir) + "?heartbeat_timeout=100ms&election_timeout=100ms"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d1, err := backend.Open(ctx, u, backend.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := backend.Open(ctx, u, backend.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d1.(*EmbeddedDriver).Node() != d2.(*EmbeddedDriver).Node() {
		t.Fatal("two drivers of one data directory run two nodes")
	}
	if _, err := backend.Open(ctx, "raft+embed://"+filepath.ToSlash(dir)+"?node_id=other", backend.OpenOptions{}); !errors.Is(err, backend.ErrInvalidArgument) {
		t.Fatalf("a second open with other options: %v", err)
	}
	g, err := d1.Acquire(ctx, &backend.AcquireRequest{LockID: "x", ClientID: "one", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Acquire(ctx, &backend.AcquireRequest{LockID: "x", ClientID: "two", TTL: time.Minute}); !errors.Is(err, backend.ErrLockHeld) {
		t.Fatalf("second client: %v", err)
	}
	d1.Close()
	if _, err := d1.Get(ctx, &backend.GetRequest{LockID: "x"}); !errors.Is(err, backend.ErrClientClosed) {
		t.Fatalf("closed driver: %v", err)
	}
	// The node lives on with d2, and the lock with it.
	info, err := d2.Get(ctx, &backend.GetRequest{LockID: "x"})
	if err != nil || info.Version != g.Lock.Version {
		t.Fatalf("after the first driver closed: %+v, %v", info, err)
	}
	n := d2.(*EmbeddedDriver).Node()
	d2.Close()
	if !n.closed.Load() {
		t.Fatal("the node outlived its last driver")
	}

	// Reopened from disk: the grant is still there.
	d3, err := backend.Open(ctx, u, backend.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d3.Close()
	info, err = d3.Get(ctx, &backend.GetRequest{LockID: "x"})
	if err != nil || info.Owner != "one" || info.Version != g.Lock.Version {
		t.Fatalf("after reopening: %+v, %v", info, err)
	}
}

func TestParseEmbedURL(t *testing.T) {
	good := []string{
		"raft+embed:///data/x",
		"raft+embed:relative/dir",
		"raft+embed:///d?node_id=a&raft_addr=127.0.0.1:7000&api_addr=127.0.0.1:7100&snapshot_threshold=10&trailing_logs=5&max_batch=8&min_ttl=50ms&max_ttl=1h&default_wait_timeout=1m&heartbeat_timeout=1s&election_timeout=1s&snapshot_interval=10s",
		"raft+embed:///d?join=h1:1,h2:2",
		"raft+embed:///d?bootstrap=false",
	}
	for _, s := range good {
		u, _ := url.Parse(s)
		if _, err := parseEmbedURL(u); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	bad := []string{
		"raft+embed://",
		"raft+embed:///d?unknown=1",
		"raft+embed:///d?bootstrap=maybe",
		"raft+embed:///d?min_ttl=-1s",
		"raft+embed:///d?min_ttl=1h&max_ttl=1m",
		"raft+embed:///d?snapshot_threshold=-3",
		"raft+embed:///d?node_id=",
		"raft+embed:///d?join=h:1&bootstrap=true",
		"raft+embed:///d?max_batch=x",
	}
	for _, s := range bad {
		u, _ := url.Parse(s)
		if _, err := parseEmbedURL(u); !errors.Is(err, backend.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", s, err)
		}
	}
}

func TestStartNodeRejectsBadConfig(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []Config{
		{},
		{NodeID: "n1"},
		{NodeID: "n1", DataDir: t.TempDir(), MinTTL: time.Hour, MaxTTL: time.Minute},
		{NodeID: "n1", DataDir: t.TempDir(), Bootstrap: true, Join: []string{"x:1"}},
	} {
		if _, err := StartNode(ctx, cfg); !errors.Is(err, backend.ErrInvalidArgument) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

// TestClientMetricsCountRedirects: the portable client, opened on a
// follower's address, counts the redirect its driver followed.
func TestClientMetricsCountRedirects(t *testing.T) {
	c := startCluster(t, 3, nil)
	ctx := context.Background()
	cl, err := raftlock.Open(ctx, "raft://"+c.nodes[c.follower()].APIAddress())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	g, err := cl.Acquire(ctx, &raftlock.AcquireRequest{LockID: "m", ClientID: "c", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Release(ctx, &raftlock.ReleaseRequest{LockID: "m", ClientID: "c", Version: g.Version}); err != nil {
		t.Fatal(err)
	}
	if n := cl.GetMetrics().GetLeaderRedirectCount(); n != 1 {
		t.Fatalf("%d redirects counted, want 1 (the second call goes to the known leader)", n)
	}
	if cl.GetLeaderAddress() != c.nodes[c.leader()].APIAddress() {
		t.Fatalf("leader address %q", cl.GetLeaderAddress())
	}
}
