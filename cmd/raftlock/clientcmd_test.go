package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/backend"
)

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  []string
		json bool
	}{
		{[]string{"L", "--json"}, []string{"L"}, true},
		{[]string{"--json", "L"}, []string{"L"}, true},
		{[]string{"L", "M"}, []string{"L", "M"}, false},
		{[]string{"--", "--json"}, []string{"--json"}, false},
		{[]string{"L", "--", "-x", "--json"}, []string{"L", "-x", "--json"}, false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		j := fs.Bool("json", false, "")
		pos, err := parseInterspersed(fs, tc.args)
		if err != nil || !slices.Equal(pos, tc.pos) || *j != tc.json {
			t.Errorf("parseInterspersed(%q) = %q, json %v, err %v; want %q, json %v", tc.args, pos, *j, err, tc.pos, tc.json)
		}
	}
}

// Every class of failure has its own status.
func TestExitStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{usagef("bad"), exitBadInput},
		{backend.ErrInvalidTTL, exitBadInput},
		{&raftlock.Error{Code: backend.CodeInvalidArgument}, exitBadInput},
		{backend.ErrLockNotFound, exitNotFound},
		{backend.Errorf(backend.CodeLeaderUnavailable, "election"), exitUnavailable},
		{fmt.Errorf("wrapped: %w", backend.ErrTimeout), exitUnavailable},
		{backend.ErrUnavailable, exitUnavailable},
		{errors.New("mystery"), exitInternal},
		{backend.ErrLockHeld, exitHeld},
		{backend.ErrWaitQueueFull, exitHeld},
		{backend.ErrNotLockOwner, exitNotOwner},
		{backend.ErrVersionMismatch, exitNotOwner},
		{backend.ErrNotSupported, exitNotSupported},
		{fmt.Errorf("%w: l: %w", raftlock.ErrLockLost, backend.ErrLockNotFound), exitLockLost},
		{backend.ErrCanceled, exitInterrupted},
		{&statusError{"cannot run", exitNoCommand}, exitNoCommand},
		{failf(backend.ErrLockHeld, "held by x"), exitHeld},
	} {
		if got := exitStatus(tc.err); got != tc.want {
			t.Errorf("exitStatus(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// runIn runs raftlock in this process and returns its status and output.
func runIn(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// --force is a switch for the command line only: a variable left set must
// not turn every release into a force-release.
func TestForceIsNotReadFromTheEnvironment(t *testing.T) {
	t.Setenv("RAFTLOCK_FORCE", "true")
	code, _, stderr := runIn(t, "lock", "release", "--store", "mem://", "--lock", "l")
	if code != exitBadInput || !strings.Contains(stderr, "--client-id and --version are required") {
		t.Errorf("status %d, stderr %q: want the bad-input status for a release without credentials", code, stderr)
	}
	_, stdout, _ := runIn(t, "help", "lock", "release")
	if strings.Contains(stdout, "RAFTLOCK_FORCE") {
		t.Errorf("the help offers RAFTLOCK_FORCE:\n%s", stdout)
	}
}

// A lock run inside a lock run's command, inheriting its lock and client
// ID, is refused; with a client ID of its own it runs.
func TestNestedLockRun(t *testing.T) {
	t.Setenv("RAFTLOCK_TOKEN", "42")
	t.Setenv("RAFTLOCK_LOCK", "nested")
	t.Setenv("RAFTLOCK_CLIENT_ID", "outer")
	code, _, stderr := runIn(t, "lock", "run", "--store", "mem://", "--", "true")
	if code != exitBadInput || !strings.Contains(stderr, "already held") {
		t.Errorf("status %d, stderr %q: want the bad-input status", code, stderr)
	}
	if code, _, stderr := runIn(t, "lock", "run", "--store", "mem://", "--client-id", "inner", "--", "true"); code != 0 {
		t.Errorf("with its own client ID: status %d, stderr %q", code, stderr)
	}
}

// The statuses of the lock commands, on an in-process store that one
// process's commands share.
func TestLockCommandsInProcess(t *testing.T) {
	store := "mem://" + t.Name()
	// A named memory store lives while a driver has it open: this client
	// keeps it between the commands.
	keep, err := raftlock.Open(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	defer keep.Close()
	code, stdout, stderr := runIn(t, "lock", "acquire", "--store", store, "--lock", "l", "--client-id", "holder")
	if code != 0 || !strings.Contains(stdout, "holder") {
		t.Fatalf("acquire: status %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = runIn(t, "lock", "acquire", "--store", store, "--lock", "l", "--wait", "--wait-timeout", "50ms")
	if code != exitHeld || !strings.Contains(stderr, `still held by "holder"`) {
		t.Errorf("acquire --wait that ran out: status %d, stderr %q; want %d naming the holder", code, stderr, exitHeld)
	}
	code, _, stderr = runIn(t, "lock", "run", "--store", store, "--lock", "l", "--", "true")
	if code != exitHeld || !strings.Contains(stderr, `held by "holder"`) {
		t.Errorf("lock run of a held lock: status %d, stderr %q; want %d", code, stderr, exitHeld)
	}
	code, _, stderr = runIn(t, "lock", "renew", "--store", store, "--lock", "nothing", "--client-id", "holder", "--version", "1")
	if code != exitNotFound {
		t.Errorf("renew of a lock nobody holds: status %d, stderr %q; want %d", code, stderr, exitNotFound)
	}
	code, stdout, _ = runIn(t, "lock", "run", "--store", store, "--lock", "other", "--", "sh", "-c", `echo "$RAFTLOCK_LOCK $RAFTLOCK_STORE"; exit 5`)
	if code != 5 || stdout != "other "+store+"\n" {
		t.Errorf("lock run: status %d, stdout %q; want 5 and the grant's variables", code, stdout)
	}
}
