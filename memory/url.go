package memory

import (
	"context"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// Scheme is the URL scheme the package registers with backend.Register.
const Scheme = "mem"

func init() {
	backend.Register(Scheme, openURL)
}

// named holds the stores opened as mem://NAME, shared by every driver opened
// with that NAME and closed when the last of them closes.
var named = struct {
	sync.Mutex
	m map[string]*namedStore
}{m: make(map[string]*namedStore)}

type namedStore struct {
	store *Store
	refs  int // drivers open on it
}

// openURL is the backend.Opener for mem:// URLs; see the package
// documentation for their form.
func openURL(ctx context.Context, u *url.URL, _ backend.OpenOptions) (backend.Driver, error) {
	if err := ctx.Err(); err != nil {
		return nil, backend.ContextError(ctx, "")
	}
	name, cfg, hasOpts, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	if name == "" {
		s := newStore(cfg, "")
		d := s.NewDriver()
		d.onClose = func() { s.Close() }
		return d, nil
	}

	named.Lock()
	ns := named.m[name]
	if ns == nil {
		ns = &namedStore{store: newStore(cfg, name)}
		named.m[name] = ns
	} else if hasOpts && !sameLimits(ns.store.cfg, cfg) {
		named.Unlock()
		return nil, backend.Errorf(backend.CodeInvalidArgument,
			"memory store %q is already open with other options", name)
	}
	ns.refs++
	named.Unlock()

	d := ns.store.NewDriver()
	d.onClose = func() {
		named.Lock()
		ns.refs--
		last := ns.refs == 0
		if last {
			delete(named.m, name)
		}
		named.Unlock()
		if last {
			ns.store.Close()
		}
	}
	return d, nil
}

// sameLimits compares the options a URL can set.
func sameLimits(a, b config) bool {
	return a.maxLocks == b.maxLocks && a.maxWaiters == b.maxWaiters &&
		a.minTTL == b.minTTL && a.maxTTL == b.maxTTL &&
		a.defaultWaitTimeout == b.defaultWaitTimeout
}

// parseURL reads a mem:// URL: the store's NAME ("" for a private store), its
// configuration, and whether the URL set any option.
func parseURL(u *url.URL) (name string, cfg config, hasOpts bool, err error) {
	cfg = defaultConfig()
	bad := func(format string, args ...any) (string, config, bool, error) {
		return "", cfg, false, backend.Errorf(backend.CodeInvalidArgument, "memory store URL: "+format, args...)
	}
	switch {
	case u.Opaque != "":
		return bad("write mem://NAME, not mem:%s", u.Opaque)
	case u.User != nil:
		return bad("user information is not allowed")
	case u.Path != "" && u.Path != "/":
		return bad("path %q is not allowed: the store's name is the host part, mem://NAME", u.Path)
	case u.Fragment != "":
		return bad("fragment %q is not allowed", u.Fragment)
	}
	q, perr := url.ParseQuery(u.RawQuery)
	if perr != nil {
		return bad("query: %v", perr)
	}
	minTTL, maxTTL := cfg.minTTL, cfg.maxTTL
	for key, vals := range q {
		if len(vals) != 1 {
			return bad("parameter %s is given %d times", key, len(vals))
		}
		v := vals[0]
		switch key {
		case "max_locks", "max_waiters":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return bad("%s=%q: want a whole number, 0 for no limit", key, v)
			}
			if key == "max_locks" {
				cfg.maxLocks = n
			} else {
				cfg.maxWaiters = n
			}
		case "min_ttl", "max_ttl", "default_wait_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return bad("%s=%q: want a positive Go duration such as 30s", key, v)
			}
			switch key {
			case "min_ttl":
				minTTL = d
			case "max_ttl":
				maxTTL = d
			default:
				if d > backend.MaxWaitTimeout {
					return bad("%s=%q is above %v", key, v, backend.MaxWaitTimeout)
				}
				cfg.defaultWaitTimeout = d
			}
		default:
			return bad("unknown parameter %q (known: max_locks, max_waiters, min_ttl, max_ttl, default_wait_timeout)", key)
		}
	}
	if minTTL > maxTTL {
		return bad("min_ttl %v is above max_ttl %v", minTTL, maxTTL)
	}
	cfg.minTTL, cfg.maxTTL = minTTL, maxTTL
	return u.Host, cfg, len(q) > 0, nil
}
