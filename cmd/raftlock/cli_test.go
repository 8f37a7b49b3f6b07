//go:build unix

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftlock/raftlock"
)

// The tests below drive the client commands as a user would: each command
// is a raftlock process, talking to a three-node cluster of raftlock serve
// processes on loopback, which the subtests share (starting a cluster is
// the slow part).

// runCLI runs raftlock with args to its end and returns its exit status and
// output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := startProc(t, "raftlock "+strings.Join(args[:min(2, len(args))], " "), args...)
	code = p.wait(t)
	return code, p.stdout.String(), p.stderr.String()
}

// storeURL is the raft:// URL of the cluster.
func (c *cluster) storeURL() string { return "raft://" + strings.Join(c.endpoints(), ",") }

// rootClient opens a client of the root package on storeURL; it closes
// with the test.
func rootClient(t *testing.T, storeURL string) *raftlock.Client {
	t.Helper()
	c := do(t, "open "+storeURL, func(ctx context.Context) (*raftlock.Client, error) {
		return raftlock.Open(ctx, storeURL)
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// wantOneLine checks that stderr is one line that contains each of parts.
func wantOneLine(t *testing.T, stderr string, parts ...string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr = %q, want one line", stderr)
	}
	for _, p := range parts {
		if !strings.Contains(stderr, p) {
			t.Errorf("stderr = %q, want it to contain %q", stderr, p)
		}
	}
}

// waitForFile waits for path to exist and returns its content.
func waitForFile(t *testing.T, path string, p *proc) string {
	t.Helper()
	deadline := time.Now().Add(opTimeout)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return string(b)
		}
		if p.exited() {
			t.Fatalf("%s exited (%v) before writing %s", p.label, p.err, path)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not written within %v", path, opTimeout)
		}
		time.Sleep(pollEvery)
	}
}

func TestClientCommands(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3)
	// The third node reads its settings from a config file: serve --config
	// on a real node, joining a real cluster.
	configured := serveFromConfig(t, c, 2)
	lines := c.start(t)
	if !strings.Contains(lines[2], "node="+configured.id) || !strings.Contains(lines[2], "api="+configured.api) {
		t.Errorf("the node started from a config file logged %q, want node %s api %s", lines[2], configured.id, configured.api)
	}
	store := c.storeURL()
	client := rootClient(t, store)

	t.Run("lock run passes the exit status and the token", func(t *testing.T) {
		t.Parallel()
		const lockID = "cli/run/exit"
		code, stdout, _ := runCLI(t, "lock", "run", "--store", store, "--lock", lockID, "--",
			"sh", "-c", `echo "$RAFTLOCK_TOKEN"; exit 3`)
		if code != 3 {
			t.Errorf("exit status %d, want the command's 3", code)
		}
		if token, err := strconv.ParseInt(strings.TrimSpace(stdout), 10, 64); err != nil || token <= 0 {
			t.Errorf("the command printed %q, want a positive fencing token", stdout)
		}
		_, err := client.GetLockInfo(context.Background(), &raftlock.GetLockInfoRequest{LockID: lockID})
		if !errors.Is(err, raftlock.ErrLockNotFound) {
			t.Errorf("after lock run, GetLockInfo = %v, want ErrLockNotFound: the lock is given back", err)
		}
	})

	t.Run("lock run --wait excludes", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		// Each command records its start and end in one log, and holds a
		// directory that a second holder could not create.
		script := `echo "start $0 $RAFTLOCK_TOKEN" >> "$1/log"
mkdir "$1/inside" || echo "overlap $0" >> "$1/log"
sleep 0.3
rmdir "$1/inside"
echo "end $0" >> "$1/log"`
		var ps []*proc
		for _, name := range []string{"a", "b"} {
			ps = append(ps, startProc(t, "lock run "+name, "lock", "run", "--store", store, "--lock", "cli/run/wait",
				"--wait", "--ttl", "10s", "--", "sh", "-c", script, name, dir))
		}
		for _, p := range ps {
			if code := p.wait(t); code != 0 {
				t.Errorf("%s exited with %d, want 0", p.label, code)
			}
		}
		b, err := os.ReadFile(filepath.Join(dir, "log"))
		if err != nil {
			t.Fatal(err)
		}
		log := strings.Fields(strings.ReplaceAll(string(b), "\n", " | "))
		var events []string // "start a", "end a", ...
		var tokens []int64
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(line)
			events = append(events, f[0]+" "+f[1])
			if f[0] == "start" {
				tok, _ := strconv.ParseInt(f[2], 10, 64)
				tokens = append(tokens, tok)
			}
		}
		first, second := "a", "b"
		if len(events) > 0 && events[0] == "start b" {
			first, second = "b", "a"
		}
		want := []string{"start " + first, "end " + first, "start " + second, "end " + second}
		if !slices.Equal(events, want) {
			t.Errorf("the commands' log is %q, want %q: their turns overlapped", log, want)
		}
		if len(tokens) == 2 && tokens[1] <= tokens[0] {
			t.Errorf("tokens %v: the second holder's is not greater", tokens)
		}
	})

	t.Run("lock run stops its command when the lock is lost", func(t *testing.T) {
		t.Parallel()
		testLockLost(t, c, store)
	})

	t.Run("lock run passes signals on", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		const lockID = "cli/run/signal"
		script := `trap 'echo term > "$0/trapped"; kill $pid 2>/dev/null; exit 7' TERM
echo ready > "$0/ready"
sleep 60 & pid=$!
wait $pid`
		p := startProc(t, "lock run", "lock", "run", "--store", store, "--lock", lockID, "--", "sh", "-c", script, dir)
		waitForFile(t, filepath.Join(dir, "ready"), p)
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t); code != 7 {
			t.Errorf("exit status %d, want the command's 7 from its trap", code)
		}
		if _, err := os.Stat(filepath.Join(dir, "trapped")); err != nil {
			t.Errorf("the command did not get SIGTERM: %v", err)
		}
		_, err := client.GetLockInfo(context.Background(), &raftlock.GetLockInfoRequest{LockID: lockID})
		if !errors.Is(err, raftlock.ErrLockNotFound) {
			t.Errorf("after a signal, GetLockInfo = %v, want ErrLockNotFound", err)
		}
	})

	t.Run("acquire, renew, release", func(t *testing.T) {
		t.Parallel()
		const lockID = "cli/manual"
		code, stdout, stderr := runCLI(t, "lock", "acquire", "--store", store, "--lock", lockID, "--ttl", "5m", "--json")
		if code != 0 {
			t.Fatalf("acquire: status %d, stderr %s", code, stderr)
		}
		var g grantJSON
		if err := json.Unmarshal([]byte(stdout), &g); err != nil || g.ClientID == "" || g.Version <= 0 || g.LockID != lockID || g.ExpiresAt == nil {
			t.Fatalf("acquire printed %s (%v)", stdout, err)
		}
		version := strconv.FormatInt(g.Version, 10)

		code, stdout, stderr = runCLI(t, "lock", "renew", "--store", store, "--lock", lockID, "--client-id", g.ClientID, "--version", version, "--ttl", "10m")
		if code != 0 || !strings.Contains(stdout, "version") || !strings.Contains(stdout, version) {
			t.Errorf("renew: status %d, stdout %q, stderr %s", code, stdout, stderr)
		}
		code, stdout, _ = runCLI(t, "info", "--store", store, lockID, "--json")
		var info lockJSON
		if err := json.Unmarshal([]byte(stdout), &info); code != 0 || err != nil || info.Owner != g.ClientID || info.Version != g.Version {
			t.Errorf("info: status %d, %s (%v), want owner %s version %d", code, stdout, err, g.ClientID, g.Version)
		}

		// The error classes of a held lock and of a wrong version.
		code, _, stderr = runCLI(t, "lock", "acquire", "--store", store, "--lock", lockID)
		if code != exitHeld {
			t.Errorf("acquire of a held lock: status %d, want %d", code, exitHeld)
		}
		wantOneLine(t, stderr, "raftlock lock acquire: ", "held by", g.ClientID)
		code, _, stderr = runCLI(t, "lock", "release", "--store", store, "--lock", lockID, "--client-id", g.ClientID, "--version", strconv.FormatInt(g.Version+1000, 10))
		if code != exitNotOwner {
			t.Errorf("release at a wrong version: status %d, want %d", code, exitNotOwner)
		}
		wantOneLine(t, stderr, "raftlock lock release: ", "version")
		code, _, stderr = runCLI(t, "lock", "release", "--store", store, "--lock", lockID, "--client-id", "someone-else", "--version", version)
		if code != exitNotOwner {
			t.Errorf("release by another client: status %d, want %d (%s)", code, exitNotOwner, stderr)
		}

		code, stdout, stderr = runCLI(t, "lock", "release", "--store", store, "--lock", lockID, "--client-id", g.ClientID, "--version", version)
		if code != 0 || !strings.Contains(stdout, "released") {
			t.Errorf("release: status %d, stdout %q, stderr %s", code, stdout, stderr)
		}
		code, _, stderr = runCLI(t, "info", "--store", store, lockID)
		if code != exitNotFound {
			t.Errorf("info after release: status %d, want %d", code, exitNotFound)
		}
		wantOneLine(t, stderr, "raftlock info: ", "not found")
	})

	t.Run("list matches GetLocks", func(t *testing.T) {
		t.Parallel()
		for _, id := range []string{"cli/list/a", "cli/list/b", "cli/list/deeper/c"} {
			if code, _, stderr := runCLI(t, "lock", "acquire", "--store", store, "--lock", id, "--ttl", "5m"); code != 0 {
				t.Fatalf("acquire %s: status %d: %s", id, code, stderr)
			}
		}
		code, stdout, stderr := runCLI(t, "list", "--store", store, "--prefix", "cli/list/", "--json")
		if code != 0 {
			t.Fatalf("list --json: status %d: %s", code, stderr)
		}
		var listed []lockJSON
		if err := json.Unmarshal([]byte(stdout), &listed); err != nil {
			t.Fatalf("list --json printed %s: %v", stdout, err)
		}
		var want []lockJSON
		for _, pattern := range []string{"cli/list/*", "cli/list/*/*"} {
			res := do(t, "GetLocks", func(ctx context.Context) (*raftlock.GetLocksResult, error) {
				return client.GetLocks(ctx, &raftlock.GetLocksRequest{Filter: raftlock.LockFilter{Pattern: pattern}})
			})
			for i := range res.Locks {
				want = append(want, lockView(&res.Locks[i]))
			}
		}
		slices.SortFunc(want, func(a, b lockJSON) int { return strings.Compare(a.LockID, b.LockID) })
		if len(listed) != 3 || len(listed) != len(want) {
			t.Fatalf("list --json has %d locks, GetLocks %d, want 3 each:\n%s", len(listed), len(want), stdout)
		}
		for i := range want {
			l, w := listed[i], want[i]
			if l.LockID != w.LockID || l.Owner != w.Owner || l.Version != w.Version || !l.Held || l.ExpiresAt == nil {
				t.Errorf("list --json[%d] = %+v, GetLocks says %+v", i, l, w)
			}
		}

		code, stdout, _ = runCLI(t, "list", "--store", store, "--prefix", "cli/list/", "--limit", "2", "--json")
		if err := json.Unmarshal([]byte(stdout), &listed); code != 0 || err != nil || len(listed) != 2 {
			t.Errorf("list --limit 2: status %d, %d locks (%v)", code, len(listed), err)
		}

		code, stdout, _ = runCLI(t, "list", "--store", store, "--prefix", "cli/list/", "--held")
		rows := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		if code != 0 || len(rows) != 4 || !strings.HasPrefix(rows[0], "LOCK") {
			t.Fatalf("list: status %d, want a header and 3 rows:\n%s", code, stdout)
		}
		for _, col := range []string{"OWNER", "VERSION", "EXPIRES", "WAITERS"} {
			at := strings.Index(rows[0], col)
			for _, row := range rows[1:] {
				if at <= 0 || at >= len(row) || row[at-1] != ' ' || row[at] == ' ' {
					t.Errorf("column %s is not aligned:\n%s", col, stdout)
					break
				}
			}
		}
	})

	t.Run("cluster commands", func(t *testing.T) {
		t.Parallel()
		code, stdout, stderr := runCLI(t, "members", "--store", store, "--json")
		var ms []memberJSON
		if err := json.Unmarshal([]byte(stdout), &ms); code != 0 || err != nil || len(ms) != 3 {
			t.Fatalf("members: status %d, %s (%v) %s", code, stdout, err, stderr)
		}
		code, stdout, _ = runCLI(t, "leader", "--store", store, "--json")
		var leader memberJSON
		if err := json.Unmarshal([]byte(stdout), &leader); code != 0 || err != nil || !slices.Contains(c.endpoints(), leader.APIAddress) || !leader.Leader {
			t.Errorf("leader: status %d, %s (%v)", code, stdout, err)
		}
		if code, stdout, _ = runCLI(t, "health", "--store", store); code != 0 || !strings.HasPrefix(stdout, "serving") {
			t.Errorf("health: status %d, %q", code, stdout)
		}
		if code, stdout, _ = runCLI(t, "status", "--store", store); code != 0 || !strings.Contains(stdout, "leader") {
			t.Errorf("status: status %d, %q", code, stdout)
		}
		code, _, stderr = runCLI(t, "members", "--store", "mem://")
		if code != exitNotSupported {
			t.Errorf("members of a memory store: status %d, want %d", code, exitNotSupported)
		}
		wantOneLine(t, stderr, "raftlock members: ", "not supported")
	})
}

// testLockLost force-releases the lock of a running lock run and checks
// that its command is stopped and lock run exits with the lock-lost status
// within the TTL and the grace period.
func testLockLost(t *testing.T, c *cluster, store string) {
	const (
		lockID = "cli/run/lost"
		ttl    = 3 * time.Second
		grace  = 2 * time.Second
	)
	dir := t.TempDir()
	// The command's sleep runs in the background so that the trap runs at
	// once, not when the sleep ends.
	script := `trap 'echo term > "$0/trapped"; kill $pid 2>/dev/null; exit 143' TERM
echo "$RAFTLOCK_CLIENT_ID $RAFTLOCK_TOKEN" > "$0/grant"
sleep 60 & pid=$!
wait $pid
echo done > "$0/finished"`
	p := startProc(t, "lock run", "lock", "run", "--store", store, "--lock", lockID,
		"--ttl", ttl.String(), "--grace", grace.String(), "--", "sh", "-c", script, dir)
	grant := strings.Fields(waitForFile(t, filepath.Join(dir, "grant"), p))

	// The operator's way is a force-release; a store whose driver cannot
	// yet is made to drop the grant by a release with the holder's
	// credentials, which the command found in its environment.
	release := []string{"lock", "release", "--store", store, "--lock", lockID, "--force"}
	if _, ok := any(dial(t, c.endpoints())).(forceReleaser); !ok {
		t.Log("the Raft store's driver has no ForceRelease: releasing with the holder's client ID and token instead")
		release = []string{"lock", "release", "--store", store, "--lock", lockID, "--client-id", grant[0], "--version", grant[1]}
	}
	if code, stdout, stderr := runCLI(t, release...); code != 0 {
		t.Fatalf("%v: status %d: %s%s", release, code, stdout, stderr)
	}
	released := time.Now()
	code := p.wait(t)
	took := time.Since(released)
	if code != exitLockLost {
		t.Errorf("lock run exited with %d, want the lock-lost status %d", code, exitLockLost)
	}
	if took > ttl+grace {
		t.Errorf("lock run exited %v after the release, want within the TTL and grace, %v", took, ttl+grace)
	}
	lines := strings.Split(strings.TrimSpace(p.stderr.String()), "\n")
	wantOneLine(t, lines[len(lines)-1]+"\n", fmt.Sprintf(`raftlock lock run: lock %q lost: `, lockID), "; stopped the command")
	if _, err := os.Stat(filepath.Join(dir, "trapped")); err != nil {
		t.Errorf("the command was not sent SIGTERM: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "finished")); err == nil {
		t.Errorf("the command ran to its end after its lock was lost")
	}
}

// serveFromConfig moves the settings of node i of c from its command line
// into a config file, leaving "serve --config FILE", and returns the node.
func serveFromConfig(t *testing.T, c *cluster, i int) nodeSpec {
	t.Helper()
	s := &c.nodes[i]
	var b strings.Builder
	b.WriteString("# written by the test\n\n")
	args := s.args[1:] // after "serve"
	for j := 0; j < len(args); j++ {
		name := strings.TrimLeft(args[j], "-")
		value := "true" // a boolean flag
		if j+1 < len(args) && !strings.HasPrefix(args[j+1], "-") {
			value = args[j+1]
			j++
		}
		fmt.Fprintf(&b, "%s = %q\n", name, value)
	}
	path := filepath.Join(t.TempDir(), s.id+".conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	s.args = []string{"serve", "--config", path}
	return *s
}

// Errors of the command line exit with the bad-input status, in one line,
// before any store is reached.
func TestClientCommandLineErrors(t *testing.T) {
	skipShort(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown scheme", []string{"lock", "acquire", "--store", "nosuch://x", "--lock", "l"}, `unknown store scheme "nosuch"`},
		{"no store", []string{"list"}, "--store is required (or set RAFTLOCK_STORE)"},
		{"run without --", []string{"lock", "run", "--store", "mem://", "--lock", "l", "true"}, `unexpected argument "true" before --`},
		{"run without dashes or command", []string{"lock", "run", "--store", "mem://", "--lock", "l"}, "missing -- and the command to run"},
		{"run without command", []string{"lock", "run", "--store", "mem://", "--lock", "l", "--"}, "missing the command to run after --"},
		{"run without lock", []string{"lock", "run", "--store", "mem://", "--", "true"}, "--lock is required"},
		{"bad ttl", []string{"lock", "acquire", "--store", "mem://", "--lock", "l", "--ttl", "-1s"}, "ttl"},
		{"release without version", []string{"lock", "release", "--store", "mem://", "--lock", "l", "--client-id", "c"}, "--client-id and --version are required"},
		{"info without lock", []string{"info", "--store", "mem://"}, "missing argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != exitBadInput {
				t.Errorf("exit status %d, want %d", code, exitBadInput)
			}
			wantOneLine(t, stderr, "raftlock ", tc.want)
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
	t.Run("command not found", func(t *testing.T) {
		code, _, stderr := runCLI(t, "lock", "run", "--store", "mem://", "--lock", "l", "--", "no-such-command-here")
		if code != exitNoCommand {
			t.Errorf("exit status %d, want %d", code, exitNoCommand)
		}
		wantOneLine(t, stderr, "raftlock lock run: ", "no-such-command-here")
	})
}
