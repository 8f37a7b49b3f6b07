package raftbackend

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// forwarder relays every TCP connection it accepts to target, as a proxy
// or a tunnel would. Close closes its listener and every connection, so
// that the peer behind it is cut off.
type forwarder struct {
	lis      net.Listener
	target   string
	accepted atomic.Int64

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func newForwarder(t testing.TB, target string) *forwarder {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{lis: lis, target: target, conns: make(map[net.Conn]struct{})}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(f.Close)
	return f
}

func (f *forwarder) addr() string { return f.lis.Addr().String() }

func (f *forwarder) serve() {
	defer f.wg.Done()
	for {
		in, err := f.lis.Accept()
		if err != nil {
			return
		}
		f.accepted.Add(1)
		out, err := net.DialTimeout("tcp", f.target, 5*time.Second)
		if err != nil {
			in.Close()
			continue
		}
		if !f.track(in, out) {
			return
		}
		f.wg.Add(2)
		go f.pipe(in, out)
		go f.pipe(out, in)
	}
}

// track records a connection pair, or closes it and reports false once the
// forwarder is closed.
func (f *forwarder) track(conns ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		f.conns[c] = struct{}{}
	}
	return true
}

// pipe copies one direction; when it ends, both sides are closed, as the
// peers see a connection end.
func (f *forwarder) pipe(dst, src net.Conn) {
	defer f.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

func (f *forwarder) Close() {
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.lis.Close()
	f.wg.Wait()
}

// startProxiedCluster starts three nodes whose Raft traffic to n3 goes
// through a forwarder: every node is given the same override, n3 included,
// for which it is unused. tweak, if set, changes each node's
// configuration first. n3 does not lead when it returns.
func startProxiedCluster(t *testing.T, tweak func(*Config)) (*testCluster, *forwarder) {
	t.Helper()
	// Raft ports picked in advance, so that the forwarder knows n3's
	// before n3 starts. The listeners stay open until all three are
	// picked, so that no port repeats.
	raftAddrs := map[string]string{}
	var reserved []net.Listener
	for _, id := range []string{"n1", "n2", "n3"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		raftAddrs[id] = l.Addr().String()
		reserved = append(reserved, l)
	}
	for _, l := range reserved {
		l.Close()
	}
	fwd := newForwarder(t, raftAddrs["n3"])
	c := startCluster(t, 3, func(cfg *Config) {
		if tweak != nil {
			tweak(cfg)
		}
		cfg.RaftAddr = raftAddrs[cfg.NodeID]
		cfg.RaftPeerAddrs = map[string]string{"n3": fwd.addr()}
	})
	if l := c.leader(); c.cfgs[l].NodeID == "n3" {
		if err := c.nodes[l].raft.LeadershipTransfer().Error(); err != nil {
			t.Fatal(err)
		}
		c.waitConverged()
	}
	return c, fwd
}

// waitApplied waits until node i has applied index.
func (c *testCluster) waitApplied(i int, index uint64) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for c.nodes[i].raft.AppliedIndex() < index {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s did not apply index %d within 20s (applied %d)", c.cfgs[i].NodeID, index, c.nodes[i].raft.AppliedIndex())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Both transports honour the overrides: plain TCP, and TLS, whose peer
// certificates are then verified against the forwarder's host.
func TestRaftPeerAddrs(t *testing.T) {
	t.Run("tcp", func(t *testing.T) { testRaftPeerAddrs(t, nil) })
	t.Run("tls", func(t *testing.T) {
		p := newTestPKI(t)
		testRaftPeerAddrs(t, p, p.client(p.clientCA, "alice"))
	})
}

func testRaftPeerAddrs(t *testing.T, p *testPKI, opts ...RemoteOption) {
	var tweak func(*Config)
	if p != nil {
		tweak = func(c *Config) { c.TLS = p.nodeTLS(c.NodeID) }
	}
	c, fwd := startProxiedCluster(t, tweak)
	ctx := context.Background()
	d, err := Dial(ctx, c.endpoints(0), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	acquire := func(lockID string) uint64 {
		t.Helper()
		res, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: lockID, ClientID: "c", TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return uint64(res.Lock.Version)
	}

	// n3 follows through the forwarder: the leader dials it there.
	c.waitApplied(2, acquire("through"))
	if fwd.accepted.Load() == 0 {
		t.Fatal("n3 is replicated to, but no connection went through the override address")
	}

	// Without the forwarder, n3 is cut off: the other two go on.
	fwd.Close()
	cut := acquire("cut")
	c.waitApplied(0, cut)
	c.waitApplied(1, cut)
	time.Sleep(3 * c.cfgs[0].HeartbeatTimeout)
	if got := c.nodes[2].raft.AppliedIndex(); got >= cut {
		t.Fatalf("n3 applied index %d, at or past %d, with its only route closed", got, cut)
	}
}

func TestRaftPeerAddrsInvalid(t *testing.T) {
	for _, tc := range []struct {
		name  string
		addrs map[string]string
	}{
		{"empty ID", map[string]string{"": "127.0.0.1:7000"}},
		{"NUL in ID", map[string]string{"n\x002": "127.0.0.1:7000"}},
		{"no port", map[string]string{"n2": "127.0.0.1"}},
		{"empty port", map[string]string{"n2": "127.0.0.1:"}},
		{"empty host", map[string]string{"n2": ":7000"}},
		{"empty address", map[string]string{"n2": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "n1")
			cfg.Bootstrap = true
			cfg.RaftPeerAddrs = tc.addrs
			n, err := StartNode(context.Background(), cfg)
			if err == nil {
				n.Close()
				t.Fatal("started")
			}
			var be *backend.Error
			if !errors.As(err, &be) || be.Code != backend.CodeInvalidArgument {
				t.Fatalf("error %v, want CodeInvalidArgument", err)
			}
		})
	}
}
