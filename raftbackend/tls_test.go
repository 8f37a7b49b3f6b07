package raftbackend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/testpki"
)

// testPKI is the certificates of a secured test cluster: a CA for the
// nodes, another for clients, and an unrelated one whose certificates
// nobody should accept.
type testPKI struct {
	t                       testing.TB
	nodeCA, clientCA, rogue *testpki.CA
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	p := &testPKI{t: t}
	var err error
	for _, ca := range []struct {
		dst  **testpki.CA
		name string
	}{{&p.nodeCA, "nodes"}, {&p.clientCA, "clients"}, {&p.rogue, "rogue"}} {
		// A directory per CA, so that certificates of one name from two
		// CAs do not overwrite each other.
		dir := filepath.Join(t.TempDir(), ca.name)
		if err = os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if *ca.dst, err = testpki.NewCA(dir, ca.name); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func (p *testPKI) issue(ca *testpki.CA, spec testpki.Spec) *testpki.Issued {
	p.t.Helper()
	is, err := ca.Issue(spec)
	if err != nil {
		p.t.Fatal(err)
	}
	return is
}

// nodeTLS issues a certificate for node id (identity id, IP SAN
// 127.0.0.1) and returns the node's TLS files, with mutual TLS on the
// client API against the client CA.
func (p *testPKI) nodeTLS(id string) *TLSFiles {
	is := p.issue(p.nodeCA, testpki.Node(id))
	return &TLSFiles{CertFile: is.CertFile, KeyFile: is.KeyFile, CAFile: p.nodeCA.File, ClientCAFile: p.clientCA.File}
}

// client issues a client certificate with identity id from ca and returns
// the option that dials with it, trusting the nodes' CA.
func (p *testPKI) client(ca *testpki.CA, id string) RemoteOption {
	is := p.issue(ca, testpki.Client(id))
	return RemoteTLSFiles(TLSFiles{CertFile: is.CertFile, KeyFile: is.KeyFile, CAFile: p.nodeCA.File})
}

// startSecureCluster starts size nodes with TLS on both listeners, mutual
// TLS on the client API, and whatever tweak adds.
func startSecureCluster(t *testing.T, p *testPKI, size int, tweak func(*Config)) *testCluster {
	t.Helper()
	return startCluster(t, size, func(c *Config) {
		c.TLS = p.nodeTLS(c.NodeID)
		if tweak != nil {
			tweak(c)
		}
	})
}

// dialFails checks that Dial with opts cannot reach any of endpoints.
func dialFails(t *testing.T, what string, endpoints []string, opts ...RemoteOption) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	d, err := Dial(ctx, endpoints, opts...)
	if err == nil {
		d.Close()
		t.Fatalf("%s: Dial succeeded, want a refusal", what)
	}
	t.Logf("%s: %v", what, err)
	if code := backend.CodeOf(err); code != backend.CodeUnavailable && code != backend.CodeTimeout {
		t.Fatalf("%s: Dial error %v (code %v), want unavailable", what, err, code)
	}
}

func TestTLSClusterOverRealTCP(t *testing.T) {
	p := newTestPKI(t)
	c := startSecureCluster(t, p, 3, nil)
	eps := c.endpoints(0)
	ctx := testCtx(t)

	// A client with a certificate from the client CA works, through the
	// URL parameters too.
	q := url.Values{}
	alice := p.issue(p.clientCA, testpki.Client("alice"))
	q.Set("ca_file", p.nodeCA.File)
	q.Set("cert_file", alice.CertFile)
	q.Set("key_file", alice.KeyFile)
	drv, err := backend.Open(ctx, "raft://"+strings.Join(eps, ",")+"?"+q.Encode(), backend.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	res, err := drv.Acquire(ctx, &backend.AcquireRequest{LockID: "tls/lock", ClientID: "alice/job1", TTL: time.Minute, RequestID: "tls-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drv.Release(ctx, &backend.ReleaseRequest{LockID: "tls/lock", ClientID: "alice/job1", Version: res.Lock.Version}); err != nil {
		t.Fatal(err)
	}

	// The leader's status asks each peer's API over TLS, with its own
	// certificate, which the peers accept (CAFile counts on the API).
	waitUntil(t, "peers' replication in the leader's status", func() bool {
		st, err := c.nodes[c.leader()].Status(ctx)
		if err != nil {
			return false
		}
		for _, peer := range st.Peers {
			if peer.MatchIndex == 0 {
				return false
			}
		}
		return len(st.Peers) == 3
	})

	// Everyone else is refused at the handshake.
	dialFails(t, "plaintext client", eps)
	dialFails(t, "TLS client without a certificate", eps, RemoteTLSFiles(TLSFiles{CAFile: p.nodeCA.File}))
	dialFails(t, "client certificate from an unrelated CA", eps, p.client(p.rogue, "alice"))
	rogueTrust := p.issue(p.clientCA, testpki.Client("carol"))
	dialFails(t, "client that trusts another CA", eps,
		RemoteTLSFiles(TLSFiles{CertFile: rogueTrust.CertFile, KeyFile: rogueTrust.KeyFile, CAFile: p.rogue.File}))
}

// A Raft peer must speak TLS with a certificate from the nodes' CA: a
// plaintext transport, or one with a client CA's or an unrelated CA's
// certificate, gets no answer, and a plaintext node cannot join.
func TestTLSRaftRefusesOtherPeers(t *testing.T) {
	p := newTestPKI(t)
	c := startSecureCluster(t, p, 1, nil)
	leader := c.nodes[0]
	target := raft.ServerAddress(leader.RaftAddress())
	term := leader.raft.Stats()["term"]

	vote := func(tr *raft.NetworkTransport) error {
		defer tr.Close()
		var resp raft.RequestVoteResponse
		err := tr.RequestVote("n1", target, &raft.RequestVoteRequest{
			RPCHeader: raft.RPCHeader{ID: []byte("intruder"), Addr: []byte(tr.LocalAddr())},
			Term:      1 << 40, LastLogIndex: 1 << 40, LastLogTerm: 1 << 40,
		}, &resp)
		t.Logf("vote from %s: %v", tr.LocalAddr(), err)
		return err
	}

	plain, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := vote(plain); err == nil {
		t.Error("a plaintext Raft peer got an answer")
	}

	for _, tc := range []struct {
		name string
		ca   *testpki.CA
	}{{"client CA", p.clientCA}, {"unrelated CA", p.rogue}} {
		is := p.issue(tc.ca, testpki.Node("intruder"))
		files := TLSFiles{CertFile: is.CertFile, KeyFile: is.KeyFile, CAFile: p.nodeCA.File}
		r, err := newTLSReloader(files, nil)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := newTLSTransport("127.0.0.1:0", nil, r.raftConfig(), r.clientConfig,
			&raft.NetworkTransportConfig{MaxPool: raftMaxPool, Timeout: raftIOTimeout, Logger: hclog.NewNullLogger()})
		if err != nil {
			t.Fatal(err)
		}
		if err := vote(tr); err == nil {
			t.Errorf("a Raft peer with a certificate from the %s got an answer", tc.name)
		}
	}
	if got := leader.raft.Stats()["term"]; got != term || !leader.IsLeader() {
		t.Errorf("after the intruders' votes: term %s (was %s), leader %v", got, term, leader.IsLeader())
	}

	// A node without TLS cannot join: its plaintext join call fails the
	// handshake, and so would its Raft traffic.
	cfg := testConfig(t, "plain")
	cfg.Join = []string{leader.APIAddress()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := StartNode(ctx, cfg)
	if err == nil {
		n.Close()
		t.Fatal("a plaintext node joined a TLS cluster")
	}
	ms, err := leader.Members(testCtx(t))
	if err != nil || len(ms) != 1 {
		t.Fatalf("members after the attempt: %v, %v", ms, err)
	}
}

// serialAt dials addr with cfg and returns the serial number of the
// certificate the server presented.
func serialAt(t *testing.T, addr string, cfg *tls.Config) *big.Int {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

// Certificates replaced on disk are used by new connections, on both
// listeners, without a restart; a connection open before keeps working.
func TestTLSReloadsReplacedCertificates(t *testing.T) {
	p := newTestPKI(t)
	c := startSecureCluster(t, p, 1, nil)
	n := c.nodes[0]
	ctx := testCtx(t)

	d := dialTestWith(t, c.endpoints(0), p.client(p.clientCA, "alice"))
	if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "reload", ClientID: "alice", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}

	pool := x509.NewCertPool()
	pool.AddCert(p.nodeCA.Cert)
	client := p.issue(p.clientCA, testpki.Client("prober"))
	peer := p.issue(p.nodeCA, testpki.Node("prober-node"))
	probe := func(is *testpki.Issued) *tls.Config {
		cert, err := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}}
	}
	apiBefore := serialAt(t, n.APIAddress(), probe(client))
	raftBefore := serialAt(t, n.RaftAddress(), probe(peer))
	if apiBefore.Cmp(raftBefore) != 0 {
		t.Fatalf("API serves serial %v, Raft %v: want the one node certificate", apiBefore, raftBefore)
	}

	renewed := p.issue(p.nodeCA, testpki.Node("n1")) // same files, renamed over the old ones
	if renewed.Cert.SerialNumber.Cmp(apiBefore) == 0 {
		t.Fatal("the renewed certificate has the old serial")
	}
	for name, addr := range map[string]string{"API": n.APIAddress(), "Raft": n.RaftAddress()} {
		cfg := probe(client)
		if name == "Raft" {
			cfg = probe(peer)
		}
		if got := serialAt(t, addr, cfg); got.Cmp(renewed.Cert.SerialNumber) != 0 {
			t.Errorf("%s serves serial %v after the renewal, want %v", name, got, renewed.Cert.SerialNumber)
		}
	}
	// The driver's connection, made before, still works.
	if _, err := d.Get(ctx, &backend.GetRequest{LockID: "reload"}); err != nil {
		t.Fatal(err)
	}

	// A renewal that is half done (certificate without its key) is
	// ignored: the node keeps serving the last good pair.
	other := p.issue(p.nodeCA, testpki.Spec{Name: "other"})
	if err := os.WriteFile(c.cfgs[0].TLS.CertFile, other.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := serialAt(t, n.APIAddress(), probe(client)); got.Cmp(renewed.Cert.SerialNumber) != 0 {
		t.Errorf("serial %v after a mismatched certificate was written, want %v still", got, renewed.Cert.SerialNumber)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	p := newTestPKI(t)
	good := p.nodeTLS("n1")
	for _, tc := range []struct {
		name  string
		tweak func(*Config)
		want  string
	}{
		{"cert without key", func(c *Config) { c.TLS = &TLSFiles{CertFile: good.CertFile, CAFile: good.CAFile} }, "CertFile and KeyFile go together"},
		{"no CA", func(c *Config) { c.TLS = &TLSFiles{CertFile: good.CertFile, KeyFile: good.KeyFile} }, "needs CertFile, KeyFile and CAFile"},
		{"files and config", func(c *Config) { c.TLS, c.ServerTLS, c.ClientTLS = good, &tls.Config{}, &tls.Config{} }, "exclude each other"},
		{"server config alone", func(c *Config) { c.ServerTLS = &tls.Config{} }, "go together"},
		{"client config without roots", func(c *Config) { c.ServerTLS, c.ClientTLS = &tls.Config{}, &tls.Config{} }, "RootCAs is required"},
		{"binding without TLS", func(c *Config) { c.BindClientIDs = true }, "BindClientIDs needs mutual TLS"},
		{"binding without client CA", func(c *Config) {
			c.TLS = &TLSFiles{CertFile: good.CertFile, KeyFile: good.KeyFile, CAFile: good.CAFile}
			c.BindClientIDs = true
		}, "set TLS.ClientCAFile"},
		{"negative rate", func(c *Config) { c.RateLimit = -1 }, "RateLimit"},
		{"burst without rate", func(c *Config) { c.RateBurst = 3 }, "RateBurst needs RateLimit"},
		{"missing file", func(c *Config) {
			c.TLS = &TLSFiles{CertFile: good.CertFile, KeyFile: good.KeyFile, CAFile: filepath.Join(t.TempDir(), "none.pem")}
		}, "none.pem"},
		{"key of another certificate", func(c *Config) {
			other := p.issue(p.nodeCA, testpki.Spec{Name: "other"})
			c.TLS = &TLSFiles{CertFile: good.CertFile, KeyFile: other.KeyFile, CAFile: good.CAFile}
		}, "private key does not match"},
		{"CA file without certificates", func(c *Config) {
			c.TLS = &TLSFiles{CertFile: good.CertFile, KeyFile: good.KeyFile, CAFile: good.KeyFile}
		}, "holds no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "n1")
			cfg.Bootstrap = true
			tc.tweak(&cfg)
			n, err := StartNode(context.Background(), cfg)
			if err == nil {
				n.Close()
				t.Fatal("StartNode succeeded")
			}
			if !errors.Is(err, backend.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidArgument containing %q", err, tc.want)
			}
		})
	}
}

func TestRemoteURLTLSParameters(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  string // in the error; "" for success
		tls   bool
	}{
		{"", "", false},
		{"tls=true", "", true},
		{"tls=0", "", false},
		{"ca_file=/ca.pem", "", true},
		{"server_name=locks.internal", "", true},
		{"cert_file=/c.pem&key_file=/k.pem", "", true},
		{"cert_file=/c.pem", "cert_file needs key_file", false},
		{"key_file=/k.pem&tls=1", "key_file needs cert_file", false},
		{"tls=false&ca_file=/ca.pem", "tls=false contradicts", false},
		{"tls=maybe", "want true or false", false},
	} {
		u, err := url.Parse("raft://127.0.0.1:1?" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		_, opts, e := parseRemoteURL(u)
		switch {
		case tc.want != "":
			if e == nil || e.Code != backend.CodeInvalidArgument || !strings.Contains(e.Message, tc.want) {
				t.Errorf("%q: err %v, want invalid argument containing %q", tc.query, e, tc.want)
			}
			continue
		case e != nil:
			t.Errorf("%q: %v", tc.query, e)
			continue
		}
		var cfg remoteConfig
		for _, o := range opts {
			o(&cfg)
		}
		if got := cfg.tlsFiles != nil; got != tc.tls {
			t.Errorf("%q: TLS %v, want %v", tc.query, got, tc.tls)
		}
	}

	// Files that cannot be read fail Dial with a typed error naming them.
	_, err := Dial(context.Background(), []string{"127.0.0.1:1"}, RemoteTLSFiles(TLSFiles{CAFile: "/no/such/ca.pem"}))
	if !errors.Is(err, backend.ErrInvalidArgument) || !strings.Contains(err.Error(), "/no/such/ca.pem") {
		t.Errorf("Dial with a missing CA file: %v", err)
	}
	_, err = Dial(context.Background(), []string{"127.0.0.1:1"}, RemoteTLSFiles(TLSFiles{ClientCAFile: "/ca.pem"}))
	if !errors.Is(err, backend.ErrInvalidArgument) || !strings.Contains(err.Error(), "ClientCAFile") {
		t.Errorf("Dial with a ClientCAFile: %v", err)
	}
}

func TestEmbedURLSecurityParameters(t *testing.T) {
	u, err := url.Parse("raft+embed:///tmp/locks?cert_file=/n.pem&key_file=/n.key&ca_file=/ca.pem&client_ca_file=/clients.pem" +
		"&server_name=locks.internal&bind_client_ids=true&rate_limit=2.5")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseEmbedURL(u)
	if err != nil {
		t.Fatal(err)
	}
	want := TLSFiles{CertFile: "/n.pem", KeyFile: "/n.key", CAFile: "/ca.pem", ClientCAFile: "/clients.pem", ServerName: "locks.internal"}
	if cfg.TLS == nil || *cfg.TLS != want || !cfg.BindClientIDs || cfg.RateLimit != 2.5 || cfg.RateBurst != 3 {
		t.Fatalf("config: TLS %+v, bind %v, rate %v burst %d", cfg.TLS, cfg.BindClientIDs, cfg.RateLimit, cfg.RateBurst)
	}
	for query, want := range map[string]string{
		"cert_file=/n.pem&ca_file=/ca.pem": "CertFile and KeyFile go together",
		"bind_client_ids=1":                "BindClientIDs needs mutual TLS",
		"rate_limit=fast":                  "rate_limit",
		"rate_burst=2":                     "RateBurst needs RateLimit",
		"cert_file=/n.pem&key_file=/n.key": "needs CertFile, KeyFile and CAFile",
	} {
		u, _ := url.Parse("raft+embed:///tmp/locks?" + query)
		if _, err := parseEmbedURL(u); !errors.Is(err, backend.ErrInvalidArgument) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want invalid argument containing %q", query, err, want)
		}
	}
}

// A program that manages its certificates passes tls.Configs; certificates
// that name no address are verified by ServerName, on Raft, on the nodes'
// own API calls (the join) and from the client.
func TestTLSProgrammaticConfigWithServerName(t *testing.T) {
	p := newTestPKI(t)
	nodes := x509.NewCertPool()
	nodes.AddCert(p.nodeCA.Cert)
	clients := x509.NewCertPool()
	clients.AddCert(p.clientCA.Cert)
	clients.AddCert(p.nodeCA.Cert)
	pair := func(is *testpki.Issued) tls.Certificate {
		cert, err := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	c := startCluster(t, 2, func(c *Config) {
		cert := pair(p.issue(p.nodeCA, testpki.Spec{Name: c.NodeID, DNSNames: []string{"locks.internal"}}))
		c.ServerTLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients}
		c.ClientTLS = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: nodes, ServerName: "locks.internal"}
		c.BindClientIDs = true
	})
	ctx := testCtx(t)
	alice := pair(p.issue(p.clientCA, testpki.Client("alice")))
	d := dialTestWith(t, c.endpoints(0), RemoteTLS(&tls.Config{Certificates: []tls.Certificate{alice}, RootCAs: nodes, ServerName: "locks.internal"}))
	if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "prog", ClientID: "alice/1", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	_, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "prog2", ClientID: "bob", TTL: time.Minute})
	wantUnbound(t, "alice acquires as bob", err)
	// Without the server name, the host dialled (127.0.0.1) is not in the
	// nodes' certificates.
	dialFails(t, "client verifying the address", c.endpoints(0), RemoteTLS(&tls.Config{Certificates: []tls.Certificate{alice}, RootCAs: nodes}))
}
