package raftbackend

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The Raft transport's settings, the same over TCP and over TLS: up to
// raftMaxPool pooled connections per peer, and raftIOTimeout for a dial
// (handshake included) or an I/O that should not take long.
const (
	raftMaxPool   = 3
	raftIOTimeout = 10 * time.Second
)

// raftHandshakeTimeout bounds the TLS handshake of an incoming Raft
// connection, so that a peer that connects and says nothing does not hold
// a goroutine of the node for ever.
const raftHandshakeTimeout = 10 * time.Second

// tlsStreamLayer is the raft.StreamLayer of a node whose Raft traffic is
// mutual TLS: it accepts only peers whose certificate its server config
// verifies, and presents its own certificate when it dials. A plaintext
// peer's first bytes fail the handshake and its connection is closed.
type tlsStreamLayer struct {
	lis       net.Listener
	advertise net.Addr
	server    *tls.Config        // requires and verifies the peer's certificate
	client    func() *tls.Config // for each dial: certificate and CAs as they are now
}

var _ raft.StreamLayer = (*tlsStreamLayer)(nil)

// newTLSTransport is raft.NewTCPTransportWithConfig over TLS: it listens
// on bind, publishes advertise (or the listener's address) to peers, and
// refuses an address peers could not dial. tc gives the transport's other
// settings; its Stream is set here.
func newTLSTransport(bind string, advertise net.Addr, server *tls.Config, client func() *tls.Config, tc *raft.NetworkTransportConfig) (*raft.NetworkTransport, error) {
	lis, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	sl := &tlsStreamLayer{lis: lis, advertise: advertise, server: server, client: client}
	addr, ok := sl.Addr().(*net.TCPAddr)
	switch {
	case !ok:
		lis.Close()
		return nil, fmt.Errorf("raft address %v is not a TCP address", sl.Addr())
	case addr.IP == nil || addr.IP.IsUnspecified():
		lis.Close()
		return nil, fmt.Errorf("raft address %v is not one peers can dial; advertise another", addr)
	}
	tc.Stream = sl
	return raft.NewNetworkTransportWithConfig(tc), nil
}

// Accept implements net.Listener. The handshake happens on the
// connection's first read or write, in the transport's goroutine for that
// connection, so that a slow peer does not hold up the others.
func (l *tlsStreamLayer) Accept() (net.Conn, error) {
	c, err := l.lis.Accept()
	if err != nil {
		return nil, err
	}
	return &serverConn{Conn: tls.Server(c, l.server)}, nil
}

// Close implements net.Listener.
func (l *tlsStreamLayer) Close() error { return l.lis.Close() }

// Addr implements net.Listener: the advertised address if any.
func (l *tlsStreamLayer) Addr() net.Addr {
	if l.advertise != nil {
		return l.advertise
	}
	return l.lis.Addr()
}

// Dial implements raft.StreamLayer: a TLS connection to a peer, verified
// against the node's CAs (by the host dialled, unless the config names
// another), handshake done within timeout.
func (l *tlsStreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(address), l.client())
}

// serverConn is an accepted TLS connection whose handshake runs, bounded
// by raftHandshakeTimeout, before its first read or write.
type serverConn struct {
	*tls.Conn
	once sync.Once
	err  error
}

func (c *serverConn) handshake() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), raftHandshakeTimeout)
		defer cancel()
		c.err = c.Conn.HandshakeContext(ctx)
	})
	return c.err
}

// Read implements net.Conn.
func (c *serverConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// Write implements net.Conn.
func (c *serverConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}
