package redisbackend

import (
	"errors"
	"net"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// formatRedisURL writes a URL of scheme for what o holds, so that parsing
// it gives o back. A URL holds a bracketed IPv6 host only alone, so an
// IPv6 address on the default port is written bare, as ParseURL reads it.
func formatRedisURL(scheme string, o Options) string {
	hosts := make([]string, len(o.Addrs))
	for i, a := range o.Addrs {
		hosts[i] = a
		if host, port, err := net.SplitHostPort(a); err == nil && strings.Contains(host, ":") && port == "6379" {
			hosts[i] = host
		}
	}
	u := url.URL{Scheme: scheme, Host: strings.Join(hosts, ",")}
	switch {
	case o.Username != "":
		u.User = url.UserPassword(o.Username, o.Password)
	case o.Password != "":
		u.User = url.UserPassword("", o.Password)
	}
	if o.DB != 0 {
		u.Path = "/" + strconv.Itoa(o.DB)
	}
	q := url.Values{}
	if o.Prefix != "" {
		q.Set("prefix", o.Prefix)
	}
	if o.Cluster {
		q.Set("cluster", "true")
	}
	if o.MaxWaiters != 0 {
		q.Set("max_waiters", strconv.Itoa(o.MaxWaiters))
	}
	for key, d := range map[string]time.Duration{
		"waiter_lease": o.WaiterLease, "default_wait_timeout": o.DefaultWaitTimeout, "dial_timeout": o.DialTimeout,
	} {
		if d != 0 {
			q.Set(key, d.String())
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// FuzzParseRedisURL parses arbitrary strings with ParseURL without
// connecting. It must never panic; it refuses a URL with a
// CodeInvalidArgument error that says what is wrong; the Options of a URL
// it accepts pass Open's own checks (addresses, database, key prefix) and
// ask for TLS exactly for rediss://; and written back as a URL they parse
// to the same Options.
func FuzzParseRedisURL(f *testing.F) {
	for _, s := range []string{
		"redis://localhost", "redis://h:7000/3", "redis://u:p@h/0", "redis://:p@h", "redis://secret@h", "redis://a:1,b:2",
		"redis://a,b", "redis://[::1]:7000", "redis://h?cluster=true", "redis:///2", "rediss://user:pw@cache.example:6380/0",
		"redis://h/1?prefix=app:locks&max_waiters=8&waiter_lease=2s&default_wait_timeout=1m&dial_timeout=300ms",
		"http://h", "redis:opaque", "redis://h/x", "redis://h/-1", "redis://h/1/2", "redis://h?nope=1",
		"redis://h?prefix=a&prefix=b", "redis://h?prefix=", "redis://h?prefix=a{b", "redis://h?prefix=a}",
		"redis://h?max_waiters=-1", "redis://h?max_waiters=x", "redis://h?waiter_lease=0s", "redis://h?waiter_lease=soon",
		"redis://h?default_wait_timeout=-1s", "redis://h?dial_timeout=", "redis://h?cluster=maybe", "redis://a,b/1",
		"redis://h/1?cluster=true", "redis://a,,b", "redis://h?%zz", "REDISS://H", "redis://h:", "redis://%20",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return // backend.Open refuses it before it reaches the driver
		}
		o, err := ParseURL(u)
		if err != nil {
			var e *backend.Error
			if !errors.As(err, &e) || e.Code != backend.CodeInvalidArgument ||
				!strings.HasPrefix(e.Message, "redis URL: ") || len(e.Message) == len("redis URL: ") {
				t.Fatalf("ParseURL(%q) failed with %#v, want CodeInvalidArgument saying why", raw, err)
			}
			return
		}
		if _, err := o.universal(); err != nil {
			t.Fatalf("ParseURL(%q) = %+v, which Open refuses: %v", raw, o, err)
		}
		if o.Prefix != "" {
			if e := validatePrefix(o.Prefix); e != nil {
				t.Fatalf("ParseURL(%q) accepted prefix %q, which NewDriver refuses: %v", raw, o.Prefix, e)
			}
		}
		scheme := strings.ToLower(u.Scheme)
		switch {
		case (o.TLSConfig != nil) != (scheme == TLSScheme):
			t.Fatalf("ParseURL(%q) made TLS config %v", raw, o.TLSConfig)
		case o.MaxWaiters < 0 || o.WaiterLease < 0 || o.DefaultWaitTimeout < 0 || o.DialTimeout < 0:
			t.Fatalf("ParseURL(%q) = %+v", raw, o)
		case (u.Host != "") != (len(o.Addrs) > 0):
			t.Fatalf("ParseURL(%q) found addresses %q in host %q", raw, o.Addrs, u.Host)
		}
		if o.TLSConfig != nil && len(o.Addrs) > 0 {
			if host, _, _ := net.SplitHostPort(o.Addrs[0]); o.TLSConfig.ServerName != host {
				t.Fatalf("ParseURL(%q) verifies %q, not the first host %q", raw, o.TLSConfig.ServerName, host)
			}
		}

		again := formatRedisURL(scheme, o)
		u2, err := url.Parse(again)
		if err != nil {
			t.Fatalf("%q is written back as %q, which does not parse: %v", raw, again, err)
		}
		o2, err := ParseURL(u2)
		if err != nil {
			t.Fatalf("%q is written back as %q, which ParseURL refuses: %v", raw, again, err)
		}
		if (o2.TLSConfig == nil) != (o.TLSConfig == nil) || o.TLSConfig != nil && o2.TLSConfig.ServerName != o.TLSConfig.ServerName {
			t.Fatalf("%q written back as %q parses to TLS %v, want %v", raw, again, o2.TLSConfig, o.TLSConfig)
		}
		o.TLSConfig, o2.TLSConfig = nil, nil
		if !reflect.DeepEqual(o2, o) {
			t.Fatalf("%q written back as %q parses to %+v, want %+v", raw, again, o2, o)
		}
	})
}
