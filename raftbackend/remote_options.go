package raftbackend

import (
	"crypto/tls"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/raftlock/raftlock/backend"
)

// Defaults of the remote driver.
const (
	// DefaultMaxRedirects is how many NOT_LEADER answers one call follows.
	// A healthy cluster needs one; a few more ride out a leader change
	// that happens while the call travels.
	DefaultMaxRedirects = 3
	// DefaultCancelGrace is how long a waiting Acquire whose context ended
	// waits for the node to confirm that its waiter left the queue.
	DefaultCancelGrace = 2 * time.Second
	// DefaultConnectTimeout bounds one attempt to connect to a node.
	DefaultConnectTimeout = 20 * time.Second
)

// Reconnection backoff: short, because a client has other nodes to try and
// a node that restarts should be used again within seconds.
var remoteBackoff = backoff.Config{
	BaseDelay:  250 * time.Millisecond,
	Multiplier: 1.6,
	Jitter:     0.2,
	MaxDelay:   3 * time.Second,
}

// RemoteOption configures Dial.
type RemoteOption func(*remoteConfig)

// remoteConfig is what the RemoteOptions set.
type remoteConfig struct {
	logger         *slog.Logger
	dialOpts       []grpc.DialOption
	keepAlive      backend.KeepAlive
	maxMessageSize int
	maxRedirects   int
	cancelGrace    time.Duration
	connectTimeout time.Duration
	tlsConfig      *tls.Config // RemoteTLS
	tlsFiles       *TLSFiles   // RemoteTLSFiles
}

// RemoteLogger sets the logger for the driver's own events (redirects,
// nodes that failed); nil discards them.
func RemoteLogger(l *slog.Logger) RemoteOption {
	return func(c *remoteConfig) { c.logger = l }
}

// RemoteDialOptions adds gRPC dial options, applied after the driver's own,
// so they win: grpc.WithTransportCredentials replaces the default insecure
// credentials, for instance. The lock calls travel as messages on one
// long-lived Calls stream per connection (see RemoteDriver), so client
// interceptors see that stream open once, not each lock call; per-RPC
// credentials are sent when it opens.
func RemoteDialOptions(opts ...grpc.DialOption) RemoteOption {
	return func(c *remoteConfig) { c.dialOpts = append(c.dialOpts, opts...) }
}

// RemoteKeepAlive sets transport keep-alive pings, which detect a dead node
// while a call (a long wait, say) is in flight. ka.Time zero disables them;
// gRPC raises a Time below 10s to 10s.
func RemoteKeepAlive(ka backend.KeepAlive) RemoteOption {
	return func(c *remoteConfig) { c.keepAlive = ka }
}

// RemoteMaxMessageSize bounds the messages sent and received, in bytes; 0
// keeps gRPC's defaults (4 MiB received, unbounded sent). A List page larger
// than the bound fails with CodeResourceExhausted.
func RemoteMaxMessageSize(n int) RemoteOption {
	return func(c *remoteConfig) { c.maxMessageSize = n }
}

// RemoteMaxRedirects bounds how many NOT_LEADER answers one call follows
// (DefaultMaxRedirects). 0 follows none: the call then tries the other
// endpoints as if the follower had failed.
func RemoteMaxRedirects(n int) RemoteOption {
	return func(c *remoteConfig) { c.maxRedirects = max(n, 0) }
}

// RemoteCancelGrace sets how long a waiting Acquire whose context ended, or
// whose driver closed, waits for the node to confirm that its waiter left
// the queue (DefaultCancelGrace). Past it the call returns anyway and the
// node drops the waiter when it sees the stream reset.
func RemoteCancelGrace(d time.Duration) RemoteOption {
	return func(c *remoteConfig) { c.cancelGrace = max(d, 0) }
}

// RemoteConnectTimeout bounds one attempt to connect to a node
// (DefaultConnectTimeout); 0 keeps the default.
func RemoteConnectTimeout(d time.Duration) RemoteOption {
	return func(c *remoteConfig) { c.connectTimeout = d }
}

// RemoteTLS makes the driver connect over TLS with cfg: its RootCAs
// verify the nodes (nil: the system's roots), its Certificates or
// GetClientCertificate give the client certificate that nodes requiring
// mutual TLS ask for, and its ServerName, when set, is the name verified
// instead of the host dialled. The program manages and reloads cfg's
// certificates itself; RemoteTLSFiles reads files and reloads them. The
// last of RemoteTLS and RemoteTLSFiles wins.
func RemoteTLS(cfg *tls.Config) RemoteOption {
	return func(c *remoteConfig) { c.tlsConfig, c.tlsFiles = cfg, nil }
}

// RemoteTLSFiles makes the driver connect over TLS with the PEM files of
// files, read again when they change, so that new connections use renewed
// certificates (see TLSFiles): CAFile verifies the nodes (empty: the
// system's roots), CertFile and KeyFile are the client certificate for
// nodes that require one, ServerName the name to verify when not the host
// dialled. ClientCAFile is a node's setting and is refused. Dial fails with
// CodeInvalidArgument when the files are half given or cannot be used.
func RemoteTLSFiles(files TLSFiles) RemoteOption {
	return func(c *remoteConfig) { c.tlsConfig, c.tlsFiles = nil, &files }
}

// transportCredentials are the credentials RemoteTLS or RemoteTLSFiles
// ask for, nil for plaintext.
func (c *remoteConfig) transportCredentials() (credentials.TransportCredentials, error) {
	switch {
	case c.tlsConfig != nil:
		return staticClientCreds(c.tlsConfig), nil
	case c.tlsFiles != nil:
		if e := c.tlsFiles.check(false); e != nil {
			return nil, e
		}
		r, err := newTLSReloader(*c.tlsFiles, c.logger)
		if err != nil {
			return nil, err
		}
		return newClientCreds(r.clientConfig, c.tlsFiles.ServerName), nil
	}
	return nil, nil
}

// grpcDialOptions builds the dial options of every connection; creds nil
// means plaintext.
func (c *remoteConfig) grpcDialOptions(creds credentials.TransportCredentials) []grpc.DialOption {
	connectTimeout := c.connectTimeout
	if connectTimeout <= 0 {
		connectTimeout = DefaultConnectTimeout
	}
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: remoteBackoff, MinConnectTimeout: connectTimeout}),
		// No idle mode: a lock client calls again within its TTL, and an
		// idle connection would make Connected report false and the next
		// call pay for a new handshake.
		grpc.WithIdleTimeout(0),
		// Fixed flow-control windows turn off gRPC's bandwidth-delay
		// estimator, which pings the server about once per round trip to
		// size the windows for bulk transfers. Lock calls are a few hundred
		// bytes, so the pings only cost frames and syscalls on every call.
		// Interleaved A/B with go run ./bench (one node, 16 clients, three
		// runs each): pairs/s median +10%, client CPU per pair -16%,
		// server -10%.
		grpc.WithInitialWindowSize(flowWindow),
		grpc.WithInitialConnWindowSize(flowWindow),
	}
	if ka := c.keepAlive; ka.Time > 0 {
		opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                ka.Time,
			Timeout:             ka.Timeout,
			PermitWithoutStream: ka.PermitWithoutStream,
		}))
	}
	if n := c.maxMessageSize; n > 0 {
		opts = append(opts, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(n), grpc.MaxCallSendMsgSize(n)))
	}
	return append(opts, c.dialOpts...)
}

// flowWindow is the fixed HTTP/2 flow-control window of the client API's
// streams and connections, on both ends: far above any lock call or
// answer (see DefaultMaxRequestBytes), so a window never stalls one.
const flowWindow = 1 << 20
