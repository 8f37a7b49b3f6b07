//go:build unix

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/raftlock/raftlock"
	_ "github.com/raftlock/raftlock/raftbackend" // the raft:// scheme
)

// withMetrics gives every node of c a --metrics-addr on a free loopback
// port, none of them one the cluster already uses, and returns them by
// node.
func withMetrics(t *testing.T, c *cluster, extra ...string) []string {
	t.Helper()
	taken := make(map[string]bool)
	for _, s := range c.nodes {
		taken[s.raft], taken[s.api] = true, true
	}
	var addrs []string
	for len(addrs) < len(c.nodes) {
		for _, a := range freeAddrs(t, len(c.nodes)-len(addrs)) {
			if !taken[a] {
				taken[a] = true
				addrs = append(addrs, a)
			}
		}
	}
	for i := range c.nodes {
		c.nodes[i].args = append(c.nodes[i].args, "--metrics-addr", addrs[i])
		c.nodes[i].args = append(c.nodes[i].args, extra...)
	}
	return addrs
}

var httpClient = &http.Client{Timeout: attemptTimeout}

// get fetches http://addr+path and returns the status code and body.
func get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := httpClient.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s%s: reading the body: %v", addr, path, err)
	}
	return resp.StatusCode, string(body)
}

// scrape fetches and parses addr's /metrics.
func scrape(t *testing.T, addr string) metricSet {
	t.Helper()
	code, body := get(t, addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET %s/metrics: status %d: %s", addr, code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing %s/metrics: %v\n%s", addr, err, body)
	}
	return mfs
}

// metricSet is one scrape, by series name.
type metricSet map[string]*dto.MetricFamily

// value is the value of the series name with the given label pairs
// (name, value, name, value...), and whether it exists. For a histogram it
// is the count of observations.
func (m metricSet) value(name string, labels ...string) (float64, bool) {
	mf := m[name]
	if mf == nil {
		return 0, false
	}
	for _, metric := range mf.GetMetric() {
		if !hasLabels(metric, labels) {
			continue
		}
		switch {
		case metric.GetCounter() != nil:
			return metric.GetCounter().GetValue(), true
		case metric.GetGauge() != nil:
			return metric.GetGauge().GetValue(), true
		case metric.GetHistogram() != nil:
			return float64(metric.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// must is value for a series that must exist.
func (m metricSet) must(t *testing.T, who, name string, labels ...string) float64 {
	t.Helper()
	v, ok := m.value(name, labels...)
	if !ok {
		t.Fatalf("%s: no series %s%q", who, name, labels)
	}
	return v
}

func hasLabels(metric *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, lp := range metric.GetLabel() {
			if lp.GetName() == pairs[i] && lp.GetValue() == pairs[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// openClient opens a raftlock client of the cluster, closed with the test.
func openClient(t *testing.T, c *cluster) *raftlock.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	cl, err := raftlock.Open(ctx, "raft://"+strings.Join(c.endpoints(), ","))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// A three-node cluster with --metrics-addr on every node exports the
// series the docs list, with values that match a burst of lock operations.
func TestServeMetrics(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3)
	maddrs := withMetrics(t, c)
	c.start(t)
	cl := openClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*opTimeout)
	defer cancel()

	const burst = 20
	for i := range burst {
		id := fmt.Sprintf("metrics/%d", i)
		res, err := cl.Acquire(ctx, &raftlock.AcquireRequest{LockID: id, ClientID: "burst", TTL: time.Minute})
		if err != nil {
			t.Fatalf("acquire %s: %v", id, err)
		}
		if i == 0 {
			if _, err := cl.Renew(ctx, &raftlock.RenewRequest{LockID: id, ClientID: "burst", Version: res.Version, TTL: time.Minute}); err != nil {
				t.Fatalf("renew %s: %v", id, err)
			}
		}
		if _, err := cl.Release(ctx, &raftlock.ReleaseRequest{LockID: id, ClientID: "burst", Version: res.Version}); err != nil {
			t.Fatalf("release %s: %v", id, err)
		}
	}

	// A hand-off to a waiting Acquire, which goes as a stream.
	first, err := cl.Acquire(ctx, &raftlock.AcquireRequest{LockID: "metrics/queue", ClientID: "first", TTL: time.Minute})
	if err != nil {
		t.Fatalf("acquire metrics/queue: %v", err)
	}
	waited := make(chan error, 1)
	go func() {
		res, err := cl.Acquire(ctx, &raftlock.AcquireRequest{LockID: "metrics/queue", ClientID: "second", TTL: time.Minute,
			Wait: true, WaitTimeout: opTimeout})
		if err == nil {
			_, err = cl.Release(ctx, &raftlock.ReleaseRequest{LockID: "metrics/queue", ClientID: "second", Version: res.Version})
		}
		waited <- err
	}()
	waitFor(t, "the second client queued", func() (bool, string) {
		info, err := cl.GetLockInfo(ctx, &raftlock.GetLockInfoRequest{LockID: "metrics/queue", IncludeWaiters: true})
		if err != nil {
			return false, err.Error()
		}
		return len(info.Waiters) == 1, fmt.Sprintf("%+v", info)
	})
	if _, err := cl.Release(ctx, &raftlock.ReleaseRequest{LockID: "metrics/queue", ClientID: "first", Version: first.Version}); err != nil {
		t.Fatalf("release metrics/queue: %v", err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("waiting acquire: %v", err)
	}
	cl.Close()

	const grants, releases = burst + 2, burst + 2
	// Followers apply a moment after the leader: poll until every node
	// has counted everything.
	var sets []metricSet
	waitFor(t, "every node counting the burst", func() (bool, string) {
		sets = sets[:0]
		var seen []string
		ok := true
		for i, a := range maddrs {
			m := scrape(t, a)
			sets = append(sets, m)
			g, r := m.must(t, c.nodes[i].id, "raftlock_grants_total"), m.must(t, c.nodes[i].id, "raftlock_releases_total")
			seen = append(seen, fmt.Sprintf("%s: %v grants, %v releases", c.nodes[i].id, g, r))
			ok = ok && g >= grants && r >= releases
		}
		return ok, strings.Join(seen, "; ")
	})

	leaders := 0
	var rpcAcquires, rpcStreams, rpcTimed float64
	for i, m := range sets {
		who := c.nodes[i].id
		if m.must(t, who, "raftlock_raft_state", "state", "leader") == 1 {
			leaders++
			// Had leadership moved during the burst, the new leader would
			// have timed only the entries it proposed: at least its first.
			if v := m.must(t, who, "raftlock_commit_duration_seconds"); v < 1 {
				t.Errorf("%s leads but timed %v commits", who, v)
			}
			if v := m.must(t, who, "raftlock_raft_last_contact_seconds"); v != 0 {
				t.Errorf("%s leads but its last contact is %v", who, v)
			}
		}
		for _, s := range []struct {
			name  string
			least float64
		}{
			{"raftlock_handoffs_total", 1},
			{"raftlock_renewals_total", 1},
			{"raftlock_raft_term", 1},
			{"raftlock_raft_commit_index", grants},
			{"raftlock_raft_applied_index", grants},
			{"raftlock_raft_voters", 3},
			{"raftlock_raft_peers", 2},
			{"raftlock_raft_leader_known", 1},
			{"raftlock_apply_duration_seconds", 1},
			{"go_goroutines", 1},
			{"process_start_time_seconds", 1},
		} {
			if v := m.must(t, who, s.name); v < s.least {
				t.Errorf("%s: %s = %v, want at least %v", who, s.name, v, s.least)
			}
		}
		if v := m.must(t, who, "raftlock_locks_held"); v != 0 {
			t.Errorf("%s: %v locks held after every lock was released", who, v)
		}
		if v := m.must(t, who, "raftlock_node_info", "node", who, "api_address", c.nodes[i].api); v != 1 {
			t.Errorf("%s: node_info = %v", who, v)
		}
		v, _ := m.value("raftlock_rpc_requests_total", "method", "raftlock.v1.RaftLock/TryAcquire", "code", "OK")
		rpcAcquires += v
		v, _ = m.value("raftlock_rpc_requests_total", "method", "raftlock.v1.RaftLock/Acquire", "code", "OK")
		rpcStreams += v
		v, _ = m.value("raftlock_rpc_duration_seconds", "method", "raftlock.v1.RaftLock/Release")
		rpcTimed += v
	}
	if leaders != 1 {
		t.Errorf("%d nodes report raft_state leader, want 1", leaders)
	}
	if rpcAcquires < burst+1 || rpcStreams < 1 || rpcTimed < releases {
		t.Errorf("RPCs over the cluster: %v TryAcquire OK, %v Acquire streams OK, %v Release timed; want at least %d, 1, %d",
			rpcAcquires, rpcStreams, rpcTimed, burst+1, releases)
	}

	for i, a := range maddrs {
		if code, body := get(t, a, "/healthz"); code != http.StatusOK || !strings.HasPrefix(body, "serving") {
			t.Errorf("%s /healthz: %d %q, want 200", c.nodes[i].id, code, body)
		}
		if code, _ := get(t, a, "/debug/pprof/"); code != http.StatusNotFound {
			t.Errorf("%s /debug/pprof/ without --pprof: status %d, want 404", c.nodes[i].id, code)
		}
	}
}

// grpcHealth asks addr's grpc.health.v1 service for the server's status.
func grpcHealth(t *testing.T, addr string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), attemptTimeout)
	defer cancel()
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return healthpb.HealthCheckResponse_UNKNOWN
	}
	return res.GetStatus()
}

// health is a node's health as both its checks report it.
func health(t *testing.T, apiAddr, metricsAddr string) (healthpb.HealthCheckResponse_ServingStatus, int) {
	t.Helper()
	code, _ := get(t, metricsAddr, "/healthz")
	return grpcHealth(t, apiAddr), code
}

// A node that loses its quorum says so on both health checks within a few
// election timeouts, and serves again once a peer is back.
func TestServeHealthFollowsQuorum(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 3)
	maddrs := withMetrics(t, c)
	c.start(t)
	const survivor = 0
	want := func(what string, st healthpb.HealthCheckResponse_ServingStatus, code int, nodes ...int) {
		t.Helper()
		waitFor(t, what, func() (bool, string) {
			var seen []string
			ok := true
			for _, i := range nodes {
				gotSt, gotCode := health(t, c.nodes[i].api, maddrs[i])
				seen = append(seen, fmt.Sprintf("%s: %v, /healthz %d", c.nodes[i].id, gotSt, gotCode))
				ok = ok && gotSt == st && gotCode == code
			}
			return ok, strings.Join(seen, "; ")
		})
	}
	want("every node serving", healthpb.HealthCheckResponse_SERVING, http.StatusOK, 0, 1, 2)

	for _, p := range c.procs[1:] {
		p.kill(t)
	}
	// The survivor, leader or follower, drops its leader within a lease
	// or heartbeat timeout (500ms by default) and polls every 200ms; the
	// bound is loose for a loaded machine under the race detector.
	const bound = 30 * time.Second
	began := time.Now()
	for {
		st, code := health(t, c.nodes[survivor].api, maddrs[survivor])
		if st == healthpb.HealthCheckResponse_NOT_SERVING && code == http.StatusServiceUnavailable {
			t.Logf("NOT_SERVING %v after the peers died", time.Since(began).Round(time.Millisecond))
			break
		}
		if time.Since(began) > bound {
			t.Fatalf("%s still reports %v, /healthz %d, %v after losing its quorum", c.nodes[survivor].id, st, code, bound)
		}
		time.Sleep(pollEvery)
	}

	// One peer back makes a quorum of two.
	back := startProc(t, c.nodes[1].id+" (back)", c.nodes[1].args...)
	back.waitLine(t, servingMsg, serveTimeout)
	want("serving again with a peer back", healthpb.HealthCheckResponse_SERVING, http.StatusOK, survivor, 1)

	back.cmd.Process.Signal(syscall.SIGTERM)
	c.procs[survivor].cmd.Process.Signal(syscall.SIGTERM)
	for _, p := range []*proc{back, c.procs[survivor]} {
		if code := p.wait(t); code != 0 {
			t.Errorf("%s exited with %d after SIGTERM (%v), want 0", p.label, code, p.err)
		}
	}
}

// --pprof serves Go's profiles on the metrics address.
func TestServePprof(t *testing.T) {
	skipShort(t)
	c := newCluster(t, 1)
	maddrs := withMetrics(t, c, "--pprof")
	c.start(t)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1", "/debug/pprof/heap"} {
		if code, body := get(t, maddrs[0], path); code != http.StatusOK {
			t.Errorf("GET %s: status %d: %.200s", path, code, body)
		}
	}
	// The node logs that it serves before it has elected itself.
	waitFor(t, "a lone bootstrapped node healthy", func() (bool, string) {
		code, body := get(t, maddrs[0], "/healthz")
		return code == http.StatusOK, fmt.Sprintf("%d %q", code, body)
	})
}

func TestParseServeObserve(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	base := []string{"--node-id", "n1", "--data-dir", "d"}
	for _, tc := range []struct {
		args []string
		want string // in the error
	}{
		{append(slices.Clip(base), "--pprof"), "--pprof needs --metrics-addr"},
		{append(slices.Clip(base), "--metrics-addr", "9090"), "--metrics-addr"},
	} {
		if _, err := parseServe(tc.args, noEnv); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want one containing %q", tc.args, err, tc.want)
		}
	}
	env := map[string]string{"RAFTLOCK_METRICS_ADDR": "127.0.0.1:9090", "RAFTLOCK_PPROF": "true"}
	o, err := parseServe(base, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if o.observe.metricsAddr != "127.0.0.1:9090" || !o.observe.pprof {
		t.Errorf("from the environment: %+v", o.observe)
	}

	var stdout, stderr strings.Builder
	if code := run(context.Background(), []string{"help", "serve"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("help serve: exit %d: %s", code, &stderr)
	}
	for _, s := range []string{"--metrics-addr host:port", "[$RAFTLOCK_METRICS_ADDR]", "--pprof", "[$RAFTLOCK_PPROF]", "/healthz"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("help serve lacks %q", s)
		}
	}
}
