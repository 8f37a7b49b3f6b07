package raftbackend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"math"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/raftlock/raftlock/backend"
)

// checkSecurity checks the TLS, identity and rate limit settings of c
// without reading any file, and fills in the default burst.
func (c *Config) checkSecurity() *backend.Error {
	bad := func(format string, args ...any) *backend.Error {
		return backend.Errorf(backend.CodeInvalidArgument, "raft store: "+format, args...)
	}
	programmatic := c.ServerTLS != nil || c.ClientTLS != nil
	switch {
	case c.TLS != nil && programmatic:
		return bad("TLS (files) and ServerTLS/ClientTLS exclude each other")
	case programmatic && (c.ServerTLS == nil || c.ClientTLS == nil):
		return bad("ServerTLS and ClientTLS go together: the node both accepts and dials Raft connections")
	case programmatic && c.ClientTLS.RootCAs == nil:
		return bad("ClientTLS.RootCAs is required: the node verifies its Raft peers against it, in both directions")
	}
	if c.TLS != nil {
		if e := c.TLS.check(true); e != nil {
			return e
		}
	}
	if c.BindClientIDs {
		switch {
		case c.TLS == nil && !programmatic:
			return bad("BindClientIDs needs mutual TLS on the client API (TLS with ClientCAFile)")
		case c.TLS != nil && c.TLS.ClientCAFile == "":
			return bad("BindClientIDs needs client certificates: set TLS.ClientCAFile")
		case programmatic && c.ServerTLS.ClientAuth != tls.RequireAndVerifyClientCert && c.ServerTLS.GetConfigForClient == nil:
			return bad("BindClientIDs needs client certificates: set ServerTLS.ClientAuth to tls.RequireAndVerifyClientCert")
		}
	}
	switch {
	case math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) || c.RateLimit < 0:
		return bad("RateLimit %v is not a non-negative number of calls per second", c.RateLimit)
	case c.RateBurst < 0:
		return bad("RateBurst %d is negative", c.RateBurst)
	case c.RateBurst > 0 && c.RateLimit == 0:
		return bad("RateBurst needs RateLimit")
	case c.RateLimit > 0 && c.RateBurst == 0:
		c.RateBurst = int(math.Min(math.Ceil(c.RateLimit), math.MaxInt32))
	}
	return nil
}

// nodeSecurity is a node's Config.TLS (or ServerTLS and ClientTLS),
// BindClientIDs and RateLimit, ready for use.
type nodeSecurity struct {
	apiCreds   credentials.TransportCredentials // the client API's; nil: plaintext
	raftServer *tls.Config                      // the Raft listener's; nil: plaintext Raft
	raftClient func() *tls.Config               // for each Raft dial
	dialCreds  credentials.TransportCredentials // the node's own API dials; nil: plaintext
	identity   func() string                    // the identity of the node's own certificate
	reloader   *tlsReloader                     // the TLS files, when the node has them
	bind       bool
	guard      *apiGuard // nil: neither binding nor rate limit
}

// newNodeSecurity prepares cfg's security settings; cfg has been through
// withDefaults. TLS files that cannot be used fail with
// CodeInvalidArgument naming them.
func newNodeSecurity(cfg Config, log *slog.Logger) (*nodeSecurity, error) {
	s := &nodeSecurity{bind: cfg.BindClientIDs, identity: func() string { return "" }}
	switch {
	case cfg.TLS != nil:
		r, err := newTLSReloader(*cfg.TLS, log)
		if err != nil {
			return nil, err
		}
		s.apiCreds = credentials.NewTLS(r.apiConfig(cfg.TLS.ClientCAFile != ""))
		s.raftServer = r.raftConfig()
		s.raftClient = r.clientConfig
		s.dialCreds = newClientCreds(r.clientConfig, cfg.TLS.ServerName)
		s.identity = r.identity
		s.reloader = r
	case cfg.ServerTLS != nil:
		s.apiCreds = credentials.NewTLS(cfg.ServerTLS)
		s.raftServer = raftServerConfig(cfg.ServerTLS, cfg.ClientTLS.RootCAs)
		client := cfg.ClientTLS
		s.raftClient = func() *tls.Config { return client }
		s.dialCreds = staticClientCreds(client)
		s.identity = func() string { return tlsConfigIdentity(client) }
	}
	var admin *adminCheck
	switch {
	case cfg.TLS != nil && cfg.TLS.ClientCAFile != "":
		r := s.reloader
		admin = &adminCheck{identities: cfg.AdminIdentities, nodeRoots: func() *x509.CertPool { return r.current().roots }}
	case cfg.ServerTLS != nil && cfg.ServerTLS.ClientAuth == tls.RequireAndVerifyClientCert:
		roots := cfg.ClientTLS.RootCAs
		admin = &adminCheck{identities: cfg.AdminIdentities, nodeRoots: func() *x509.CertPool { return roots }}
	}
	if cfg.BindClientIDs || cfg.RateLimit > 0 || admin != nil {
		s.guard = &apiGuard{bind: cfg.BindClientIDs, admin: admin}
		if cfg.RateLimit > 0 {
			s.guard.limiter = newRateLimiter(cfg.RateLimit, cfg.RateBurst)
		}
	}
	if s.bind && s.identity() == "" {
		return nil, backend.Errorf(backend.CodeInvalidArgument,
			"raft store: BindClientIDs: the node's own certificate names no identity, so the calls of its embedded drivers could use no client ID")
	}
	return s, nil
}

// raftServerConfig is the Raft listener's side of a program's ServerTLS:
// the same certificate, but a peer must present a certificate signed by
// the CAs the node verifies its peers against (roots), whatever ServerTLS
// asks of API clients. Only nodes may speak Raft to a node.
func raftServerConfig(server *tls.Config, roots *x509.CertPool) *tls.Config {
	c := server.Clone()
	c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, roots
	if get := server.GetConfigForClient; get != nil {
		c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			cc, err := get(hello)
			if err != nil || cc == nil {
				return cc, err
			}
			cc = cc.Clone()
			cc.ClientAuth, cc.ClientCAs = tls.RequireAndVerifyClientCert, roots
			return cc, nil
		}
	}
	return c
}

// tlsConfigIdentity is the identity of the certificate a program's client
// config presents: its first certificate, or the one GetClientCertificate
// gives; "" when neither yields one.
func tlsConfigIdentity(c *tls.Config) string {
	var cert *tls.Certificate
	switch {
	case len(c.Certificates) > 0:
		cert = &c.Certificates[0]
	case c.GetClientCertificate != nil:
		var err error
		if cert, err = c.GetClientCertificate(&tls.CertificateRequestInfo{}); err != nil {
			return ""
		}
	}
	if cert == nil {
		return ""
	}
	if cert.Leaf != nil {
		return CertificateIdentity(cert.Leaf)
	}
	if len(cert.Certificate) == 0 {
		return ""
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return ""
	}
	return CertificateIdentity(leaf)
}

// serverOptions are the client API server's TLS credentials and guard.
func (s *nodeSecurity) serverOptions() []grpc.ServerOption {
	var opts []grpc.ServerOption
	if s.apiCreds != nil {
		opts = append(opts, grpc.Creds(s.apiCreds))
	}
	if s.guard != nil {
		opts = append(opts, s.guard.serverOptions()...)
	}
	return opts
}

// dialOptions are the options of the node's own connections to client
// APIs: its peers' (status), a member's (join), the leader's (an embedded
// driver forwarding a call).
func (s *nodeSecurity) dialOptions() []grpc.DialOption {
	if s == nil || s.dialCreds == nil {
		return nil
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(s.dialCreds)}
}

// dialPeer connects a driver to the client API at addr, as the node: with
// its certificate when it has one.
func (n *Node) dialPeer(ctx context.Context, addr string) (*RemoteDriver, error) {
	return Dial(ctx, []string{addr}, RemoteDialOptions(n.sec.dialOptions()...))
}

// checkBinding applies the identity binding to a lock call of an embedded
// driver: the application that embeds a node is its node's client, with
// its node's certificate identity. The leader checks a forwarded call
// against that same identity (the forwarding node's certificate), so the
// same client IDs work on every replica, leader or not. A nil request
// passes, for the node to refuse.
func (d *EmbeddedDriver) checkBinding(req any) error {
	sec := d.node.sec
	if sec == nil || !sec.bind {
		return nil
	}
	var lockID, clientID string
	switch r := req.(type) {
	case *backend.AcquireRequest:
		if r == nil {
			return nil
		}
		lockID, clientID = r.LockID, r.ClientID
	case *backend.ReleaseRequest:
		if r == nil {
			return nil
		}
		lockID, clientID = r.LockID, r.ClientID
	case *backend.RenewRequest:
		if r == nil {
			return nil
		}
		lockID, clientID = r.LockID, r.ClientID
	case *backend.EnqueueRequest:
		if r == nil {
			return nil
		}
		lockID, clientID = r.LockID, r.ClientID
	case *backend.CancelWaitRequest:
		if r == nil {
			return nil
		}
		lockID, clientID = r.LockID, r.ClientID
	default:
		return nil
	}
	if e := checkClientID(lockID, clientID, sec.identity(), true); e != nil {
		return e
	}
	return nil
}
