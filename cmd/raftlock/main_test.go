package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftlock/raftlock/internal/chaos"
)

// binDir holds the raftlock binary that the process tests build.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "raftlock-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var build struct {
	once sync.Once
	path string
	err  error
}

// binary builds the raftlock command, once per test run, and returns its
// path. Under -race the binary is built with -race too (chaos.BuildBinary
// sees to it): the nodes are where the concurrency is, and a race they
// report fails the test.
func binary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		build.path, build.err = chaos.BuildBinary(context.Background(), binDir)
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

func TestRunCommands(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stdoutHas  []string // each must appear in stdout
		stderrLine string   // the single line expected on stderr, if any
	}{
		{"no command", nil, exitUsage, nil, "raftlock: missing command (see raftlock help)"},
		{"unknown command", []string{"frobnicate"}, exitUsage, nil, `raftlock: unknown command "frobnicate" (see raftlock help)`},
		{"help", []string{"help"}, exitOK, []string{"serve", "help"}, ""},
		{"-h", []string{"-h"}, exitOK, []string{"raftlock <command> [flags]"}, ""},
		{"help serve", []string{"help", "serve"}, exitOK, []string{"--node-id ID", "[$RAFTLOCK_NODE_ID]", "--join addresses", "raft node serving"}, ""},
		{"serve -h", []string{"serve", "-h"}, exitOK, []string{"--data-dir directory", "[$RAFTLOCK_DATA_DIR]"}, ""},
		{"serve --help", []string{"serve", "--help"}, exitOK, []string{"Usage: raftlock serve [flags]"}, ""},
		{"help unknown", []string{"help", "frobnicate"}, exitUsage, nil, `raftlock help: unknown command "frobnicate" (see raftlock help)`},
		{"help lists client commands", []string{"help"}, exitOK, []string{"lock run", "lock release", "list", "members", "Exit status:", "75   held"}, ""},
		{"help lock", []string{"help", "lock"}, exitOK, []string{"raftlock lock <subcommand>", "acquire"}, ""},
		{"help lock run", []string{"help", "lock", "run"}, exitOK, []string{"-- COMMAND [ARG...]", "--grace duration", "[$RAFTLOCK_STORE]", "RAFTLOCK_TOKEN"}, ""},
		{"lock run -h", []string{"lock", "run", "-h"}, exitOK, []string{"Usage: raftlock lock run"}, ""},
		{"info --help", []string{"info", "--help"}, exitOK, []string{"Usage: raftlock info [flags] LOCK", "--json"}, ""},
		{"release help", []string{"help", "lock", "release"}, exitOK, []string{"--force\n", "raftlock lock release --force --lock ID"}, ""},
		{"help lock unknown", []string{"help", "lock", "frob"}, exitUsage, nil, `raftlock help: unknown command "lock frob" (see raftlock help)`},
		{"help too deep", []string{"help", "info", "more"}, exitUsage, nil, "raftlock help: too many arguments (usage: raftlock help [command])"},
		{"lock alone", []string{"lock"}, exitUsage, nil, "raftlock lock: missing subcommand (see raftlock help lock)"},
		{"lock unknown", []string{"lock", "grab"}, exitUsage, nil, `raftlock lock: unknown subcommand "grab" (see raftlock help lock)`},
		{"lock -h", []string{"lock", "-h"}, exitOK, []string{"renew"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(ctx, tc.args, &stdout, &stderr); code != tc.code {
				t.Errorf("exit status %d, want %d; stderr: %s", code, tc.code, &stderr)
			}
			for _, s := range tc.stdoutHas {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, &stdout)
				}
			}
			want := ""
			if tc.stderrLine != "" {
				want = tc.stderrLine + "\n"
			}
			if stderr.String() != want {
				t.Errorf("stderr = %q, want %q", &stderr, want)
			}
		})
	}
}

// The environment sets what the flags do not; the flags win.
func TestParseServeEnvironment(t *testing.T) {
	env := map[string]string{
		"RAFTLOCK_NODE_ID":            "n9",
		"RAFTLOCK_DATA_DIR":           "from-env",
		"RAFTLOCK_JOIN":               "10.0.0.1:7100, 10.0.0.2:7100",
		"RAFTLOCK_LOG_LEVEL":          "debug",
		"RAFTLOCK_LOG_FORMAT":         "json",
		"RAFTLOCK_HEARTBEAT_TIMEOUT":  "2s",
		"RAFTLOCK_SNAPSHOT_THRESHOLD": "100",
		"RAFTLOCK_BOOTSTRAP":          "", // empty: as if unset
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	o, err := parseServe([]string{"--data-dir", "from-flag", "--join=10.0.0.3:7100"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.NodeID != "n9" || c.DataDir != "from-flag" || c.HeartbeatTimeout != 2*time.Second ||
		c.SnapshotThreshold != 100 || c.Bootstrap || o.logFormat != "json" || o.logLevel.String() != "debug" {
		t.Errorf("options = %+v", o)
	}
	if want := []string{"10.0.0.3:7100"}; !slices.Equal(c.Join, want) {
		t.Errorf("Join = %q, want %q (the flag replaces the variable)", c.Join, want)
	}
	if c.RaftAddr != "127.0.0.1:7000" || c.APIAddr != "127.0.0.1:7100" || o.joinTimeout != defaultJoinTimeout {
		t.Errorf("defaults: raft %q, api %q, join timeout %v", c.RaftAddr, c.APIAddr, o.joinTimeout)
	}

	env["RAFTLOCK_ELECTION_TIMEOUT"] = "soon"
	_, err = parseServe(nil, lookup)
	if err == nil || !strings.Contains(err.Error(), "RAFTLOCK_ELECTION_TIMEOUT") {
		t.Errorf("bad variable: err = %v, want one naming RAFTLOCK_ELECTION_TIMEOUT", err)
	}
}

func TestParseServeErrors(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	base := []string{"--node-id", "n1", "--data-dir", "d"}
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error
	}{
		{"unknown flag", append(base, "--colour"), "flag provided but not defined: -colour"},
		{"no node ID", []string{"--data-dir", "d"}, "--node-id is required"},
		{"no data dir", []string{"--node-id", "n1"}, "--data-dir is required"},
		{"no API", append(base, "--api-addr="), "--api-addr must not be empty"},
		{"bootstrap and join", append(base, "--bootstrap", "--join", "h:1"), "exclude each other"},
		{"bad level", append(base, "--log-level", "loud"), `invalid value "loud" for flag -log-level`},
		{"bad format", append(base, "--log-format", "xml"), "want text or json"},
		{"negative duration", append(base, "--election-timeout", "-1s"), "--election-timeout must not be negative"},
		{"zero join timeout", append(base, "--join-timeout", "0s"), "--join-timeout must be positive"},
		{"argument", append(base, "extra"), `unexpected argument "extra"`},
		{"help", []string{"-h"}, flag.ErrHelp.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseServe(tc.args, noEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
