package raftbackend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/raftlock/raftlock/backend"
)

// TLSFiles names the PEM files that secure a node (Config.TLS) or a client
// (RemoteTLSFiles).
//
// The files are read again when they change: every new TLS handshake first
// compares each file's modification time and size with those it loaded, and
// reloads what changed. New connections then use the new certificate and
// CAs; connections already open keep theirs until they close. A certificate
// whose key does not match yet (one file replaced before the other), or a
// file that does not parse, is logged and ignored until it changes again:
// the last good files stay in use. Replace files by renaming new ones over
// them (as certificate managers and Kubernetes secret mounts do), so that no
// handshake reads a half-written file.
type TLSFiles struct {
	// CertFile and KeyFile hold the certificate (with any intermediates)
	// and its private key. A node presents it on both listeners, and as a
	// client certificate to its Raft peers and to the client APIs it dials,
	// so a node's certificate must allow both server and client use (both
	// extended key usages, or none). A client needs one when the nodes
	// require client certificates. Both or neither.
	CertFile, KeyFile string
	// CAFile holds the CAs that sign the nodes' certificates. A node
	// verifies its Raft peers against them, in both directions, and the
	// servers it dials; a client verifies the nodes against them (empty: the
	// system's roots, for a client only).
	CAFile string
	// ClientCAFile, for a node only, makes its client API require a client
	// certificate signed by one of these CAs or of CAFile's (mutual TLS);
	// CAFile's count because nodes call each other's APIs with their own
	// certificates. Empty: clients need no certificate. Raft peers are
	// verified against CAFile alone, whatever this says.
	ClientCAFile string
	// ServerName is the name the certificates of the servers dialled must
	// carry, when it is not the host dialled (every node's certificate
	// names "locks.internal", say, and peers are dialled by IP address).
	ServerName string
}

// check reports a TLSFiles that cannot work, for a node (forNode) or a
// client.
func (f *TLSFiles) check(forNode bool) *backend.Error {
	bad := func(format string, args ...any) *backend.Error {
		return backend.Errorf(backend.CodeInvalidArgument, "raft store TLS: "+format, args...)
	}
	switch {
	case (f.CertFile == "") != (f.KeyFile == ""):
		return bad("CertFile and KeyFile go together")
	case forNode && (f.CertFile == "" || f.CAFile == ""):
		return bad("a node needs CertFile, KeyFile and CAFile")
	case !forNode && f.ClientCAFile != "":
		return bad("ClientCAFile is a node's setting; a client verifies the nodes against CAFile")
	}
	return nil
}

// fileStamp is what tells a file changed without reading it.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// The files a reloader watches, by index.
const (
	fileCert = iota
	fileKey
	fileCA
	fileClientCA
	numTLSFiles
)

// tlsMaterial is one consistent load of a TLSFiles.
type tlsMaterial struct {
	cert      *tls.Certificate // nil without CertFile
	roots     *x509.CertPool   // CAFile; nil for the system's roots
	clientCAs *x509.CertPool   // ClientCAFile and CAFile; nil without ClientCAFile
	identity  string           // CertificateIdentity of cert's leaf
}

// tlsReloader keeps the files of a TLSFiles loaded and loads them again
// when one changes (see TLSFiles). It starts no goroutine: the check runs
// in the handshake that needs the material.
type tlsReloader struct {
	files TLSFiles
	log   *slog.Logger

	mu      sync.Mutex
	cur     *tlsMaterial
	loaded  [numTLSFiles]fileStamp // the stamps cur was loaded from
	failed  [numTLSFiles]fileStamp // the stamps of the last failed reload
	missing bool                   // a file was missing at the last check (logged once)
}

// newTLSReloader loads files once; a file that cannot be read or parsed
// fails with CodeInvalidArgument naming it.
func newTLSReloader(files TLSFiles, log *slog.Logger) (*tlsReloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &tlsReloader{files: files, log: log}
	stamps, err := r.stamps()
	if err != nil {
		return nil, backend.Errorf(backend.CodeInvalidArgument, "raft store TLS: %v", err)
	}
	m, err := r.load()
	if err != nil {
		return nil, backend.Errorf(backend.CodeInvalidArgument, "raft store TLS: %v", err)
	}
	r.cur, r.loaded = m, stamps
	return r, nil
}

// paths lists the watched files by index; "" for one not configured.
func (r *tlsReloader) paths() [numTLSFiles]string {
	return [numTLSFiles]string{r.files.CertFile, r.files.KeyFile, r.files.CAFile, r.files.ClientCAFile}
}

// stamps reads the stamp of every configured file.
func (r *tlsReloader) stamps() ([numTLSFiles]fileStamp, error) {
	var s [numTLSFiles]fileStamp
	for i, p := range r.paths() {
		if p == "" {
			continue
		}
		st, err := stampOf(p)
		if err != nil {
			return s, err
		}
		s[i] = st
	}
	return s, nil
}

// load reads and parses every configured file.
func (r *tlsReloader) load() (*tlsMaterial, error) {
	m := &tlsMaterial{}
	f := r.files
	if f.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, &fileError{f.CertFile + " and " + f.KeyFile, err}
		}
		m.cert = &cert
		m.identity = CertificateIdentity(cert.Leaf)
	}
	if f.CAFile != "" {
		pool, err := loadPool(nil, f.CAFile)
		if err != nil {
			return nil, err
		}
		m.roots = pool
	}
	if f.ClientCAFile != "" {
		pool, err := loadPool(nil, f.ClientCAFile)
		if err == nil && f.CAFile != "" {
			pool, err = loadPool(pool, f.CAFile)
		}
		if err != nil {
			return nil, err
		}
		m.clientCAs = pool
	}
	return m, nil
}

// fileError names the file a TLS setting could not use.
type fileError struct {
	file string
	err  error
}

func (e *fileError) Error() string { return e.file + ": " + e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

// loadPool adds the certificates of a PEM file to pool (a new pool if nil).
func loadPool(pool *x509.CertPool, file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err // names the file already
	}
	if pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, &fileError{file, errNoPEMCertificate}
	}
	return pool, nil
}

var errNoPEMCertificate = errors.New("holds no PEM certificate")

// current returns the material to use now, reloading the files first if
// any changed since they were loaded. A reload that fails keeps the last
// good material; it is logged once per set of stamps.
func (r *tlsReloader) current() *tlsMaterial {
	r.mu.Lock()
	defer r.mu.Unlock()
	stamps, err := r.stamps()
	if err != nil {
		// A file may be missing for a moment (replaced by delete and
		// create, or a secret mount being swapped): keep what works, and
		// say so once in case it stays missing.
		if !r.missing {
			r.missing = true
			r.log.Warn("raftlock: a TLS file is missing; still using the loaded ones", "error", err)
		}
		return r.cur
	}
	r.missing = false
	if stamps == r.loaded || stamps == r.failed {
		return r.cur
	}
	m, err := r.load()
	if err != nil {
		r.failed = stamps
		r.log.Warn("raftlock: TLS files changed but could not be loaded; still using the previous ones", "error", err)
		return r.cur
	}
	r.cur, r.loaded = m, stamps
	r.log.Info("raftlock: TLS files reloaded", "identity", m.identity)
	return r.cur
}

// certificates is the one-element certificate list of m, or nil.
func (m *tlsMaterial) certificates() []tls.Certificate {
	if m.cert == nil {
		return nil
	}
	return []tls.Certificate{*m.cert}
}

// apiConfig is the client API's side of the files: each handshake gets the
// current certificate and, with mutual, requires a client certificate
// signed by the current client CAs (ClientCAFile's and CAFile's).
func (r *tlsReloader) apiConfig(mutual bool) *tls.Config {
	if !mutual {
		return r.serverConfig(func(*tlsMaterial) *x509.CertPool { return nil })
	}
	return r.serverConfig(func(m *tlsMaterial) *x509.CertPool { return m.clientCAs })
}

// raftConfig is the Raft listener's side of the files: only peers with a
// certificate signed by CAFile's CAs may connect.
func (r *tlsReloader) raftConfig() *tls.Config {
	return r.serverConfig(func(m *tlsMaterial) *x509.CertPool { return m.roots })
}

// serverConfig is a listener's config: each handshake gets the current
// certificate and, when clientCAs gives a pool, must present a client
// certificate that the pool verifies.
//
// Session tickets are off so that every connection is verified against the
// CAs of the moment, not those of the connection that issued its ticket; a
// lock client keeps its connection open, so nothing is lost.
func (r *tlsReloader) serverConfig(clientCAs func(*tlsMaterial) *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS12,
		SessionTicketsDisabled: true,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := r.current()
			c := &tls.Config{
				MinVersion:             tls.VersionTLS12,
				SessionTicketsDisabled: true,
				Certificates:           m.certificates(),
			}
			if pool := clientCAs(m); pool != nil {
				c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, pool
			}
			return c, nil
		},
	}
}

// clientConfig is the dialling side of the files, as they are now: the
// certificate to present and the CAs to verify the server against.
func (r *tlsReloader) clientConfig() *tls.Config {
	m := r.current()
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: m.certificates(),
		RootCAs:      m.roots,
		ServerName:   r.files.ServerName,
	}
}

// identity is the identity of the current certificate, "" without one.
func (r *tlsReloader) identity() string {
	return r.current().identity
}

// clientCreds are gRPC transport credentials that take a fresh tls.Config
// for every handshake, so that a connection made after the files changed
// uses the new ones. ServerName, when set, replaces the dialled host as the
// name verified: grpc's own TLS credentials always verify the dialled host.
type clientCreds struct {
	config     func() *tls.Config
	serverName string
}

// newClientCreds returns credentials over config, called once per
// handshake.
func newClientCreds(config func() *tls.Config, serverName string) credentials.TransportCredentials {
	return &clientCreds{config: config, serverName: serverName}
}

// staticClientCreds returns credentials over a tls.Config the program
// manages, keeping its ServerName.
func staticClientCreds(cfg *tls.Config) credentials.TransportCredentials {
	return newClientCreds(func() *tls.Config { return cfg }, cfg.ServerName)
}

// ClientHandshake implements credentials.TransportCredentials.
func (c *clientCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if c.serverName != "" {
		authority = c.serverName
	}
	return credentials.NewTLS(c.config()).ClientHandshake(ctx, authority, raw)
}

// ServerHandshake implements credentials.TransportCredentials; these
// credentials only dial.
func (c *clientCreds) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("raftlock: client credentials cannot accept connections")
}

// Info implements credentials.TransportCredentials.
func (c *clientCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls", SecurityVersion: "1.2", ServerName: c.serverName}
}

// Clone implements credentials.TransportCredentials.
func (c *clientCreds) Clone() credentials.TransportCredentials {
	cc := *c
	return &cc
}

// OverrideServerName implements credentials.TransportCredentials.
func (c *clientCreds) OverrideServerName(name string) error {
	c.serverName = name
	return nil
}

// setURLParam sets the field that the raft:// or raft+embed:// URL
// parameter key names and reports whether it names one; client_ca_file
// counts only where a client CA means something (a node's own listener).
func (f *TLSFiles) setURLParam(key, v string, node bool) bool {
	switch key {
	case "cert_file":
		f.CertFile = v
	case "key_file":
		f.KeyFile = v
	case "ca_file":
		f.CAFile = v
	case "server_name":
		f.ServerName = v
	case "client_ca_file":
		if !node {
			return false
		}
		f.ClientCAFile = v
	default:
		return false
	}
	return true
}
