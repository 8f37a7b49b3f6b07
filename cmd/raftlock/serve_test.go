//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/raftbackend"
)

// The tests below run the raftlock binary as real processes on loopback:
// only separate processes can be sent signals and killed without warning.
// Their waits are generous because a loaded two-core machine running three
// nodes under the race detector is slow, and they poll rather than sleep.
const (
	serveTimeout   = 2 * time.Minute  // from start to "raft node serving"
	exitTimeout    = time.Minute      // from a signal to the process's exit
	opTimeout      = time.Minute      // for one operation, retries included
	attemptTimeout = 10 * time.Second // for one attempt of an operation
	pollEvery      = 25 * time.Millisecond
	servingMsg     = "raft node serving"
)

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is one raftlock process.
type proc struct {
	label          string
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	err            error // from Wait, once done is closed
}

// startProc starts the raftlock binary with args. The process is killed,
// if still running, when the test ends; its output is logged if the test
// failed, and a data race it reported fails the test.
func startProc(t *testing.T, label string, args ...string) *proc {
	t.Helper()
	p := &proc{label: label, stdout: new(syncBuffer), stderr: new(syncBuffer), done: make(chan struct{})}
	p.cmd = exec.Command(binary(t), args...)
	p.cmd.Env = childEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.cmd.WaitDelay = 10 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", label, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill(t)
		stderr := p.stderr.String()
		if strings.Contains(stderr, "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race", label)
		}
		if t.Failed() {
			t.Logf("%s %v\nstdout:\n%s\nstderr:\n%s", label, p.cmd.Args[1:], p.stdout, stderr)
		}
	})
	return p
}

// childEnv is the test's environment without RAFTLOCK_ variables, which
// would change the children's flags.
func childEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, envPrefix) })
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL, as a crash would, and waits for the process to end.
func (p *proc) kill(t *testing.T) {
	if !p.exited() {
		_ = p.cmd.Process.Kill()
	}
	p.wait(t)
}

// wait waits for the process to end and returns its exit status (-1 after a
// signal).
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(exitTimeout):
		t.Fatalf("%s did not exit within %v", p.label, exitTimeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// waitLine waits until the process has written a line containing substr to
// stderr, where its logs go, and returns it. It fails the test if the
// process exits first.
func (p *proc) waitLine(t *testing.T, substr string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
		for sc.Scan() {
			if strings.Contains(sc.Text(), substr) {
				return sc.Text()
			}
		}
		if p.exited() {
			t.Fatalf("%s exited (%v) before logging %q", p.label, p.err, substr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q within %v", p.label, substr, timeout)
		}
		time.Sleep(pollEvery)
	}
}

// nodeSpec is one node of a test cluster: what stays the same across its
// restarts.
type nodeSpec struct {
	id, raft, api, dataDir string
	args                   []string // the whole serve command line
}

// cluster is a set of raftlock serve processes on loopback.
type cluster struct {
	nodes []nodeSpec
	procs []*proc // the current processes, one per node
	runs  int     // how many times start has been called
}

// newCluster plans n nodes on free loopback ports: the first bootstraps,
// the others join it. extra is added to every node's flags.
func newCluster(t *testing.T, n int, extra ...string) *cluster {
	t.Helper()
	addrs := freeAddrs(t, 2*n)
	root := t.TempDir() // before any process starts, so removed after they die
	c := &cluster{}
	for i := range n {
		s := nodeSpec{
			id:      fmt.Sprintf("n%d", i+1),
			raft:    addrs[2*i],
			api:     addrs[2*i+1],
			dataDir: filepath.Join(root, fmt.Sprintf("n%d", i+1)),
		}
		s.args = []string{"serve", "--node-id", s.id, "--raft-addr", s.raft, "--api-addr", s.api, "--data-dir", s.dataDir}
		if i == 0 {
			s.args = append(s.args, "--bootstrap")
		} else {
			s.args = append(s.args, "--join", c.nodes[0].api)
		}
		s.args = append(s.args, extra...)
		c.nodes = append(c.nodes, s)
	}
	return c
}

// freeAddrs returns n loopback addresses whose ports were free a moment
// ago. All listeners stay open until all are picked, so none repeats.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs
}

// start starts every node at once, with the same flags each time, and
// waits until each logs that it serves. It returns the serving lines.
func (c *cluster) start(t *testing.T) []string {
	t.Helper()
	c.runs++
	c.procs = nil
	for _, s := range c.nodes {
		c.procs = append(c.procs, startProc(t, fmt.Sprintf("%s (run %d)", s.id, c.runs), s.args...))
	}
	var lines []string
	for _, p := range c.procs {
		lines = append(lines, p.waitLine(t, servingMsg, serveTimeout))
	}
	return lines
}

func (c *cluster) endpoints() []string {
	var eps []string
	for _, s := range c.nodes {
		eps = append(eps, s.api)
	}
	return eps
}

// signal sends sig to every process at once.
func (c *cluster) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	for _, p := range c.procs {
		if err := p.cmd.Process.Signal(sig); err != nil {
			t.Fatalf("signal %s: %v", p.label, err)
		}
	}
}

// dial connects to the cluster's client API; the driver closes with the test.
func dial(t *testing.T, endpoints []string) *raftbackend.RemoteDriver {
	t.Helper()
	d := do(t, "dial", func(ctx context.Context) (*raftbackend.RemoteDriver, error) {
		return raftbackend.Dial(ctx, endpoints)
	})
	t.Cleanup(func() { d.Close() })
	return d
}

// do runs op until it succeeds, retrying what a client would retry (no
// leader yet, a leader changing, an unreachable node) and attempts that
// timed out, for up to opTimeout. Any other failure fails the test. The
// operations retried here are safe to repeat: a holder's Acquire answers
// AlreadyHeld and a queued client's Enqueue answers its position.
func do[T any](t *testing.T, what string, op func(ctx context.Context) (T, error)) T {
	t.Helper()
	deadline := time.Now().Add(opTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), attemptTimeout)
		v, err := op(ctx)
		cancel()
		if err == nil {
			return v
		}
		if code := backend.CodeOf(err); !code.Retryable() && code != backend.CodeTimeout {
			t.Fatalf("%s: %v", what, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, opTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitFor polls cond until it holds or opTimeout passes.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(opTimeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last seen: %s", what, opTimeout, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts raftlock processes; skipped with -short")
	}
}

func TestServeThreeNodeCluster(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3, "--log-format", "json")
	lines := c.start(t)

	// The serving line carries the node's actual addresses, for scripts.
	for i, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("serving line of %s is not JSON: %v: %s", c.nodes[i].id, err, line)
		}
		s := c.nodes[i]
		if rec["msg"] != servingMsg || rec["node"] != s.id || rec["raft"] != s.raft || rec["api"] != s.api {
			t.Errorf("serving line of %s = %s, want node %s raft %s api %s", s.id, line, s.id, s.raft, s.api)
		}
	}

	d := dial(t, c.endpoints())
	grant := do(t, "acquire", func(ctx context.Context) (*backend.AcquireResult, error) {
		return d.Acquire(ctx, &backend.AcquireRequest{LockID: "smoke/lock", ClientID: "smoke-client", TTL: time.Minute})
	})
	if grant.Lock.Owner != "smoke-client" || grant.Lock.Version <= 0 {
		t.Fatalf("acquire = %+v", grant.Lock)
	}

	// Any node may answer Members from its own view, which can lag a join
	// by a moment: poll until the answer is the whole cluster.
	wantAPI := slices.Sorted(slices.Values(c.endpoints()))
	waitFor(t, "three voters with their API addresses and one leader", func() (bool, string) {
		ms := do(t, "members", d.Members)
		var api []string
		leaders := 0
		for _, m := range ms {
			if !m.Voter {
				return false, fmt.Sprintf("%+v", ms)
			}
			if m.Leader {
				leaders++
			}
			api = append(api, m.APIAddress)
		}
		slices.Sort(api)
		return len(ms) == 3 && leaders == 1 && slices.Equal(api, wantAPI), fmt.Sprintf("%+v", ms)
	})
	d.Close()

	c.signal(t, syscall.SIGTERM)
	for _, p := range c.procs {
		if code := p.wait(t); code != 0 {
			t.Errorf("%s exited with %d after SIGTERM (%v), want 0", p.label, code, p.err)
		}
	}
}

// lockState is what a crash must not change about a lock.
type lockState struct {
	owner    string
	version  int64
	metadata map[string]string
	waiters  []string // client IDs in grant order
}

func stateOf(info *backend.LockInfo) lockState {
	s := lockState{owner: info.Owner, version: info.Version, metadata: info.Metadata}
	for _, w := range info.Waiters {
		s.waiters = append(s.waiters, w.ClientID)
	}
	return s
}

func (s lockState) equal(o lockState) bool {
	return s.owner == o.owner && s.version == o.version &&
		maps.Equal(s.metadata, o.metadata) && slices.Equal(s.waiters, o.waiters)
}

// TestCrashRestartKeepsState kills every node of a cluster at once, without
// warning, and restarts them with the same flags: the locks, their fencing
// tokens, the wait queue and the token counter must all survive. It runs
// twice: once with the state rebuilt by replaying the log, once from
// snapshots taken after the last write, which must carry the waiters too.
func TestCrashRestartKeepsState(t *testing.T) {
	skipShort(t)
	t.Run("log", func(t *testing.T) { testCrashRestart(t, false) })
	t.Run("snapshot", func(t *testing.T) { testCrashRestart(t, true) })
}

func testCrashRestart(t *testing.T, fromSnapshot bool) {
	var extra []string
	if fromSnapshot {
		// Snapshot at every check that finds a new entry, and keep almost
		// no log behind it.
		extra = []string{"--snapshot-threshold", "1", "--snapshot-interval", "100ms", "--trailing-logs", "2"}
	}
	c := newCluster(t, 3, extra...)
	c.start(t)
	d := dial(t, c.endpoints())

	const ttl = time.Hour // nothing may expire during the test, however slow
	acquire := func(lockID, owner string, md map[string]string) *backend.AcquireResult {
		t.Helper()
		return do(t, "acquire "+lockID, func(ctx context.Context) (*backend.AcquireResult, error) {
			return d.Acquire(ctx, &backend.AcquireRequest{LockID: lockID, ClientID: owner, TTL: ttl, Metadata: md})
		})
	}
	acquire("crash/with-metadata", "holder-1", map[string]string{"job": "nightly-report", "host": "worker-7"})
	acquire("crash/queued", "holder-2", nil)
	acquire("crash/plain", "holder-3", nil)
	for i, w := range []string{"waiter-1", "waiter-2"} {
		res := do(t, "enqueue "+w, func(ctx context.Context) (*backend.EnqueueResult, error) {
			return d.Enqueue(ctx, &backend.EnqueueRequest{
				LockID: "crash/queued", ClientID: w, TTL: ttl, WaitTimeout: 10 * time.Minute,
			})
		})
		if res.Granted || res.Position != i {
			t.Fatalf("enqueue %s = %+v, want position %d", w, res, i)
		}
	}
	// The last write: its version is the log index of its entry, so a
	// snapshot at or past it holds everything above.
	last := acquire("crash/last", "holder-4", nil)

	lockIDs := []string{"crash/with-metadata", "crash/queued", "crash/plain", "crash/last"}
	get := func(d *raftbackend.RemoteDriver, lockID string) lockState {
		t.Helper()
		info := do(t, "get "+lockID, func(ctx context.Context) (*backend.LockInfo, error) {
			return d.Get(ctx, &backend.GetRequest{LockID: lockID, IncludeWaiters: true})
		})
		return stateOf(info)
	}
	before := make(map[string]lockState)
	var maxVersion int64
	for _, id := range lockIDs {
		s := get(d, id)
		if s.owner == "" || s.version <= 0 {
			t.Fatalf("%s before the crash: %+v, want a holder", id, s)
		}
		before[id] = s
		maxVersion = max(maxVersion, s.version)
	}
	if w := before["crash/queued"].waiters; !slices.Equal(w, []string{"waiter-1", "waiter-2"}) {
		t.Fatalf("queue before the crash = %q", w)
	}

	if fromSnapshot {
		waitSnapshots(t, c, d, uint64(last.Lock.Version))
	}
	d.Close()

	c.signal(t, syscall.SIGKILL)
	for _, p := range c.procs {
		p.wait(t)
	}

	c.start(t)
	d = dial(t, c.endpoints())
	for _, id := range lockIDs {
		if got := get(d, id); !got.equal(before[id]) {
			t.Errorf("%s after the restart: %+v, want %+v", id, got, before[id])
		}
	}
	fresh := acquire("crash/fresh", "holder-5", nil)
	if fresh.Lock.Version <= maxVersion {
		t.Errorf("a grant after the restart has version %d, not above %d seen before it", fresh.Lock.Version, maxVersion)
	}
	// The restored queue still works: releasing hands the lock to its head.
	rel := do(t, "release crash/queued", func(ctx context.Context) (*backend.ReleaseResult, error) {
		return d.Release(ctx, &backend.ReleaseRequest{LockID: "crash/queued", ClientID: "holder-2", Version: before["crash/queued"].version})
	})
	if rel.NextOwner != "waiter-1" {
		t.Errorf("release after the restart handed the lock to %q, want waiter-1", rel.NextOwner)
	}
}

// waitSnapshots waits until every node has taken a snapshot at or past
// index, renewing a lock meanwhile so that there are new entries to
// snapshot. Each node reports its last snapshot's index in its own status.
func waitSnapshots(t *testing.T, c *cluster, d *raftbackend.RemoteDriver, index uint64) {
	t.Helper()
	lock := do(t, "get crash/last", func(ctx context.Context) (*backend.LockInfo, error) {
		return d.Get(ctx, &backend.GetRequest{LockID: "crash/last"})
	})
	var seen string
	waitFor(t, "a snapshot at or past the last write on every node", func() (bool, string) {
		var state []string
		ok := true
		for _, s := range c.nodes {
			st := do(t, "status of "+s.id, func(ctx context.Context) (*backend.Status, error) {
				return d.StatusOf(ctx, s.api, true)
			})
			got, err := strconv.ParseUint(st.Details["last_snapshot"], 10, 64)
			if err != nil {
				t.Fatalf("status of %s: last_snapshot: %v (details %v)", s.id, err, st.Details)
			}
			state = append(state, fmt.Sprintf("%s: %d", s.id, got))
			ok = ok && got >= index
		}
		if !ok {
			do(t, "renew crash/last", func(ctx context.Context) (*backend.Lock, error) {
				return d.Renew(ctx, &backend.RenewRequest{LockID: "crash/last", ClientID: lock.Owner, Version: lock.Version, TTL: time.Hour})
			})
		}
		seen = fmt.Sprintf("want index %d, last snapshots %s", index, strings.Join(state, ", "))
		return ok, seen
	})
	t.Log(seen)
}

// A bad command line exits 2 with one line on stderr and starts nothing.
func TestServeBadFlags(t *testing.T) {
	skipShort(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct {
		name string
		args []string
		want string // in the line
	}{
		{"unknown flag", []string{"serve", "--node-id", "n1", "--data-dir", dataDir, "--no-such-flag"}, "flag provided but not defined"},
		{"missing data dir", []string{"serve", "--node-id", "n1", "--bootstrap"}, "--data-dir is required"},
		{"bootstrap and join", []string{"serve", "--node-id", "n1", "--data-dir", dataDir, "--bootstrap", "--join", "127.0.0.1:1"}, "exclude each other"},
		{"unknown command", []string{"server"}, `unknown command "server"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startProc(t, tc.name, tc.args...)
			if code := p.wait(t); code != exitUsage {
				t.Errorf("exit status %d, want %d", code, exitUsage)
			}
			stderr := p.stderr.String()
			if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q, want one line containing %q", stderr, tc.want)
			}
			if stdout := p.stdout.String(); stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a rejected command line created the data directory (stat: %v)", err)
	}
}
