package etcdbackend_test

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

// testParallel is the -parallel the package's tests run with unless the
// command line gives one. The conformance suite's expiry tests wait out
// leases of whole seconds; with go test's default (GOMAXPROCS, often 2 on a
// CI runner) they would queue behind each other for minutes, whereas they
// mostly sleep and overlap well. Much more than 16 only loads the
// in-process server (measured on 2 cores under -race: 12s at 16 and at 32,
// 15s at 64, with fewer grants in the stress tests).
const testParallel = "16"

// TestMain raises -parallel (see testParallel), runs the tests, stops the
// in-process etcd server, and fails if any goroutine outlives them: every
// driver, client, wait and watch must be cleaned up.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", testParallel)
	}
	code := m.Run()
	stopServer()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: goroutines outlived the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// EndpointsEnv names an external etcd cluster to test against instead of
// the in-process server: comma-separated client endpoints.
const EndpointsEnv = "RAFTLOCK_ETCD_ENDPOINTS"

// server is the in-process etcd the package's tests share, started by the
// first test that needs it.
var server struct {
	once      sync.Once
	etcd      *embed.Etcd
	dir       string
	endpoints []string
	err       error
}

// endpoints returns the client endpoints of the etcd the tests use.
func endpoints(tb testing.TB) []string {
	tb.Helper()
	if env := os.Getenv(EndpointsEnv); env != "" {
		return strings.Split(env, ",")
	}
	server.once.Do(startServer)
	if server.err != nil {
		tb.Fatalf("starting an in-process etcd: %v", server.err)
	}
	return server.endpoints
}

// startServer starts a single-member etcd on free loopback ports, with its
// data in a temporary directory and its logs discarded. The short tick
// lowers etcd's minimum lease TTL (1.5 election timeouts) to one second, so
// that the suite's one-second leases are not raised to two.
func startServer() {
	dir, err := os.MkdirTemp("", "raftlock-etcd-")
	if err != nil {
		server.err = err
		return
	}
	server.dir = dir
	cfg := embed.NewConfig()
	cfg.Name = "raftlock-test"
	cfg.Dir = dir
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.TickMs, cfg.ElectionMs = 10, 100
	cfg.UnsafeNoFsync = true // the data is thrown away; fsyncs would only slow the tests
	client, peer, err := freeURL(), freeURL(), error(nil)
	if client.Host == "" || peer.Host == "" {
		server.err = fmt.Errorf("no free loopback port")
		return
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		server.err = err
		return
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		e.Close()
		server.err = fmt.Errorf("etcd did not become ready within 30s")
		return
	}
	server.etcd = e
	server.endpoints = []string{client.Host}
}

func stopServer() {
	if server.etcd != nil {
		server.etcd.Close()
	}
	if server.dir != "" {
		os.RemoveAll(server.dir)
	}
}

// freeURL returns an http URL on a loopback port that was free a moment ago.
func freeURL() url.URL {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return url.URL{}
	}
	defer l.Close()
	return url.URL{Scheme: "http", Host: l.Addr().String()}
}

// nopZap silences the raw etcd clients of the tests.
func nopZap() *zap.Logger { return zap.NewNop() }

// prefixSeq keeps the prefixes of repeated runs (-count) apart: the etcd
// member lives as long as the test binary, and a lock a run leaves held
// would otherwise meet the next run.
var prefixSeq atomic.Int64

// testPrefix is a key prefix of the test's own.
func testPrefix(t testing.TB, group string) string {
	return fmt.Sprintf("/raftlock-%s/%s/%d", group, t.Name(), prefixSeq.Add(1))
}
