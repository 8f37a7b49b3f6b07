package redisbackend

import (
	"context"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want Options
	}{
		{"redis://localhost", Options{Addrs: []string{"localhost:6379"}}},
		{"redis://h:7000/3", Options{Addrs: []string{"h:7000"}, DB: 3}},
		{"redis://u:p@h/0", Options{Addrs: []string{"h:6379"}, Username: "u", Password: "p"}},
		{"redis://:p@h", Options{Addrs: []string{"h:6379"}, Password: "p"}},
		{"redis://secret@h", Options{Addrs: []string{"h:6379"}, Password: "secret"}},
		{"redis://a:1,b:2", Options{Addrs: []string{"a:1", "b:2"}}},
		{"redis://a,b", Options{Addrs: []string{"a:6379", "b:6379"}}},
		{"redis://[::1]:7000", Options{Addrs: []string{"[::1]:7000"}}},
		{"redis://h?cluster=true", Options{Addrs: []string{"h:6379"}, Cluster: true}},
		{"redis://h/1?prefix=app:locks&max_waiters=8&waiter_lease=2s&default_wait_timeout=1m&dial_timeout=300ms",
			Options{Addrs: []string{"h:6379"}, DB: 1, Prefix: "app:locks", MaxWaiters: 8, WaiterLease: 2 * time.Second,
				DefaultWaitTimeout: time.Minute, DialTimeout: 300 * time.Millisecond}},
		{"redis:///2", Options{DB: 2}},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseURL(u)
		if err != nil {
			t.Errorf("ParseURL(%s): %v", tc.url, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseURL(%s) =\n %+v\nwant\n %+v", tc.url, got, tc.want)
		}
	}

	u, _ := url.Parse("rediss://user:pw@cache.example:6380/0")
	o, err := ParseURL(u)
	if err != nil || o.TLSConfig == nil || o.TLSConfig.ServerName != "cache.example" || o.Username != "user" {
		t.Errorf("rediss URL: %+v, %v; want TLS for cache.example", o, err)
	}
}

func TestParseURLRejects(t *testing.T) {
	for _, s := range []string{
		"http://h",
		"redis:opaque",
		"redis://h/x",
		"redis://h/-1",
		"redis://h/1/2",
		"redis://h?nope=1",
		"redis://h?prefix=a&prefix=b",
		"redis://h?prefix=",
		"redis://h?prefix=a{b",
		"redis://h?prefix=a}",
		"redis://h?max_waiters=-1",
		"redis://h?max_waiters=x",
		"redis://h?waiter_lease=0s",
		"redis://h?waiter_lease=soon",
		"redis://h?default_wait_timeout=-1s",
		"redis://h?dial_timeout=",
		"redis://h?cluster=maybe",
		"redis://a,b/1",
		"redis://h/1?cluster=true",
		"redis://a,,b",
		"redis://h?%zz",
	} {
		u, err := url.Parse(s)
		if err != nil {
			continue // not even a URL
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("ParseURL(%s) panicked: %v", s, p)
				}
			}()
			_, err = ParseURL(u)
			if backend.CodeOf(err) != backend.CodeInvalidArgument {
				t.Errorf("ParseURL(%s) = %v, want CodeInvalidArgument", s, err)
			}
		}()
	}
}

// raftlock.Open finds the driver through the registry, and OpenOptions'
// endpoints replace the URL's hosts.
func TestRegistry(t *testing.T) {
	addr := redisAddr(t)
	ctx := ctxT(t)
	d, err := backend.Open(ctx, "redis://"+addr+"/0?prefix="+uniquePrefix("registry"), backend.OpenOptions{})
	if err != nil {
		t.Fatalf("backend.Open: %v", err)
	}
	if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "x", ClientID: "c", TTL: time.Second}); err != nil {
		t.Errorf("Acquire through a registry-opened driver: %v", err)
	}
	_ = d.Close()

	d, err = backend.Open(ctx, "redis://nowhere.invalid:1/0", backend.OpenOptions{Endpoints: []string{addr}})
	if err != nil {
		t.Fatalf("backend.Open with Endpoints: %v", err)
	}
	_ = d.Close()

	_, err = backend.Open(ctx, "redis://"+addr+"/0?bogus=1", backend.OpenOptions{})
	wantCode(t, err, backend.CodeInvalidArgument, "unknown parameter")

	// Nothing listens here: Open fails at once with a retryable code.
	_, err = backend.Open(ctx, "redis://127.0.0.1:1/0", backend.OpenOptions{DialTimeout: time.Second})
	wantCode(t, err, backend.CodeUnavailable, "Open of an address nobody listens on")

	// rediss against a plain server: the TLS handshake fails.
	_, err = backend.Open(ctx, "rediss://"+addr+"/0?dial_timeout=1s", backend.OpenOptions{})
	if err == nil {
		t.Errorf("rediss:// to a plain-text server succeeded")
	}
}

// Wrong credentials fail at Open, not at the first lock.
func TestOpenWithWrongPassword(t *testing.T) {
	addr := redisAddr(t)
	ctx := ctxT(t)
	_, err := Open(ctx, Options{Addrs: []string{addr}, Username: "nobody", Password: "wrong"})
	if err == nil {
		t.Fatal("Open as a user the server does not know succeeded")
	}
	if c := backend.CodeOf(err); c.Retryable() {
		t.Errorf("wrong credentials give retryable code %v: %v", c, err)
	}
}

func TestKeysShareOneHashTag(t *testing.T) {
	ks := keyspace{prefix: "app:locks"}
	for _, id := range []string{"a", "jobs/nightly", "}", "}x", "a}b", "100%", "%7D", "{x}", "ä"} {
		keys := ks.lockKeys(id)
		tag := hashTag(keys[0])
		if tag == "" {
			t.Errorf("lock %q: key %q has an empty hash tag", id, keys[0])
		}
		for _, k := range keys {
			if hashTag(k) != tag {
				t.Errorf("lock %q: keys %q and %q have different hash tags", id, keys[0], k)
			}
		}
		for _, k := range []string{keys[0], keys[2]} {
			got, ok := ks.lockIDOf(k)
			if !ok || got != id {
				t.Errorf("lockIDOf(%q) = %q, %v; want %q", k, got, ok, id)
			}
		}
		if _, ok := ks.lockIDOf(keys[1]); ok {
			t.Errorf("lockIDOf took the fencing key %q for a lock key", keys[1])
		}
	}
	if a, b := ks.lockKeys("%7D")[0], ks.lockKeys("}")[0]; a == b {
		t.Errorf("lock IDs %q and %q share key %q", "%7D", "}", a)
	}
	if _, ok := (keyspace{prefix: "app"}).lockIDOf("app:locks:{x}:o"); ok {
		t.Errorf("a key of another prefix was taken for one of this prefix")
	}
}

// hashTag is the part of key Redis Cluster hashes.
func hashTag(key string) string {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		return key
	}
	j := strings.IndexByte(key[i+1:], '}')
	if j <= 0 {
		return key
	}
	return key[i+1 : i+1+j]
}

func TestNewDriverRejects(t *testing.T) {
	if _, err := NewDriver(nil); backend.CodeOf(err) != backend.CodeInvalidArgument {
		t.Errorf("NewDriver(nil) = %v", err)
	}
	c := rawClient(t)
	for _, p := range []string{"", "a{b", "a}", "bad\x00"} {
		if _, err := NewDriver(c, WithPrefix(p)); backend.CodeOf(err) != backend.CodeInvalidArgument {
			t.Errorf("NewDriver with prefix %q = %v, want CodeInvalidArgument", p, err)
		}
	}
	_, err := Open(context.Background(), Options{Addrs: []string{"no-port"}})
	wantCode(t, err, backend.CodeInvalidArgument, "Open with an address without a port")
	_, err = Open(context.Background(), Options{Addrs: []string{"a:1", "b:2"}, DB: 2})
	wantCode(t, err, backend.CodeInvalidArgument, "Open of a cluster with database 2")
}

// A prefix with glob characters lists its own locks only, not those of a
// prefix the glob would match.
func TestPrefixWithGlobCharacters(t *testing.T) {
	ctx := ctxT(t)
	base := uniquePrefix("glob")
	star, plain := openDriver(t, base+"*[x]?", Options{}), openDriver(t, base+"AxB", Options{})
	for _, d := range []*Driver{star, plain} {
		if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: d.Prefix() + "-lock", ClientID: "c", TTL: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []*Driver{star, plain} {
		res, err := d.List(ctx, &backend.ListRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Locks) != 1 || res.Locks[0].LockID != d.Prefix()+"-lock" {
			t.Errorf("List under prefix %q = %+v", d.Prefix(), res.Locks)
		}
	}
}
