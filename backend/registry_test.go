package backend

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// stubDriver is a Driver that only records how it was opened.
type stubDriver struct {
	scheme string
	url    *url.URL
	opts   OpenOptions
	ctx    context.Context
}

func (*stubDriver) Acquire(context.Context, *AcquireRequest) (*AcquireResult, error) {
	return nil, ErrNotSupported
}
func (*stubDriver) Release(context.Context, *ReleaseRequest) (*ReleaseResult, error) {
	return nil, ErrNotSupported
}
func (*stubDriver) Renew(context.Context, *RenewRequest) (*Lock, error) { return nil, ErrNotSupported }
func (*stubDriver) Get(context.Context, *GetRequest) (*LockInfo, error) { return nil, ErrNotSupported }
func (*stubDriver) List(context.Context, *ListRequest) (*ListResult, error) {
	return nil, ErrNotSupported
}
func (*stubDriver) Capabilities() Capabilities { return Capabilities{} }
func (*stubDriver) Close() error               { return nil }

var _ Driver = (*stubDriver)(nil)

func stubOpener(scheme string) Opener {
	return func(ctx context.Context, u *url.URL, opts OpenOptions) (Driver, error) {
		return &stubDriver{scheme: scheme, url: u, opts: opts, ctx: ctx}, nil
	}
}

var errOpenFailed = errors.New("backendtest: open failed")

// The registry is process-wide and Register panics on a second call, so the
// test schemes are registered once however often the tests run (-count).
var registerTestSchemes = sync.OnceFunc(func() {
	Register("backendtest-b", stubOpener("b"))
	Register("backendtest-a", stubOpener("a"))
	Register("BackendTest-Mixed", stubOpener("mixed"))
	Register("backendtest-fail", func(context.Context, *url.URL, OpenOptions) (Driver, error) {
		return nil, errOpenFailed
	})
})

type ctxKey struct{}

func TestOpenDispatch(t *testing.T) {
	registerTestSchemes()
	opts := OpenOptions{Endpoints: []string{"h1:1", "h2:2"}, DialTimeout: time.Second, MaxMessageSize: 1 << 20}
	ctx := context.WithValue(context.Background(), ctxKey{}, "marker")
	tests := []struct {
		url    string
		scheme string
		host   string
	}{
		{"backendtest-a://host-a:1/x", "a", "host-a:1"},
		{"backendtest-b://host-b:2/y?prefix=/locks", "b", "host-b:2"},
		{"BACKENDTEST-A://upper", "a", "upper"},
		{"BackendTest-B://mixed-case", "b", "mixed-case"},
		{"backendtest-mixed://registered-mixed", "mixed", "registered-mixed"},
		{"BACKENDTEST-MIXED:///path/only", "mixed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			d, err := Open(ctx, tt.url, opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			s, ok := d.(*stubDriver)
			if !ok {
				t.Fatalf("Open returned %T", d)
			}
			if s.scheme != tt.scheme {
				t.Errorf("opened by %q's opener, want %q's", s.scheme, tt.scheme)
			}
			if s.url.Host != tt.host {
				t.Errorf("opener got host %q, want %q", s.url.Host, tt.host)
			}
			if !slices.Equal(s.opts.Endpoints, opts.Endpoints) || s.opts.DialTimeout != opts.DialTimeout || s.opts.MaxMessageSize != opts.MaxMessageSize {
				t.Errorf("opener got options %+v, want %+v", s.opts, opts)
			}
			if s.ctx.Value(ctxKey{}) != "marker" {
				t.Error("opener did not get the caller's context")
			}
		})
	}
	if q := mustOpen(t, "backendtest-b://h/?prefix=/locks").url.Query().Get("prefix"); q != "/locks" {
		t.Errorf("opener got query prefix %q, want /locks", q)
	}
}

func mustOpen(t *testing.T, raw string) *stubDriver {
	t.Helper()
	d, err := Open(context.Background(), raw, OpenOptions{})
	if err != nil {
		t.Fatalf("Open(%q): %v", raw, err)
	}
	return d.(*stubDriver)
}

func TestOpenOpenerError(t *testing.T) {
	registerTestSchemes()
	d, err := Open(context.Background(), "backendtest-fail://x", OpenOptions{})
	if d != nil || err != errOpenFailed {
		t.Errorf("Open = %v, %v; want nil, the opener's error", d, err)
	}
}

func TestSchemes(t *testing.T) {
	registerTestSchemes()
	got := Schemes()
	if !slices.IsSorted(got) {
		t.Errorf("Schemes() = %q, not sorted", got)
	}
	for _, s := range []string{"backendtest-a", "backendtest-b", "backendtest-mixed", "backendtest-fail"} {
		if !slices.Contains(got, s) {
			t.Errorf("Schemes() = %q, missing %q", got, s)
		}
	}
	if slices.Contains(got, "BackendTest-Mixed") {
		t.Errorf("Schemes() = %q keeps a scheme's case", got)
	}
	// The caller owns the slice it gets.
	got[0] = "zzz-changed"
	if Schemes()[0] == "zzz-changed" {
		t.Error("Schemes() shares its slice between calls")
	}
}

func TestOpenErrors(t *testing.T) {
	registerTestSchemes()
	tests := []struct {
		name     string
		url      string
		want     Code
		contains []string
		hasCause bool
	}{
		{"empty", "", CodeInvalidArgument, []string{"no scheme", "backendtest-a"}, false},
		{"host and path only", "localhost/locks", CodeInvalidArgument, []string{"no scheme"}, false},
		{"absolute path", "/var/lib/raftlock", CodeInvalidArgument, []string{"no scheme"}, false},
		{"missing scheme before ://", "://host", CodeInvalidArgument, []string{"store URL"}, true},
		{"bad escape", "backendtest-a://host/%zz", CodeInvalidArgument, []string{"store URL"}, true},
		{"bad host", "backendtest-a://[::1", CodeInvalidArgument, []string{"store URL"}, true},
		{"control character", "backendtest-a://host/\x7f\x01", CodeInvalidArgument, []string{"store URL"}, true},
		{"etcd not linked in", "etcd://127.0.0.1:2379", CodeNotSupported, []string{`"etcd"`, `"github.com/raftlock/raftlock/etcdbackend"`}, false},
		{"etcd upper case", "ETCD://127.0.0.1:2379", CodeNotSupported, []string{`"etcd"`, "etcdbackend"}, false},
		{"mem not linked in", "mem://", CodeNotSupported, []string{`"github.com/raftlock/raftlock/memory"`}, false},
		{"raft not linked in", "raft://h1:1,h2:2", CodeNotSupported, []string{`"github.com/raftlock/raftlock/raftbackend"`}, false},
		{"raft+embed not linked in", "raft+embed:///data", CodeNotSupported, []string{`"github.com/raftlock/raftlock/raftbackend"`}, false},
		{"redis not linked in", "redis://h:6379/0", CodeNotSupported, []string{`"github.com/raftlock/raftlock/redisbackend"`}, false},
		{"rediss not linked in", "rediss://h:6379/0", CodeNotSupported, []string{`"github.com/raftlock/raftlock/redisbackend"`}, false},
		{"unknown scheme", "nosuchstore://h", CodeNotSupported, []string{`"nosuchstore"`, "backendtest-a"}, false},
		{"prefix of a registered scheme", "backendtest://h", CodeNotSupported, []string{`"backendtest"`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Open(context.Background(), tt.url, OpenOptions{})
			if err == nil {
				t.Fatalf("Open(%q) = %v, want an error", tt.url, d)
			}
			if d != nil {
				t.Errorf("Open(%q) returned a driver with its error", tt.url)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Open(%q) error %v (%T) is not an *Error", tt.url, err, err)
			}
			checkErr(t, e, tt.want, "")
			for _, s := range tt.contains {
				if !strings.Contains(e.Error(), s) {
					t.Errorf("error %q does not mention %s", e.Error(), s)
				}
			}
			var urlErr *url.Error
			if got := errors.As(err, &urlErr); got != tt.hasCause {
				t.Errorf("error unwraps to a *url.Error: %v, want %v", got, tt.hasCause)
			}
		})
	}
}

func TestRegisterPanics(t *testing.T) {
	registerTestSchemes()
	tests := []struct {
		name   string
		scheme string
		open   Opener
	}{
		{"twice", "backendtest-a", stubOpener("again")},
		{"twice, other case", "BACKENDTEST-B", stubOpener("again")},
		{"nil opener", "backendtest-nil", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatalf("Register(%q) did not panic", tt.scheme)
				}
				if msg, _ := r.(string); !strings.Contains(strings.ToLower(msg), strings.ToLower(tt.scheme)) {
					t.Errorf("panic %v does not name the scheme %q", r, tt.scheme)
				}
			}()
			Register(tt.scheme, tt.open)
		})
	}
	// A rejected Register changes nothing.
	if slices.Contains(Schemes(), "backendtest-nil") {
		t.Error("a nil opener was registered")
	}
	if s := mustOpen(t, "backendtest-a://h"); s.scheme != "a" {
		t.Errorf("a duplicate Register replaced the opener: got %q's", s.scheme)
	}
}
