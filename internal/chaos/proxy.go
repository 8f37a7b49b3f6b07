package chaos

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Direction is one way through a Proxy.
type Direction int

const (
	// Forward carries bytes from the side that dialled the proxy to the
	// target: a Raft transport's requests.
	Forward Direction = iota
	// Backward carries bytes from the target back to the dialler: the
	// answers to those requests.
	Backward
)

// String implements fmt.Stringer.
func (d Direction) String() string {
	if d == Forward {
		return "forward"
	}
	return "backward"
}

// Proxy settings. A chunk is what one read returns; the queue between the
// reader and the writer of a direction holds a few, so that a blocked
// direction pushes back on the sender (its socket buffers fill, then its
// writes block) instead of the proxy buffering without bound.
const (
	proxyChunk       = 16 << 10
	proxyQueue       = 16
	proxyDialTimeout = 5 * time.Second
)

// Proxy relays TCP connections from its own loopback address to a target,
// and can block either direction and delay both, to imitate a network
// that partitions and lags.
//
// A blocked direction imitates a link that drops every packet: bytes are
// neither forwarded nor lost. They wait in the proxy and behind it, in the
// sender's socket buffers, and go on, in order, when the direction opens
// again. That is what TCP does across a real partition: it retransmits
// until the link returns, so a connection that outlives the partition
// delivers everything late, and only the applications' own deadlines (a
// Raft transport's I/O timeout) end connections. Dropping bytes instead
// would leave a gap that no real TCP stream has; closing connections at
// once would tell both ends what a partition hides from them.
//
// A connection made while either direction is blocked is accepted (the
// dialler sees its connect succeed, not a refusal, which would reveal the
// cut) but the target is not dialled until both directions are open: a
// partition drops the SYN or the SYN-ACK, so no connection reaches the
// target. What the dialler writes meanwhile waits.
//
// A delay holds each chunk for the delay plus a random share of the jitter
// from the moment it was read, keeping chunks in order; chunks in flight
// overlap, so a delayed link has latency, not a lower throughput.
//
// When either end closes, the proxy passes the close on (a half close
// after the bytes still queued); when either end fails, it closes both.
// When the target cannot be dialled (its process is down), the dialler's
// connection is closed, as a refused connection would end.
type Proxy struct {
	target string
	lis    net.Listener
	ctx    context.Context // ends with Close; cancels dials to the target
	cancel context.CancelFunc

	mu      sync.Mutex
	blocked [2]bool // by Direction
	delay   time.Duration
	jitter  time.Duration
	changed chan struct{} // closed and replaced at every change of the above
	conns   map[*proxyConn]struct{}
	closed  bool

	accepted  atomic.Int64
	forwarded [2]atomic.Int64 // bytes delivered, by Direction

	wg sync.WaitGroup // the accept loop and every connection's goroutines
}

// NewProxy starts a proxy on a free loopback port that relays to target
// (host:port). Close stops it.
func NewProxy(target string) (*Proxy, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		target:  target,
		lis:     lis,
		ctx:     ctx,
		cancel:  cancel,
		changed: make(chan struct{}),
		conns:   make(map[*proxyConn]struct{}),
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address to dial instead of the target.
func (p *Proxy) Addr() string { return p.lis.Addr().String() }

// Target is the address the proxy relays to.
func (p *Proxy) Target() string { return p.target }

// SetBlocked blocks or opens one direction, for the connections open now
// and those to come.
func (p *Proxy) SetBlocked(d Direction, blocked bool) {
	p.update(func() { p.blocked[d] = blocked })
}

// Blocked reports whether direction d is blocked.
func (p *Proxy) Blocked(d Direction) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.blocked[d]
}

// SetDelay delays every chunk, both ways, by delay plus a uniformly random
// duration up to jitter. Zero for both removes the delay.
func (p *Proxy) SetDelay(delay, jitter time.Duration) {
	p.update(func() { p.delay, p.jitter = max(delay, 0), max(jitter, 0) })
}

// Heal opens both directions and removes the delay.
func (p *Proxy) Heal() {
	p.update(func() {
		p.blocked = [2]bool{}
		p.delay, p.jitter = 0, 0
	})
}

// update changes the settings under the lock and wakes whoever waits on
// them.
func (p *Proxy) update(change func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	change()
	close(p.changed)
	p.changed = make(chan struct{})
}

// Accepted is how many connections the proxy has accepted.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// Forwarded is how many bytes the proxy has delivered in direction d.
func (p *Proxy) Forwarded(d Direction) int64 { return p.forwarded[d].Load() }

// Conns is how many connections are relayed now.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close stops accepting, closes every connection, both ends, and returns
// once every goroutine of the proxy has ended. Bytes still held are lost.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	p.cancel()
	err := p.lis.Close()
	for _, c := range conns {
		c.teardown()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.lis.Accept()
		if err != nil {
			// Close, or a listener that cannot go on: either way, no
			// more connections.
			return
		}
		p.accepted.Add(1)
		p.wg.Add(1)
		go p.relay(client)
	}
}

// relay carries one connection: it waits until the link is open, dials
// the target, then pumps both directions until both have ended.
func (p *Proxy) relay(client net.Conn) {
	defer p.wg.Done()
	if !p.waitOpen(p.ctx.Done(), Forward, Backward) {
		client.Close()
		return
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(p.ctx, proxyDialTimeout)
	server, err := d.DialContext(dctx, "tcp", p.target)
	cancel()
	if err != nil {
		client.Close()
		return
	}
	c := &proxyConn{p: p, client: client, server: server, stop: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.teardown()
		return
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()

	var pumps sync.WaitGroup
	pumps.Add(2)
	go func() { defer pumps.Done(); c.pump(Forward, client, server) }()
	go func() { defer pumps.Done(); c.pump(Backward, server, client) }()
	pumps.Wait()
	c.teardown()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// waitOpen waits until none of dirs is blocked, and reports false if stop
// was closed first.
func (p *Proxy) waitOpen(stop <-chan struct{}, dirs ...Direction) bool {
	for {
		p.mu.Lock()
		open := true
		for _, d := range dirs {
			open = open && !p.blocked[d]
		}
		changed := p.changed
		p.mu.Unlock()
		if open {
			return true
		}
		select {
		case <-changed:
		case <-stop:
			return false
		}
	}
}

// delayFor is how long a chunk read now is to be held.
func (p *Proxy) delayFor() time.Duration {
	p.mu.Lock()
	delay, jitter := p.delay, p.jitter
	p.mu.Unlock()
	if jitter > 0 {
		delay += rand.N(jitter)
	}
	return delay
}

// proxyConn is one relayed connection.
type proxyConn struct {
	p              *Proxy
	client, server net.Conn
	stop           chan struct{} // closed by teardown
	once           sync.Once
}

// teardown closes both ends and stops both pumps.
func (c *proxyConn) teardown() {
	c.once.Do(func() {
		close(c.stop)
		c.client.Close()
		c.server.Close()
	})
}

// chunk is what one read returned, and when it is due at the other end.
type chunk struct {
	data []byte
	due  time.Time
}

// pump carries direction d from src to dst: a reader queues what it reads,
// stamped with its due time, and the writer delivers it when it is due
// and d is open. A clean end of src becomes a half close of dst once the
// queue is delivered; any failure tears the connection down.
func (c *proxyConn) pump(d Direction, src, dst net.Conn) {
	queue := make(chan chunk, proxyQueue)
	readErr := make(chan error, 1)
	go func() {
		defer close(queue)
		var last time.Time
		buf := make([]byte, proxyChunk)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				// Due no earlier than the chunk before it: jitter must
				// not reorder a stream.
				due := time.Now().Add(c.p.delayFor())
				if due.Before(last) {
					due = last
				}
				last = due
				// A copy the size of what was read: most reads are a
				// heartbeat's few dozen bytes.
				select {
				case queue <- chunk{data: slices.Clone(buf[:n]), due: due}:
				case <-c.stop:
					readErr <- nil
					return
				}
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()

	for ch := range queue {
		if !c.deliver(d, dst, ch) {
			c.teardown()
			for range queue {
				// Drain until the reader sees the teardown.
			}
			<-readErr
			return
		}
	}
	if err := <-readErr; errors.Is(err, io.EOF) {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			return
		}
	}
	c.teardown()
}

// deliver writes one chunk when it is due and d is open, and reports
// whether the connection goes on.
func (c *proxyConn) deliver(d Direction, dst net.Conn, ch chunk) bool {
	for {
		if !c.p.waitOpen(c.stop, d) {
			return false
		}
		if wait := time.Until(ch.due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-c.stop:
				t.Stop()
				return false
			}
		}
		// A cut that came while the chunk was in flight holds it too.
		if !c.p.Blocked(d) {
			break
		}
	}
	n, err := dst.Write(ch.data)
	c.p.forwarded[d].Add(int64(n))
	return err == nil
}
