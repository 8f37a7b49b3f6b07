package redisbackend

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"go.uber.org/goleak"
)

// TestMain runs the tests against one Redis for the whole package, stops
// it, and then fails if any goroutine outlived the tests: drivers, their
// subscriptions and the calls blocked in them must all be cleaned up.
func TestMain(m *testing.M) {
	// go-redis logs every failed dial; the tests that dial nowhere on
	// purpose would fill the output.
	redis.SetLogger(quietLogger{})
	code := m.Run()
	srv.stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// testServer is the package's Redis, started by the first test that
// needs it.
type testServer struct {
	once sync.Once
	addr string
	skip string // why there is no server
	kill func()
}

var srv testServer

func (s *testServer) stop() {
	if s.kill != nil {
		s.kill()
	}
}

// redisAddr returns the address of a Redis for the tests: a redis-server
// from PATH, else a container when a Docker engine answers. Without either
// the test is skipped, or fails when RAFTLOCK_REQUIRE_SERVERS=1 (as in
// CI).
func redisAddr(tb testing.TB) string {
	tb.Helper()
	srv.once.Do(srv.start)
	if srv.addr == "" {
		if os.Getenv("RAFTLOCK_REQUIRE_SERVERS") == "1" {
			tb.Fatalf("no Redis server (RAFTLOCK_REQUIRE_SERVERS=1): %s", srv.skip)
		}
		tb.Skipf("no Redis server: %s", srv.skip)
	}
	return srv.addr
}

func (s *testServer) start() {
	path, err := exec.LookPath("redis-server")
	if err == nil {
		s.addr, s.kill, err = startProcess(path)
		if err == nil {
			return
		}
		s.skip = "redis-server from PATH did not start: " + err.Error()
		return
	}
	s.addr, s.kill, err = startContainer()
	if err != nil {
		s.skip = "redis-server is not on PATH and no Docker engine answers (" + err.Error() + ")"
	}
}

// startProcess runs redis-server on a free loopback port, without
// persistence.
func startProcess(path string) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	dir, err := os.MkdirTemp("", "redisbackend-test-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	kill := func() {
		_ = cmd.Process.Kill()
		<-exited
		os.RemoveAll(dir)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := waitPing(addr, exited); err != nil {
		kill()
		return "", nil, err
	}
	return addr, kill, nil
}

// waitPing waits until Redis at addr answers.
func waitPing(addr string, exited <-chan struct{}) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	limit := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited: %v", err)
		default:
		}
		if time.Now().After(limit) {
			return fmt.Errorf("redis-server does not answer at %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startContainer runs Redis in Docker through testcontainers-go, if an
// engine answers. testcontainers panics in some setups without Docker;
// that is a skip too.
func startContainer() (addr string, kill func(), err error) {
	defer func() {
		if p := recover(); p != nil {
			addr, kill, err = "", nil, fmt.Errorf("testcontainers: %v", p)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := testcontainers.ProviderDefault.GetProvider()
	if err != nil {
		return "", nil, err
	}
	defer p.Close()
	if err := p.Health(ctx); err != nil {
		return "", nil, err
	}
	c, err := testcontainers.Run(ctx, "redis:7",
		testcontainers.WithExposedPorts("6379/tcp"),
		testcontainers.WithCmd("redis-server", "--save", "", "--appendonly", "no"),
		testcontainers.WithWaitStrategy(wait.ForListeningPort("6379/tcp")))
	if err != nil {
		return "", nil, err
	}
	kill = func() { _ = testcontainers.TerminateContainer(c) }
	addr, err = c.PortEndpoint(ctx, "6379/tcp", "")
	if err != nil {
		kill()
		return "", nil, err
	}
	return addr, kill, nil
}

// rawClient is a plain client of the test server, for tests that reach
// behind the driver.
func rawClient(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: redisAddr(tb)})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// openDriver opens a driver to the test server under prefix.
func openDriver(tb testing.TB, prefix string, opts Options) *Driver {
	tb.Helper()
	opts.Addrs = []string{redisAddr(tb)}
	opts.Prefix = prefix
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := Open(ctx, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = d.Close() })
	return d
}

// uniquePrefix returns a prefix no other test uses.
var prefixSeq struct {
	sync.Mutex
	n int
}

func uniquePrefix(name string) string {
	prefixSeq.Lock()
	defer prefixSeq.Unlock()
	prefixSeq.n++
	return fmt.Sprintf("test-%s-%d-%d", name, time.Now().UnixNano(), prefixSeq.n)
}
