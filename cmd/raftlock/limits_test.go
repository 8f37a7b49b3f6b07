package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/raftlock/raftlock/raftbackend"
)

func TestLimitFlags(t *testing.T) {
	base := []string{"--node-id", "n1", "--data-dir", "d"}
	noEnv := func(string) (string, bool) { return "", false }

	o, err := parseServe(base, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c := o.cfg; c.MaxLocks != 0 || c.MaxWaiters != 0 || c.MaxRequestBytes != raftbackend.DefaultMaxRequestBytes {
		t.Errorf("defaults: %d locks, %d waiters, %d request bytes", c.MaxLocks, c.MaxWaiters, c.MaxRequestBytes)
	}

	env := map[string]string{"RAFTLOCK_MAX_LOCKS": "1000", "RAFTLOCK_MAX_WAITERS": "50"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	o, err = parseServe(append(base, "--max-waiters=7", "--max-request-bytes", "65536"), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if c := o.cfg; c.MaxLocks != 1000 || c.MaxWaiters != 7 || c.MaxRequestBytes != 65536 {
		t.Errorf("from the environment and flags: %d locks, %d waiters, %d request bytes", c.MaxLocks, c.MaxWaiters, c.MaxRequestBytes)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-locks", "-1"}, `invalid value "-1" for flag -max-locks: must not be negative`},
		{[]string{"--max-waiters", "many"}, `invalid value "many" for flag -max-waiters: want a whole number`},
		{[]string{"--max-request-bytes=-5"}, "must not be negative"},
	} {
		if _, err := parseServe(append(base, tc.args...), noEnv); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

func TestLimitFlagsInHelp(t *testing.T) {
	var out bytes.Buffer
	serveUsage(&out)
	for _, s := range []string{
		"--max-locks locks", "[$RAFTLOCK_MAX_LOCKS]",
		"--max-waiters waiters", "[$RAFTLOCK_MAX_WAITERS]",
		"--max-request-bytes bytes", "(default 1048576)", "[$RAFTLOCK_MAX_REQUEST_BYTES]",
	} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("help lacks %q", s)
		}
	}
}
