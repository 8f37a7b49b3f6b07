package raftbackend

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/raftlock/raftlock/backend"
)

// remoteURLConfig applies the options parseRemoteURL returned to Dial's
// defaults, without dialling or reading any TLS file.
func remoteURLConfig(opts []RemoteOption) remoteConfig {
	cfg := remoteConfig{maxRedirects: DefaultMaxRedirects, cancelGrace: DefaultCancelGrace}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	return cfg
}

// formatRemoteURL writes a raft:// URL that sets what cfg holds, so that
// parsing it gives hosts and cfg back.
func formatRemoteURL(hosts []string, cfg remoteConfig) string {
	q := url.Values{}
	q.Set("max_redirects", strconv.Itoa(cfg.maxRedirects))
	q.Set("cancel_grace", cfg.cancelGrace.String())
	if f := cfg.tlsFiles; f != nil {
		q.Set("tls", "true")
		for key, v := range map[string]string{"ca_file": f.CAFile, "cert_file": f.CertFile,
			"key_file": f.KeyFile, "server_name": f.ServerName} {
			if v != "" {
				q.Set(key, v)
			}
		}
	}
	u := url.URL{Scheme: RemoteScheme, Host: strings.Join(hosts, ","), RawQuery: q.Encode()}
	return u.String()
}

// FuzzParseRemoteURL parses arbitrary strings as raft:// URLs without
// dialling: parseRemoteURL must never panic; it refuses a URL with a
// CodeInvalidArgument error that says what is wrong; the hosts of a URL it
// accepts are endpoints Dial takes, its options hold values Dial keeps as
// they are, and TLS files that go together; and written back as a URL,
// they parse to the same hosts and options.
func FuzzParseRemoteURL(f *testing.F) {
	for _, s := range []string{
		"raft://127.0.0.1:7100", "raft://a:1,b:2", "raft://h:1/?max_redirects=5&cancel_grace=1s",
		"raft://h:1?tls=true", "raft://h:1?tls=0", "raft://h:1?ca_file=/ca.pem", "raft://h:1?server_name=locks.internal",
		"raft://h:1?cert_file=/c.pem&key_file=/k.pem", "raft://h:1?cert_file=/c.pem", "raft://h:1?key_file=/k.pem&tls=1",
		"raft://h:1?tls=false&ca_file=/ca.pem", "raft://h:1?tls=maybe", "raft://h:1?client_ca_file=/ca.pem",
		"raft://", "raft:///", "raft://h:1?foo=1", "raft://h:1?max_redirects=-1", "raft://h:1?max_redirects=1&max_redirects=2",
		"raft://h:1?cancel_grace=soon", "raft://h:1,,h:1", "raft://h:1/locks", "raft://user@h:1", "raft://h:1#frag",
		"raft:opaque", "raft://nohost", "raft://[::1]:7100", "raft://h:1?%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return // backend.Open refuses it before it reaches the driver
		}
		hosts, opts, e := parseRemoteURL(u)
		if e != nil {
			if e.Code != backend.CodeInvalidArgument || !strings.HasPrefix(e.Message, "raft store URL: ") ||
				len(e.Message) == len("raft store URL: ") {
				t.Fatalf("parseRemoteURL(%q) failed with %#v, want CodeInvalidArgument saying why", raw, e)
			}
			return
		}
		if len(hosts) > 0 {
			if _, e := cleanEndpoints(hosts); e != nil {
				t.Fatalf("parseRemoteURL(%q) accepted hosts %q that Dial refuses: %v", raw, hosts, e)
			}
		}
		cfg := remoteURLConfig(opts)
		switch {
		case cfg.maxRedirects < 0 || cfg.cancelGrace < 0:
			t.Fatalf("parseRemoteURL(%q) set max_redirects %d, cancel_grace %v", raw, cfg.maxRedirects, cfg.cancelGrace)
		case cfg.tlsConfig != nil:
			t.Fatalf("parseRemoteURL(%q) set a programmatic TLS config", raw)
		case cfg.tlsFiles != nil && cfg.tlsFiles.check(false) != nil:
			t.Fatalf("parseRemoteURL(%q) accepted TLS files %+v that Dial refuses: %v", raw, *cfg.tlsFiles, cfg.tlsFiles.check(false))
		}

		again := formatRemoteURL(hosts, cfg)
		u2, err := url.Parse(again)
		if err != nil {
			t.Fatalf("%q is written back as %q, which does not parse: %v", raw, again, err)
		}
		hosts2, opts2, e := parseRemoteURL(u2)
		if e != nil {
			t.Fatalf("%q is written back as %q, which parseRemoteURL refuses: %v", raw, again, e)
		}
		cfg2 := remoteURLConfig(opts2)
		if !slices.Equal(hosts2, hosts) || cfg2.maxRedirects != cfg.maxRedirects || cfg2.cancelGrace != cfg.cancelGrace ||
			(cfg2.tlsFiles == nil) != (cfg.tlsFiles == nil) || cfg.tlsFiles != nil && *cfg2.tlsFiles != *cfg.tlsFiles {
			t.Fatalf("%q written back as %q parses to %q %+v, want %q %+v", raw, again, hosts2, cfg2, hosts, cfg)
		}
	})
}
