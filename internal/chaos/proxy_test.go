package chaos

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// noLeaks fails the test if a goroutine started during it outlives it,
// cleanups included: it runs after every cleanup registered later.
func noLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// quiet is how long a test watches for bytes that must not arrive.
const quiet = 300 * time.Millisecond

// echoServer answers every connection with what it reads, and counts the
// connections and bytes it got.
type echoServer struct {
	lis      net.Listener
	accepted atomic.Int64
	received atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{lis: lis}
	e.wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			e.accepted.Add(1)
			e.mu.Lock()
			e.conns = append(e.conns, c)
			e.mu.Unlock()
			e.wg.Go(func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					e.received.Add(int64(n))
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		lis.Close()
		e.mu.Lock()
		for _, c := range e.conns {
			c.Close()
		}
		e.mu.Unlock()
		e.wg.Wait()
	})
	return e
}

func (e *echoServer) addr() string { return e.lis.Addr().String() }

func startProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := NewProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dialProxy(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial through the proxy: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readN reads exactly len(want) bytes within timeout and checks them.
func readN(t *testing.T, c net.Conn, want string, timeout time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(timeout))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read %q: %v (got %q)", want, err, got)
	}
	if string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
}

// readNothing checks that nothing arrives for quiet.
func readNothing(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(quiet))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %q, %v through a blocked link; want nothing", buf[:n], err)
	}
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func TestProxyRelays(t *testing.T) {
	noLeaks(t)
	e := startEcho(t)
	p := startProxy(t, e.addr())
	c := dialProxy(t, p)
	write(t, c, "ping")
	readN(t, c, "ping", 5*time.Second)
	if p.Forwarded(Forward) != 4 || p.Forwarded(Backward) != 4 || p.Accepted() != 1 || p.Conns() != 1 {
		t.Errorf("forwarded %d/%d bytes, accepted %d, open %d; want 4/4, 1, 1",
			p.Forwarded(Forward), p.Forwarded(Backward), p.Accepted(), p.Conns())
	}
}

// A blocked direction holds bytes, in order, and delivers them once open.
func TestProxyBlockHolds(t *testing.T) {
	for _, d := range []Direction{Forward, Backward} {
		t.Run(d.String(), func(t *testing.T) {
			noLeaks(t)
			e := startEcho(t)
			p := startProxy(t, e.addr())
			c := dialProxy(t, p)
			write(t, c, "open")
			readN(t, c, "open", 5*time.Second)

			p.SetBlocked(d, true)
			write(t, c, "one,")
			write(t, c, "two")
			readNothing(t, c)
			// Forward held the bytes in front of the target; backward
			// let them reach it and held the echo.
			got := e.received.Load()
			if want := map[Direction]int64{Forward: 4, Backward: 11}[d]; got != want {
				t.Errorf("the target received %d bytes, want %d", got, want)
			}

			p.SetBlocked(d, false)
			readN(t, c, "one,two", 5*time.Second)
		})
	}
}

// A connection made through a cut link is accepted, but the target hears
// of it only when the link heals.
func TestProxyConnectWhileBlocked(t *testing.T) {
	noLeaks(t)
	e := startEcho(t)
	p := startProxy(t, e.addr())
	p.SetBlocked(Backward, true)
	c := dialProxy(t, p) // accepted, not refused
	write(t, c, "early")
	readNothing(t, c)
	if n := e.accepted.Load(); n != 0 {
		t.Fatalf("the target accepted %d connections through a cut link", n)
	}
	p.Heal()
	readN(t, c, "early", 5*time.Second)
	if n := e.accepted.Load(); n != 1 {
		t.Fatalf("the target accepted %d connections after the heal, want 1", n)
	}
}

// A delay holds each chunk, both ways, without reordering a stream.
func TestProxyDelay(t *testing.T) {
	noLeaks(t)
	e := startEcho(t)
	p := startProxy(t, e.addr())
	c := dialProxy(t, p)
	const delay = 100 * time.Millisecond
	p.SetDelay(delay, 0)
	start := time.Now()
	write(t, c, "slow")
	readN(t, c, "slow", 5*time.Second)
	if rtt := time.Since(start); rtt < 2*delay {
		t.Errorf("round trip %v, want at least %v", rtt, 2*delay)
	}

	// Jitter larger than the gaps between writes must not reorder them.
	p.SetDelay(time.Millisecond, 20*time.Millisecond)
	var want strings.Builder
	for i := range 50 {
		s := fmt.Sprintf("%d,", i)
		want.WriteString(s)
		write(t, c, s)
		time.Sleep(time.Millisecond)
	}
	readN(t, c, want.String(), 10*time.Second)
}

// Close ends every connection, held bytes and all, and every goroutine.
func TestProxyClose(t *testing.T) {
	noLeaks(t)
	e := startEcho(t)
	p, err := NewProxy(e.addr())
	if err != nil {
		t.Fatal(err)
	}
	c := dialProxy(t, p)
	write(t, c, "x")
	readN(t, c, "x", 5*time.Second)
	p.SetBlocked(Forward, true)
	write(t, c, "held")
	waiting := dialProxy(t, p) // held unconnected
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, conn := range []net.Conn{c, waiting} {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := conn.Read(make([]byte, 8)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("read %d bytes, %v after Close; want the connection ended", n, err)
		}
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Error("the proxy accepts after Close")
	}
}

// A target that is down ends the dialler's connection, as a refusal would.
func TestProxyTargetDown(t *testing.T) {
	noLeaks(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	p := startProxy(t, down)
	c := dialProxy(t, p)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read %v, want EOF", err)
	}
}

// The end of one side's writes reaches the other after the bytes before
// it, and the connection ends when both sides have finished.
func TestProxyHalfClose(t *testing.T) {
	noLeaks(t)
	e := startEcho(t)
	p := startProxy(t, e.addr())
	c := dialProxy(t, p)
	write(t, c, "bye")
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, []byte("bye")) {
		t.Fatalf("read %q, %v; want the echo, then EOF", got, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.Conns() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the proxy still holds a connection both sides finished")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNetworkLinks(t *testing.T) {
	noLeaks(t)
	ids := []string{"a", "b", "c"}
	targets := map[string]string{}
	for _, id := range ids {
		targets[id] = startEcho(t).addr()
	}
	n, err := newNetwork(ids, targets)
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	if got := n.Proxy("a", "b").Target(); got != targets["b"] {
		t.Fatalf("a->b relays to %s, want b's %s", got, targets["b"])
	}
	// state lists each link's blocked directions: "a->b:fb" both ways.
	state := func() string {
		var parts []string
		for _, from := range ids {
			for _, to := range ids {
				if from == to {
					continue
				}
				p := n.Proxy(from, to)
				s := ""
				if p.Blocked(Forward) {
					s += "f"
				}
				if p.Blocked(Backward) {
					s += "b"
				}
				if s != "" {
					parts = append(parts, from+"->"+to+":"+s)
				}
			}
		}
		return strings.Join(parts, " ")
	}
	for _, tc := range []struct {
		name   string
		change func()
		want   string
		says   string
	}{
		{"partition", func() { n.Partition([]string{"a"}, []string{"b", "c"}) },
			"a->b:fb a->c:fb b->a:fb c->a:fb", "cut a->b, a->c, b->a, c->a"},
		{"partition replaces", func() { n.Partition([]string{"a", "b"}, []string{"c"}) },
			"a->c:fb b->c:fb c->a:fb c->b:fb", "cut a->c, b->c, c->a, c->b"},
		{"unnamed node alone", func() { n.Partition([]string{"a", "b"}) },
			"a->c:fb b->c:fb c->a:fb c->b:fb", "cut a->c, b->c, c->a, c->b"},
		{"isolate", func() { n.Isolate("b") },
			"a->b:fb b->a:fb b->c:fb c->b:fb", "cut a->b, b->a, b->c, c->b"},
		{"one way adds", func() { n.Partition(ids); n.OneWay("a", "b") },
			"a->b:f b->a:b", "cut a->b requests, b->a answers"},
		{"delay", func() { n.Heal(); n.Delay(10*time.Millisecond, 5*time.Millisecond) },
			"", "delay 10ms+5ms"},
		{"heal", n.Heal, "", "healthy"},
	} {
		tc.change()
		if got := state(); got != tc.want {
			t.Errorf("%s: blocked %q, want %q", tc.name, got, tc.want)
		}
		if got := n.String(); got != tc.says {
			t.Errorf("%s: String() = %q, want %q", tc.name, got, tc.says)
		}
	}
}
