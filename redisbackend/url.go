package redisbackend

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// The URL schemes the package registers: Scheme for plain connections,
// TLSScheme for TLS.
const (
	Scheme    = "redis"
	TLSScheme = "rediss"
)

func init() {
	backend.Register(Scheme, openURL)
	backend.Register(TLSScheme, openURL)
}

// openURL is the backend.Opener of both schemes.
func openURL(ctx context.Context, u *url.URL, oo backend.OpenOptions) (backend.Driver, error) {
	opts, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	if len(oo.Endpoints) > 0 {
		opts.Addrs = nil
		for _, e := range oo.Endpoints {
			opts.Addrs = append(opts.Addrs, withDefaultPort(strings.TrimSpace(e)))
		}
	}
	if oo.DialTimeout > 0 && opts.DialTimeout == 0 {
		opts.DialTimeout = oo.DialTimeout
	}
	if oo.Logger != nil {
		opts.Logger = oo.Logger
	}
	d, err := Open(ctx, opts)
	if err != nil {
		return nil, err // not a nil *Driver inside a non-nil interface
	}
	return d, nil
}

// ParseURL reads a redis:// or rediss:// URL into Options:
//
//	redis://[user:password@]host[:port][,host[:port]...][/db][?param=value&...]
//	rediss://...   the same over TLS, verifying the server's certificate
//
// The port defaults to 6379 and the database to 0. Several hosts are the
// seeds of a Redis Cluster. Parameters (each at most once):
//
//	prefix                key prefix (default "raftlock"; no "{" or "}")
//	cluster               true: a single host is a Redis Cluster entry point
//	max_waiters           limit of each lock's wait queue (0: none)
//	waiter_lease          lifetime of a blocked waiter's entry between heartbeats (Go duration)
//	default_wait_timeout  how long an Enqueue without WaitTimeout waits (Go duration)
//	dial_timeout          connection timeout (Go duration)
//
// A malformed URL, or an unknown, repeated or malformed parameter, fails
// with CodeInvalidArgument.
func ParseURL(u *url.URL) (Options, error) {
	bad := func(format string, args ...any) (Options, error) {
		return Options{}, backend.Errorf(backend.CodeInvalidArgument, "redis URL: "+format, args...)
	}
	var o Options
	switch strings.ToLower(u.Scheme) {
	case Scheme:
	case TLSScheme:
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	default:
		return bad("scheme %q is not %s or %s", u.Scheme, Scheme, TLSScheme)
	}
	if u.Opaque != "" {
		return bad("want %s://host:port/db, not an opaque URL", u.Scheme)
	}
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
		if _, set := u.User.Password(); !set {
			// redis://password@host, as redis-cli and go-redis read it.
			o.Username, o.Password = "", u.User.Username()
		}
	}
	if u.Host != "" {
		for _, h := range strings.Split(u.Host, ",") {
			if h = strings.TrimSpace(h); h == "" {
				return bad("empty host in %q", u.Host)
			}
			addr := withDefaultPort(h)
			// withDefaultPort takes a host with several colons for an IPv6
			// address; one that is not, such as h:1:2, is a typo that would
			// only fail when dialled, as unavailable (and be retried).
			host, _, err := net.SplitHostPort(addr)
			if err == nil && strings.Contains(host, ":") {
				_, err = netip.ParseAddr(host)
			}
			if err != nil {
				return bad("host %q is not host:port", h)
			}
			o.Addrs = append(o.Addrs, addr)
		}
	}
	if o.TLSConfig != nil && len(o.Addrs) > 0 {
		if host, _, err := net.SplitHostPort(o.Addrs[0]); err == nil {
			o.TLSConfig.ServerName = host
		}
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 || strings.Contains(db, "/") {
			return bad("database %q is not a number", db)
		}
		o.DB = n
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("query: %v", err)
	}
	for key, vals := range q {
		if len(vals) != 1 {
			return bad("parameter %s given %d times", key, len(vals))
		}
		v := vals[0]
		var err error
		switch key {
		case "prefix":
			o.Prefix = v
			if e := validatePrefix(v); e != nil {
				return bad("prefix: %s", e.Message)
			}
		case "cluster":
			o.Cluster, err = strconv.ParseBool(v)
		case "max_waiters":
			o.MaxWaiters, err = strconv.Atoi(v)
			if err == nil && o.MaxWaiters < 0 {
				err = strconv.ErrRange
			}
		case "waiter_lease":
			o.WaiterLease, err = positiveDuration(v)
		case "default_wait_timeout":
			o.DefaultWaitTimeout, err = positiveDuration(v)
		case "dial_timeout":
			o.DialTimeout, err = positiveDuration(v)
		default:
			return bad("unknown parameter %q", key)
		}
		if err != nil {
			return bad("parameter %s=%q: %v", key, v, err)
		}
	}
	if len(o.Addrs) > 1 || o.Cluster {
		if o.DB != 0 {
			return bad("a Redis Cluster has only database 0")
		}
	}
	return o, nil
}

// withDefaultPort adds Redis's port to a host without one.
func withDefaultPort(h string) string {
	if _, _, err := net.SplitHostPort(h); err == nil {
		return h
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		return h + ":6379"
	}
	if strings.Count(h, ":") > 1 { // a bare IPv6 address
		return "[" + h + "]:6379"
	}
	return net.JoinHostPort(h, "6379")
}

func positiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err == nil && d <= 0 {
		return 0, strconv.ErrRange
	}
	return d, err
}
