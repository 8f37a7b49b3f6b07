//go:build unix

package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/raftbackend"
)

// Timeouts of the cluster's own calls. A status call is short: a paused
// node must not hold up a poll of the others. Startup is generous: under
// the race detector, on two cores, three nodes take seconds to start.
const (
	statusTimeout  = time.Second
	pollInterval   = 100 * time.Millisecond
	defaultStartup = 2 * time.Minute
)

// BuildBinary builds cmd/raftlock into dir with the given build tags and
// returns its path. The binary's name carries the tags, so that builds
// with different tags share a directory. When the calling program was
// built with -race, so is the binary: the nodes are where the concurrency
// is, and a race they report shows in their logs (see Cluster.Races).
func BuildBinary(ctx context.Context, dir string, tags ...string) (string, error) {
	name := "raftlock"
	if len(tags) > 0 {
		name += "-" + strings.Join(tags, "-")
	}
	path, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	args := []string{"build", "-o", path}
	if raceEnabled() {
		args = append(args, "-race")
	}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	args = append(args, "github.com/raftlock/raftlock/cmd/raftlock")
	cmd := exec.CommandContext(ctx, "go", args...)
	// Build inside the module, wherever the caller runs: this file's
	// directory is in it.
	if _, file, _, ok := runtime.Caller(0); ok {
		if _, err := os.Stat(file); err == nil {
			cmd.Dir = filepath.Dir(file)
		}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return path, nil
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// ClusterConfig describes a cluster of serve processes on loopback.
type ClusterConfig struct {
	// Nodes is the cluster's size, 3 or 5 (any size from 1 works).
	Nodes int
	// Binary is the raftlock binary, from BuildBinary.
	Binary string
	// Dir holds each node's data directory and log file (<id>.log).
	Dir string
	// Logf receives the cluster's events (starts, kills, pauses); nil
	// discards them.
	Logf func(format string, args ...any)
	// SnapshotThreshold, when not zero, makes the nodes snapshot every
	// that many entries (checked every second) and keep as many entries
	// behind a snapshot, so that a restart restores from a snapshot and a
	// follower far behind is sent one. Zero keeps serve's defaults, which
	// a short run never reaches.
	SnapshotThreshold uint64
	// ExtraArgs are appended to every serve command line; a flag given
	// here overrides the cluster's own (the last one wins), such as its
	// heartbeat and election timeouts of 1s.
	ExtraArgs []string
}

// Cluster is a Raft store of serve processes on loopback, each with its
// own data directory, fixed ports and log file, whose Raft traffic goes
// through a Network of proxies. Its methods are safe for concurrent use,
// but a node should have one controller: two goroutines that kill and
// restart the same node race each other.
type Cluster struct {
	cfg   ClusterConfig
	ids   []string
	procs map[string]*process
	api   map[string]string // node ID -> client API address
	byAPI map[string]string // client API address -> node ID
	net   *Network
	drv   *raftbackend.RemoteDriver

	closeOnce sync.Once
	closeErr  error
}

// StartCluster starts cfg.Nodes serve processes, the first bootstrapping
// the cluster and the others joining it, and returns once every node is a
// voter and a majority agrees on a leader. On failure it stops whatever
// it started.
func StartCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if cfg.Nodes < 1 {
		return nil, fmt.Errorf("chaos: cluster of %d nodes", cfg.Nodes)
	}
	if cfg.Binary == "" || cfg.Dir == "" {
		return nil, errors.New("chaos: ClusterConfig needs Binary and Dir")
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartup)
		defer cancel()
	}
	c := &Cluster{
		cfg:   cfg,
		procs: make(map[string]*process),
		api:   make(map[string]string),
		byAPI: make(map[string]string),
	}
	for i := range cfg.Nodes {
		c.ids = append(c.ids, fmt.Sprintf("n%d", i+1))
	}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()

	// The ports stay reserved until the proxies have theirs, so that no
	// proxy takes a node's port.
	reserved, err := reservePorts(2 * cfg.Nodes)
	if err != nil {
		return nil, err
	}
	raftAddrs := make(map[string]string)
	for i, id := range c.ids {
		raftAddrs[id] = reserved[2*i].Addr().String()
		c.api[id] = reserved[2*i+1].Addr().String()
		c.byAPI[c.api[id]] = id
	}
	c.net, err = newNetwork(c.ids, raftAddrs)
	for _, l := range reserved {
		l.Close()
	}
	if err != nil {
		return nil, err
	}

	for i, id := range c.ids {
		dataDir := filepath.Join(cfg.Dir, id)
		args := []string{"serve",
			"--node-id", id,
			"--data-dir", dataDir,
			"--raft-addr", raftAddrs[id],
			"--api-addr", c.api[id],
		}
		if i == 0 {
			args = append(args, "--bootstrap")
		} else {
			var join []string
			for _, other := range c.ids {
				if other != id {
					join = append(join, c.api[other])
				}
			}
			args = append(args, "--join", strings.Join(join, ","))
		}
		for _, peer := range c.ids {
			if peer != id {
				args = append(args, "--raft-peer-addr", peer+"="+c.net.Proxy(id, peer).Addr())
			}
		}
		// Timeouts of 1s rather than serve's 500ms: on a loaded machine
		// (two cores, the race detector, several clusters at once) a
		// starved leader loses a 500ms lease over and over, and the
		// cluster spends the run electing instead of serving.
		args = append(args, "--heartbeat-timeout", "1s", "--election-timeout", "1s")
		if t := cfg.SnapshotThreshold; t > 0 {
			n := strconv.FormatUint(t, 10)
			args = append(args, "--snapshot-threshold", n, "--trailing-logs", n, "--snapshot-interval", "1s")
		}
		args = append(args, cfg.ExtraArgs...)
		c.procs[id] = &process{id: id, binary: cfg.Binary, args: args, logPath: filepath.Join(cfg.Dir, id+".log")}
	}

	// The first node alone, then the others at once: they join through
	// it, and a leader adds them one configuration change at a time.
	if err := c.startNode(ctx, c.ids[0]); err != nil {
		return nil, err
	}
	// The driver serves only the cluster's own calls: Members through
	// whichever node answers, and each node's status at its address.
	c.drv, err = raftbackend.Dial(ctx, c.APIAddrs(), raftbackend.RemoteConnectTimeout(statusTimeout))
	if err != nil {
		return nil, fmt.Errorf("chaos: dial %s: %w", c.ids[0], err)
	}
	errs := make(chan error, len(c.ids))
	for _, id := range c.ids[1:] {
		go func() { errs <- c.startNode(ctx, id) }()
	}
	for range c.ids[1:] {
		if e := <-errs; e != nil {
			err = errors.Join(err, e)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := c.waitMembers(ctx); err != nil {
		return nil, err
	}
	if _, err := c.Leader(ctx); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// reservePorts listens on n free loopback ports; the caller closes them.
func reservePorts(n int) ([]net.Listener, error) {
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// startNode starts a node's process and waits until it serves.
func (c *Cluster) startNode(ctx context.Context, id string) error {
	p := c.procs[id]
	if err := os.MkdirAll(c.cfg.Dir, 0o700); err != nil {
		return err
	}
	if err := p.start(); err != nil {
		return err
	}
	if err := p.waitServing(ctx); err != nil {
		return err
	}
	c.cfg.Logf("chaos: %s serving (api %s)", id, c.api[id])
	return nil
}

// waitMembers waits until the configuration holds every node as a voter
// with its client API address.
func (c *Cluster) waitMembers(ctx context.Context) error {
	var last string
	for {
		cctx, cancel := context.WithTimeout(ctx, statusTimeout)
		ms, err := c.drv.Members(cctx)
		cancel()
		if err == nil {
			voters := 0
			for _, m := range ms {
				if m.Voter && c.api[m.ID] == m.APIAddress {
					voters++
				}
			}
			if voters == len(c.ids) {
				return nil
			}
			last = fmt.Sprintf("%+v", ms)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("chaos: not every node is a voter: %w; last seen: %s", context.Cause(ctx), last)
		case <-time.After(pollInterval):
		}
	}
}

// NodeIDs lists the nodes' IDs: n1, n2, ...
func (c *Cluster) NodeIDs() []string { return slices.Clone(c.ids) }

// APIAddrs lists the nodes' client API addresses, in NodeIDs' order.
func (c *Cluster) APIAddrs() []string {
	out := make([]string, len(c.ids))
	for i, id := range c.ids {
		out[i] = c.api[id]
	}
	return out
}

// APIAddr is node id's client API address.
func (c *Cluster) APIAddr(id string) string { return c.api[id] }

// StoreURL is the raft:// URL of the cluster: raft://a,b,c.
func (c *Cluster) StoreURL() string {
	return raftbackend.RemoteScheme + "://" + strings.Join(c.APIAddrs(), ",")
}

// Net is the cluster's Raft network.
func (c *Cluster) Net() *Network { return c.net }

// nodeStatus is one node's answer about itself.
type nodeStatus struct {
	st  *backend.Status
	err error
}

// statuses asks every node, at once, for its own status (LocalStatus),
// each call bounded by statusTimeout.
func (c *Cluster) statuses(ctx context.Context) map[string]nodeStatus {
	out := make(map[string]nodeStatus, len(c.ids))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, id := range c.ids {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, statusTimeout)
			defer cancel()
			st, err := c.drv.StatusOf(cctx, c.api[id], true)
			mu.Lock()
			out[id] = nodeStatus{st, err}
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// Leader returns the node ID of the current leader as a majority of the
// nodes reports it (the leader counting itself), polling until a majority
// agrees or ctx ends. A deposed leader cut off from the others may still
// think it leads; the majority does not follow it.
func (c *Cluster) Leader(ctx context.Context) (string, error) {
	for {
		sts := c.statuses(ctx)
		votes := make(map[string]int)
		for _, s := range sts {
			if s.err != nil {
				continue
			}
			switch {
			case s.st.Role == "leader":
				votes[s.st.NodeID]++
			case s.st.Leader != "":
				if id := c.byAPI[s.st.Leader]; id != "" {
					votes[id]++
				}
			}
		}
		for id, n := range votes {
			if n > len(c.ids)/2 {
				return id, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("chaos: no leader a majority agrees on: %w; %s", context.Cause(ctx), describeLeaders(c.ids, sts))
		case <-time.After(pollInterval):
		}
	}
}

// describeLeaders says what each node thinks of leadership.
func describeLeaders(ids []string, sts map[string]nodeStatus) string {
	var parts []string
	for _, id := range ids {
		s := sts[id]
		if s.err != nil {
			parts = append(parts, fmt.Sprintf("%s: %v", id, s.err))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %s, term %d, leader %q", id, s.st.Role, s.st.Term, s.st.Leader))
	}
	return strings.Join(parts, "; ")
}

// Kill sends SIGKILL to node id and waits until the process is gone.
func (c *Cluster) Kill(id string) error {
	p, err := c.proc(id)
	if err != nil {
		return err
	}
	if !p.running() {
		return fmt.Errorf("chaos: %s is not running", id)
	}
	c.cfg.Logf("chaos: kill -9 %s", id)
	return p.kill()
}

// Restart starts node id again, with the same command line, ports and
// data directory, and waits until it serves (a restarted node serves as
// soon as its Raft instance runs; it then catches up from the leader).
// The node must not be running.
func (c *Cluster) Restart(ctx context.Context, id string) error {
	p, err := c.proc(id)
	if err != nil {
		return err
	}
	c.cfg.Logf("chaos: restart %s", id)
	if err := p.start(); err != nil {
		return err
	}
	if err := p.waitServing(ctx); err != nil {
		// A node that cannot serve is not left half started.
		_ = p.kill()
		return err
	}
	return nil
}

// Pause stops node id with SIGSTOP: it keeps its sockets but neither
// reads nor writes, as a node stalled by a long GC pause, a VM migration
// or a full disk would.
func (c *Cluster) Pause(id string) error {
	p, err := c.proc(id)
	if err != nil {
		return err
	}
	c.cfg.Logf("chaos: pause %s", id)
	return p.signal(syscall.SIGSTOP)
}

// Resume continues node id with SIGCONT.
func (c *Cluster) Resume(id string) error {
	p, err := c.proc(id)
	if err != nil {
		return err
	}
	c.cfg.Logf("chaos: resume %s", id)
	return p.signal(syscall.SIGCONT)
}

// Running reports whether node id's process runs (paused or not).
func (c *Cluster) Running(id string) bool {
	p, err := c.proc(id)
	return err == nil && p.running()
}

// Paused reports whether node id is stopped by Pause.
func (c *Cluster) Paused(id string) bool {
	p, err := c.proc(id)
	return err == nil && p.isPaused()
}

func (c *Cluster) proc(id string) (*process, error) {
	p := c.procs[id]
	if p == nil {
		return nil, fmt.Errorf("chaos: no node %q in %v", id, c.ids)
	}
	return p, nil
}

// Digest is a node's fingerprint of its replicated state: the index of
// the last entry it applied and the digest of its state there
// (raftbackend.Node.LocalStatus).
type Digest struct {
	Index uint64
	Sum   string
}

// String implements fmt.Stringer.
func (d Digest) String() string { return fmt.Sprintf("%d/%s", d.Index, d.Sum) }

// Digests asks every node, at once, for its state digest. The map holds
// the nodes that answered; the error names those that did not.
func (c *Cluster) Digests(ctx context.Context) (map[string]Digest, error) {
	out := make(map[string]Digest, len(c.ids))
	var errs []error
	sts := c.statuses(ctx)
	for _, id := range c.ids {
		s := sts[id]
		if s.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, s.err))
			continue
		}
		idx, err := strconv.ParseUint(s.st.Details["state_index"], 10, 64)
		sum := s.st.Details["state_digest"]
		if err != nil || sum == "" {
			errs = append(errs, fmt.Errorf("%s: no state digest in its status (details %v)", id, s.st.Details))
			continue
		}
		out[id] = Digest{Index: idx, Sum: sum}
	}
	return out, errors.Join(errs...)
}

// WaitConverged heals nothing itself: it waits until every node reports
// the same state index and digest at one moment, polling (indexes move
// while expiries commit, so it asks all nodes at once and retries until
// they agree), or returns an error describing each node's index and
// digest when ctx ends. Equal indexes with different digests are
// reported as soon as seen: replicas that disagree do not converge by
// waiting.
func (c *Cluster) WaitConverged(ctx context.Context) error {
	for {
		ds, err := c.Digests(ctx)
		if err == nil && len(ds) == len(c.ids) {
			if diverged := divergence(ds); diverged != "" {
				return fmt.Errorf("chaos: replicas disagree: %s", diverged)
			}
			if converged(ds) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("chaos: the nodes did not converge: %w; %s", context.Cause(ctx), c.describeDigests(ds, err))
		case <-time.After(pollInterval):
		}
	}
}

// converged reports whether every digest is the same.
func converged(ds map[string]Digest) bool {
	var first *Digest
	for _, d := range ds {
		if first == nil {
			first = &d
		} else if d != *first {
			return false
		}
	}
	return true
}

// divergence describes nodes at the same index with different digests,
// "" if there are none.
func divergence(ds map[string]Digest) string {
	byIndex := make(map[uint64]map[string][]string) // index -> sum -> nodes
	for id, d := range ds {
		if byIndex[d.Index] == nil {
			byIndex[d.Index] = make(map[string][]string)
		}
		byIndex[d.Index][d.Sum] = append(byIndex[d.Index][d.Sum], id)
	}
	var parts []string
	for idx, sums := range byIndex {
		if len(sums) < 2 {
			continue
		}
		for sum, ids := range sums {
			slices.Sort(ids)
			parts = append(parts, fmt.Sprintf("%v at index %d have digest %s", ids, idx, sum))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

func (c *Cluster) describeDigests(ds map[string]Digest, err error) string {
	var parts []string
	for _, id := range c.ids {
		if d, ok := ds[id]; ok {
			parts = append(parts, fmt.Sprintf("%s: index %d digest %s", id, d.Index, d.Sum))
		}
	}
	if err != nil {
		parts = append(parts, err.Error())
	}
	return strings.Join(parts, "; ")
}

// LogTail is the last n lines of node id's output, every run of it
// included, for failure reports.
func (c *Cluster) LogTail(id string, n int) string {
	p, err := c.proc(id)
	if err != nil {
		return err.Error()
	}
	return p.logTail(n)
}

// Races lists the nodes whose output reports a data race (a binary built
// with -race prints "WARNING: DATA RACE" and goes on).
func (c *Cluster) Races() []string {
	var out []string
	for _, id := range c.ids {
		if b, err := readFrom(c.procs[id].logPath, 0); err == nil && strings.Contains(string(b), "WARNING: DATA RACE") {
			out = append(out, id)
		}
	}
	return out
}

// Close kills every node (SIGKILL ends paused ones too), closes the
// proxies and the cluster's client, and returns once nothing of the
// cluster runs, in this process or outside it. The data directories and
// logs stay. Close is idempotent.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		var errs []error
		for _, id := range c.ids {
			if p := c.procs[id]; p != nil {
				errs = append(errs, p.kill())
			}
		}
		if c.drv != nil {
			errs = append(errs, c.drv.Close())
		}
		if c.net != nil {
			errs = append(errs, c.net.close())
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}
