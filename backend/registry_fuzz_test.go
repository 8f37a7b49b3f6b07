package backend

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
)

// FuzzOpenURL opens arbitrary strings through the registry. In this
// package's tests only the stub schemes of registry_test.go are
// registered, so nothing is dialled or written. Open must never panic; it
// reaches an opener exactly when the URL parses and its scheme, in any
// case, is registered, and hands it the parsed URL; otherwise it fails
// with a typed error that says why: CodeInvalidArgument for a string that
// is no URL or has no scheme, CodeNotSupported naming the scheme for one
// nobody registered.
func FuzzOpenURL(f *testing.F) {
	registerTestSchemes()
	for _, s := range []string{
		"", "mem://", "MEM://x", "raft://h:1", "raft+embed:///data", "etcd://h:2379", "redis://h", "rediss://h",
		"backendtest-a://host-a:1/x", "BACKENDTEST-MIXED:///path/only", "backendtest-fail://h",
		"nope://x", "://x", "%zz", "http://[::1", "a b://c", "x:opaque", "/just/a/path", "backendtest-b:",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		d, err := Open(context.Background(), raw, OpenOptions{})
		u, perr := url.Parse(raw)
		if err == nil {
			stub, ok := d.(*stubDriver)
			switch {
			case !ok:
				t.Fatalf("Open(%q) gave a %T", raw, d)
			case perr != nil:
				t.Fatalf("Open(%q) reached an opener, but url.Parse refuses it: %v", raw, perr)
			case stub.url.String() != u.String():
				t.Fatalf("Open(%q) handed the opener %q", raw, stub.url)
			case !strings.EqualFold(u.Scheme, "backendtest-"+stub.scheme):
				t.Fatalf("Open(%q) reached the opener of scheme %q", raw, stub.scheme)
			}
			return
		}
		if errors.Is(err, errOpenFailed) {
			if perr != nil || !strings.EqualFold(u.Scheme, "backendtest-fail") {
				t.Fatalf("Open(%q) reached the failing opener", raw)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Message == "" {
			t.Fatalf("Open(%q) failed with %#v, want an *Error with a message", raw, err)
		}
		want := CodeNotSupported
		if perr != nil || u.Scheme == "" {
			want = CodeInvalidArgument
		} else if !strings.Contains(e.Message, strings.ToLower(u.Scheme)) {
			t.Fatalf("Open(%q): %q does not name the scheme", raw, e.Message)
		}
		if e.Code != want {
			t.Fatalf("Open(%q) failed with code %v, want %v: %v", raw, e.Code, want, e)
		}
	})
}
