package etcdbackend

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		want Config
		tls  bool
	}{
		{url: "etcd://h1:2379", want: Config{Endpoints: []string{"h1:2379"}}},
		{url: "etcd://h1:2379,h2:2379/", want: Config{Endpoints: []string{"h1:2379", "h2:2379"}}},
		{url: "etcd://h1:2379?prefix=/locks&dial_timeout=3s&default_wait_timeout=2m",
			want: Config{Endpoints: []string{"h1:2379"}, Prefix: "/locks", DialTimeout: 3 * time.Second, DefaultWaitTimeout: 2 * time.Minute}},
		{url: "etcd://alice:s%40cret@h1:2379", want: Config{Endpoints: []string{"h1:2379"}, Username: "alice", Password: "s@cret"}},
		{url: "etcd://h1:2379?username=bob&password=pw", want: Config{Endpoints: []string{"h1:2379"}, Username: "bob", Password: "pw"}},
		{url: "etcd://h1:2379?tls=true", want: Config{Endpoints: []string{"h1:2379"}}, tls: true},
		{url: "etcd://h1:2379?server_name=etcd.local&insecure_skip_verify=true", want: Config{Endpoints: []string{"h1:2379"}}, tls: true},
		{url: "etcd://", want: Config{}},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", tc.url, err)
		}
		got, e := parseURL(u)
		if e != nil {
			t.Errorf("parseURL(%q): %v", tc.url, e)
			continue
		}
		if (got.TLS != nil) != tc.tls {
			t.Errorf("parseURL(%q): TLS %v, want TLS %v", tc.url, got.TLS != nil, tc.tls)
		}
		got.TLS = nil
		if strings.Join(got.Endpoints, ",") != strings.Join(tc.want.Endpoints, ",") {
			t.Errorf("parseURL(%q) endpoints = %q, want %q", tc.url, got.Endpoints, tc.want.Endpoints)
		}
		got.Endpoints, tc.want.Endpoints = nil, nil
		if got.Prefix != tc.want.Prefix || got.DialTimeout != tc.want.DialTimeout || got.Username != tc.want.Username ||
			got.Password != tc.want.Password || got.DefaultWaitTimeout != tc.want.DefaultWaitTimeout {
			t.Errorf("parseURL(%q) = %+v, want %+v", tc.url, got, tc.want)
		}
	}
}

func TestParseURLRejectsBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{
		"etcd:h1:2379",
		"etcd://h1:2379/locks",
		"etcd://h1:2379#frag",
		"etcd://h1:2379?bogus=1",
		"etcd://h1:2379?prefix=/a&prefix=/b",
		"etcd://h1:2379?prefix=",
		"etcd://h1:2379?prefix=%00",
		"etcd://h1:2379?dial_timeout=soon",
		"etcd://h1:2379?dial_timeout=-1s",
		"etcd://h1:2379?default_wait_timeout=100000h",
		"etcd://h1:2379?tls=maybe",
		"etcd://h1:2379?insecure_skip_verify=perhaps",
		"etcd://h1:2379?password=pw",
		"etcd://u:p@h1:2379?username=v",
		"etcd://u:p@h1:2379?password=q",
		"etcd://h1:2379?cert_file=" + junk,
		"etcd://h1:2379?ca_file=" + filepath.Join(dir, "missing.pem"),
		"etcd://h1:2379?ca_file=" + junk,
		"etcd://h1:2379?cert_file=" + junk + "&key_file=" + junk,
		"etcd://h1:2379,,h2:2379",
		"etcd://h1:2379?%zz",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			continue // rejected before it reaches the driver
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("parseURL(%q) panicked: %v", raw, p)
				}
			}()
			_, e := parseURL(u)
			if e == nil || e.Code != backend.CodeInvalidArgument {
				t.Errorf("parseURL(%q) = %v, want CodeInvalidArgument", raw, e)
			}
		}()
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, cfg := range []Config{
		{},
		{Endpoints: []string{" ", ""}},
		{Endpoints: []string{"h:1"}, Password: "pw"},
		{Endpoints: []string{"h:1"}, Prefix: "a\x00b"},
	} {
		_, err := Open(ctx, cfg)
		if !errors.Is(err, backend.ErrInvalidArgument) {
			t.Errorf("Open(%+v) = %v, want ErrInvalidArgument", cfg, err)
		}
	}
	if _, err := NewDriver(nil); !errors.Is(err, backend.ErrInvalidArgument) {
		t.Errorf("NewDriver(nil) = %v, want ErrInvalidArgument", err)
	}
}

func TestCleanPrefix(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": DefaultPrefix, "/locks": "/locks/", "/locks/": "/locks/", "x": "x/"} {
		if got, e := cleanPrefix(in); e != nil || got != want {
			t.Errorf("cleanPrefix(%q) = %q, %v; want %q", in, got, e, want)
		}
	}
}

func TestTTLSeconds(t *testing.T) {
	t.Parallel()
	for in, want := range map[time.Duration]int64{
		time.Second: 1, time.Second + time.Nanosecond: 2, 1500 * time.Millisecond: 2, time.Minute: 60, time.Nanosecond: 1,
	} {
		if got := ttlSeconds(in); got != want {
			t.Errorf("ttlSeconds(%v) = %d, want %d", in, got, want)
		}
	}
}

func TestKeyLayout(t *testing.T) {
	t.Parallel()
	d := &Driver{prefix: "/p/"}
	k := d.clientKey("a/b", "c")
	if lock, client, ok := d.splitKey([]byte(k)); !ok || lock != "a/b" || client != "c" {
		t.Errorf("splitKey(%q) = %q, %q, %v", k, lock, client, ok)
	}
	// A lock's keys are not in the prefix range of a longer lock ID, and
	// sort before its keys.
	if strings.HasPrefix(d.clientKey("a/b", "c"), d.lockPrefix("a")) {
		t.Errorf("lock a's prefix covers lock a/b's keys")
	}
	if !(d.clientKey("a", "z") < d.clientKey("a/b", "a")) || !(d.clientKey("a", "z") < d.clientKey("a0", "a")) {
		t.Errorf("keys do not sort by lock ID first")
	}
	for _, bad := range []string{"/other/a\x00c", "/p/nosep", "/p/\x00c", "/p/a\x00"} {
		if _, _, ok := d.splitKey([]byte(bad)); ok {
			t.Errorf("splitKey(%q) accepted a key outside the layout", bad)
		}
	}
}
