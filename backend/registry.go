package backend

import (
	"context"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// OpenOptions carries the client's connection settings to a driver's opener.
// A driver uses what applies to it and ignores the rest.
type OpenOptions struct {
	Endpoints      []string      // overrides the URL's hosts when set
	DialTimeout    time.Duration // the opener's ctx also carries it as a deadline
	KeepAlive      KeepAlive
	MaxMessageSize int // bytes; 0 for the transport's default
	Logger         *slog.Logger
}

// KeepAlive configures transport keep-alives that detect dead connections.
type KeepAlive struct {
	Time                time.Duration // ping after this much idle time; 0 disables
	Timeout             time.Duration // wait this long for the ping's answer
	PermitWithoutStream bool          // ping even with no call in flight
}

// Opener makes a driver from a URL whose scheme it was registered for.
type Opener func(ctx context.Context, u *url.URL, opts OpenOptions) (Driver, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Opener{}
)

// Register makes a driver available under a URL scheme ("mem", "etcd").
// Drivers call it from init. It panics if the scheme is taken or the opener
// nil, as database/sql.Register does: both are programming errors found at
// start-up.
func Register(scheme string, open Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if open == nil {
		panic("backend: Register opener is nil for scheme " + scheme)
	}
	scheme = strings.ToLower(scheme)
	if _, dup := registry[scheme]; dup {
		panic("backend: Register called twice for scheme " + scheme)
	}
	registry[scheme] = open
}

// Schemes lists the registered schemes, sorted.
func Schemes() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for s := range registry {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// knownDrivers names the package to import for each scheme raftlock ships,
// so an unregistered scheme gets an error that says what to do.
var knownDrivers = map[string]string{
	"mem":        "github.com/raftlock/raftlock/memory",
	"raft":       "github.com/raftlock/raftlock/raftbackend",
	"raft+embed": "github.com/raftlock/raftlock/raftbackend",
	"etcd":       "github.com/raftlock/raftlock/etcdbackend",
	"redis":      "github.com/raftlock/raftlock/redisbackend",
	"rediss":     "github.com/raftlock/raftlock/redisbackend",
}

// Open parses rawURL and calls the opener registered for its scheme.
func Open(ctx context.Context, rawURL string, opts OpenOptions) (Driver, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, &Error{Code: CodeInvalidArgument, Message: "store URL: " + err.Error(), Err: err}
	}
	if u.Scheme == "" {
		return nil, Errorf(CodeInvalidArgument, "store URL %q has no scheme (want one of %s)", rawURL, strings.Join(Schemes(), ", "))
	}
	scheme := strings.ToLower(u.Scheme)
	registryMu.RLock()
	open := registry[scheme]
	registryMu.RUnlock()
	if open == nil {
		if pkg, ok := knownDrivers[scheme]; ok {
			return nil, Errorf(CodeNotSupported, "no driver registered for scheme %q: import _ %q", scheme, pkg)
		}
		return nil, Errorf(CodeNotSupported, "no driver registered for scheme %q (registered: %s)", scheme, strings.Join(Schemes(), ", "))
	}
	return open(ctx, u, opts)
}
