package etcdbackend

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// etcdFileParams are the parameters whose values parseURL reads as files.
var etcdFileParams = []string{"ca_file", "cert_file", "key_file"}

// writeTLSFiles fills dir with the files the fuzzed URLs may name: a
// self-signed certificate ("cert.pem", also "ca.pem") and its key
// ("key.pem"), a file that is no PEM ("junk.pem") and an empty one.
func writeTLSFiles(tb testing.TB, dir string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "etcd.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	for name, data := range map[string][]byte{
		"cert.pem":  cert,
		"ca.pem":    cert,
		"key.pem":   pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		"junk.pem":  []byte("not a certificate"),
		"empty.pem": nil,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}

// confineFiles rewrites the file parameters of u's query to name files in
// dir only, keeping their base names, so that a fuzzed URL never makes
// parseURL read a file of the machine (a device would block it). The rest
// of the query keeps its meaning; a query that does not parse is left as
// it is, as parseURL refuses it before reading any file.
func confineFiles(u *url.URL, dir string) {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return
	}
	changed := false
	for _, key := range etcdFileParams {
		for i, v := range q[key] {
			if v != "" {
				q[key][i] = filepath.Join(dir, filepath.Base(v))
				changed = true
			}
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
}

// formatEtcdURL writes an etcd:// URL for what cfg holds apart from the
// TLS files, which parseURL reads and does not keep.
func formatEtcdURL(cfg Config) string {
	q := url.Values{}
	if cfg.Prefix != "" {
		q.Set("prefix", cfg.Prefix)
	}
	if cfg.DialTimeout != 0 {
		q.Set("dial_timeout", cfg.DialTimeout.String())
	}
	if cfg.DefaultWaitTimeout != 0 {
		q.Set("default_wait_timeout", cfg.DefaultWaitTimeout.String())
	}
	if cfg.Username != "" {
		q.Set("username", cfg.Username)
	}
	if cfg.Password != "" {
		q.Set("password", cfg.Password)
	}
	if cfg.TLS != nil {
		q.Set("tls", "true")
		if cfg.TLS.ServerName != "" {
			q.Set("server_name", cfg.TLS.ServerName)
		}
		if cfg.TLS.InsecureSkipVerify {
			q.Set("insecure_skip_verify", "true")
		}
	}
	u := url.URL{Scheme: Scheme, Host: strings.Join(cfg.Endpoints, ","), RawQuery: q.Encode()}
	return u.String()
}

// FuzzParseEtcdURL parses arbitrary strings as etcd:// URLs without
// connecting; the TLS files they name are confined to a temporary
// directory. parseURL must never panic; it refuses a URL with a
// CodeInvalidArgument error that says what is wrong; a URL it accepts
// gives a Config that Open's own checks accept (endpoints that are not
// blank, a usable prefix, no password without a username) with a TLS
// config only when asked for; and written back as a URL it parses to the
// same Config.
func FuzzParseEtcdURL(f *testing.F) {
	dir := f.TempDir()
	writeTLSFiles(f, dir)
	for _, s := range []string{
		"etcd://h1:2379", "etcd://h1:2379,h2:2379/", "etcd://h1:2379?prefix=/locks&dial_timeout=3s&default_wait_timeout=2m",
		"etcd://alice:s%40cret@h1:2379", "etcd://h1:2379?username=bob&password=pw", "etcd://h1:2379?tls=true",
		"etcd://h1:2379?server_name=etcd.local&insecure_skip_verify=true", "etcd://",
		"etcd://h1:2379?ca_file=ca.pem", "etcd://h1:2379?cert_file=cert.pem&key_file=key.pem&ca_file=ca.pem",
		"etcd:h1:2379", "etcd://h1:2379/locks", "etcd://h1:2379#frag", "etcd://h1:2379?bogus=1",
		"etcd://h1:2379?prefix=/a&prefix=/b", "etcd://h1:2379?prefix=", "etcd://h1:2379?prefix=%00",
		"etcd://h1:2379?dial_timeout=soon", "etcd://h1:2379?dial_timeout=-1s", "etcd://h1:2379?default_wait_timeout=100000h",
		"etcd://h1:2379?tls=maybe", "etcd://h1:2379?insecure_skip_verify=perhaps", "etcd://h1:2379?password=pw",
		"etcd://u:p@h1:2379?username=v", "etcd://u:p@h1:2379?password=q", "etcd://h1:2379?cert_file=junk.pem",
		"etcd://h1:2379?ca_file=missing.pem", "etcd://h1:2379?ca_file=junk.pem", "etcd://h1:2379?ca_file=empty.pem",
		"etcd://h1:2379?cert_file=junk.pem&key_file=junk.pem", "etcd://h1:2379,,h2:2379", "etcd://h1:2379?%zz",
		"etcd://[::1]:2379", "etcd://%C2%A0:2379", "etcd://%C2%A0", "etcd://h1:2379,%E3%80%80",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return // backend.Open refuses it before it reaches the driver
		}
		confineFiles(u, dir)
		cfg, e := parseURL(u)
		if e != nil {
			if e.Code != backend.CodeInvalidArgument || !strings.HasPrefix(e.Message, "etcd store URL: ") ||
				len(e.Message) == len("etcd store URL: ") {
				t.Fatalf("parseURL(%q) failed with %#v, want CodeInvalidArgument saying why", raw, e)
			}
			return
		}
		q, _ := url.ParseQuery(u.RawQuery)
		// TLS is asked for by tls=true, or implied by a CA file, a client
		// certificate, a server name or skipping verification.
		on := func(key string) bool { b, _ := strconv.ParseBool(q.Get(key)); return b }
		wantTLS := on("tls") || on("insecure_skip_verify") ||
			q.Get("ca_file") != "" || q.Get("cert_file") != "" || q.Get("server_name") != ""
		if _, e := cleanPrefix(cfg.Prefix); e != nil {
			t.Fatalf("parseURL(%q) accepted prefix %q that Open refuses: %v", raw, cfg.Prefix, e)
		}
		for _, ep := range cfg.Endpoints {
			if strings.TrimSpace(ep) == "" || strings.ContainsAny(ep, "/?#@,") {
				t.Fatalf("parseURL(%q) accepted endpoint %q", raw, ep)
			}
		}
		switch {
		case (u.Host != "") != (len(cfg.Endpoints) > 0):
			t.Fatalf("parseURL(%q) found endpoints %q in host %q", raw, cfg.Endpoints, u.Host)
		case cfg.Password != "" && cfg.Username == "":
			t.Fatalf("parseURL(%q) accepted a password without a username", raw)
		case cfg.DialTimeout < 0 || cfg.DefaultWaitTimeout < 0 || cfg.DefaultWaitTimeout > backend.MaxWaitTimeout:
			t.Fatalf("parseURL(%q) accepted dial timeout %v, default wait timeout %v", raw, cfg.DialTimeout, cfg.DefaultWaitTimeout)
		case (cfg.TLS != nil) != wantTLS:
			t.Fatalf("parseURL(%q) made TLS config %v, want one: %v", raw, cfg.TLS, wantTLS)
		case cfg.TLS != nil && (cfg.TLS.MinVersion < tls.VersionTLS12 || len(cfg.TLS.Certificates) > 1):
			t.Fatalf("parseURL(%q) made TLS config %+v", raw, cfg.TLS)
		}

		again := formatEtcdURL(cfg)
		u2, err := url.Parse(again)
		if err != nil {
			t.Fatalf("%q is written back as %q, which does not parse: %v", raw, again, err)
		}
		cfg2, e := parseURL(u2)
		if e != nil {
			t.Fatalf("%q is written back as %q, which parseURL refuses: %v", raw, again, e)
		}
		if !slices.Equal(cfg2.Endpoints, cfg.Endpoints) || cfg2.Prefix != cfg.Prefix || cfg2.DialTimeout != cfg.DialTimeout ||
			cfg2.DefaultWaitTimeout != cfg.DefaultWaitTimeout || cfg2.Username != cfg.Username || cfg2.Password != cfg.Password ||
			(cfg2.TLS == nil) != (cfg.TLS == nil) ||
			cfg.TLS != nil && (cfg2.TLS.ServerName != cfg.TLS.ServerName || cfg2.TLS.InsecureSkipVerify != cfg.TLS.InsecureSkipVerify) {
			t.Fatalf("%q written back as %q parses to %+v, want %+v", raw, again, cfg2, cfg)
		}
	})
}
