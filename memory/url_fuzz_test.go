package memory

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/raftlock/raftlock/backend"
)

// formatURL writes a mem:// URL that sets every option to cfg's value, so
// that parsing it gives name and cfg back.
func formatURL(name string, cfg config) string {
	q := url.Values{}
	q.Set("max_locks", strconv.Itoa(cfg.maxLocks))
	q.Set("max_waiters", strconv.Itoa(cfg.maxWaiters))
	q.Set("min_ttl", cfg.minTTL.String())
	q.Set("max_ttl", cfg.maxTTL.String())
	q.Set("default_wait_timeout", cfg.defaultWaitTimeout.String())
	u := url.URL{Scheme: Scheme, Host: name, RawQuery: q.Encode()}
	return u.String()
}

// FuzzParseMemoryURL parses arbitrary strings as mem:// URLs. parseURL
// must never panic. It refuses a URL with a CodeInvalidArgument error
// that says what is wrong; the options of a URL it accepts are values the
// Option functions take as they are (so a store opened by URL is one that
// NewStore can make), and written back as a URL they parse to the same
// name and options.
func FuzzParseMemoryURL(f *testing.F) {
	for _, s := range []string{
		"mem://", "MEM://", "mem://shared-test", "mem://shared-test/", "mem://agree?max_locks=5&max_ttl=24h",
		"mem://?max_locks=1&max_waiters=1&min_ttl=10ms&max_ttl=1h&default_wait_timeout=3s",
		"mem://?nope=1", "mem://?max_locks=many", "mem://?max_locks=-1", "mem://?max_waiters=1.5",
		"mem://?min_ttl=5", "mem://?min_ttl=0s", "mem://?max_ttl=-1s", "mem://?min_ttl=1h&max_ttl=1m",
		"mem://?default_wait_timeout=25h", "mem://?default_wait_timeout=0s", "mem://?max_locks=1&max_locks=2",
		"mem://?max_locks=%zz", "mem://name/path", "mem://user@name", "mem:name", "mem://name#frag",
		"mem://n%C3%A9:1?max_ttl=24h0m0.000000001s",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return // backend.Open refuses it before it reaches the driver
		}
		name, cfg, hasOpts, err := parseURL(u)
		if err != nil {
			var e *backend.Error
			if !errors.As(err, &e) || e.Code != backend.CodeInvalidArgument ||
				!strings.HasPrefix(e.Message, "memory store URL: ") || len(e.Message) == len("memory store URL: ") {
				t.Fatalf("parseURL(%q) failed with %#v, want CodeInvalidArgument saying why", raw, err)
			}
			return
		}
		q, _ := url.ParseQuery(u.RawQuery)
		switch {
		case name != u.Host:
			t.Fatalf("parseURL(%q) named the store %q, not its host %q", raw, name, u.Host)
		case hasOpts != (len(q) > 0):
			t.Fatalf("parseURL(%q) says options given: %v", raw, hasOpts)
		case cfg.clock == nil:
			t.Fatalf("parseURL(%q) left no clock", raw)
		}
		want := defaultConfig()
		for _, o := range []Option{WithMaxLocks(cfg.maxLocks), WithMaxWaiters(cfg.maxWaiters),
			WithTTLRange(cfg.minTTL, cfg.maxTTL), WithDefaultWaitTimeout(cfg.defaultWaitTimeout)} {
			o(&want)
		}
		if !sameLimits(cfg, want) {
			t.Fatalf("parseURL(%q) = %+v, which the options make %+v", raw, cfg, want)
		}

		again := formatURL(name, cfg)
		u2, err := url.Parse(again)
		if err != nil {
			t.Fatalf("parseURL(%q) accepted a URL that is written back as %q, which does not parse: %v", raw, again, err)
		}
		name2, cfg2, _, err := parseURL(u2)
		if err != nil || name2 != name || !sameLimits(cfg2, cfg) {
			t.Fatalf("%q written back as %q parses to %q %+v (%v), want %q %+v", raw, again, name2, cfg2, err, name, cfg)
		}
	})
}
