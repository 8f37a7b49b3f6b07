//go:build unix

package chaos

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

var (
	runFor  = flag.Duration("chaos.duration", 20*time.Second, "how long the workload runs under faults")
	soak    = flag.Duration("soak", 0, "run this long instead of -chaos.duration: a soak")
	seedArg = flag.Int64("chaos.seed", 0, "seed of the fault schedule and the workload; 0 takes one from the clock (it is logged, to replay a run)")
	nodes   = flag.Int("chaos.nodes", 3, "cluster size: 3 or 5")
	mutants = flag.Bool("chaos.mutants", false, "run the suite against deliberately broken builds too; each must fail")
	keepDir = flag.String("chaos.out", "", "directory for the HTML of an illegal history and the nodes' logs (default: a temporary one, named in the log)")
)

// runSpec is one chaos run: which build, for how long, with which seed.
type runSpec struct {
	tags     []string
	duration time.Duration
	seed     int64
}

// runResult is what one run saw.
type runResult struct {
	report     Report
	faults     map[string]int
	violations []string
	verdict    porcupine.CheckResult
	wall       time.Duration
}

// TestChaos runs the workload against a cluster under the nemesis and fails
// on any violation.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos run takes a while; it runs without -short")
	}
	d := *runFor
	if *soak > 0 {
		d = *soak
	}
	res := runChaos(t, runSpec{duration: d, seed: pickSeed(t, 0)})
	for _, v := range res.violations {
		t.Error(v)
	}
	if res.verdict != porcupine.Ok {
		t.Errorf("linearizability: %s", res.verdict)
	}
}

// TestMutantsAreCaught rebuilds the store with each deliberate bug and
// expects the suite to fail every one: a suite that passes a broken store
// proves nothing about a sound one.
func TestMutantsAreCaught(t *testing.T) {
	if !*mutants {
		t.Skip("runs with -chaos.mutants")
	}
	for _, tag := range []string{"mutant_localclock", "mutant_unpersisted"} {
		t.Run(tag, func(t *testing.T) {
			// A fixed seed by default: its schedule kills nodes early
			// enough for a short run to restart one from a snapshot,
			// which the unpersisted version needs to show.
			res := runChaos(t, runSpec{tags: []string{tag}, duration: *runFor, seed: pickSeed(t, 42)})
			if len(res.violations) == 0 && res.verdict == porcupine.Ok {
				t.Fatalf("the suite found nothing wrong with the %s build", tag)
			}
			t.Logf("caught %s: %d violations, linearizability %s", tag, len(res.violations), res.verdict)
			for i, v := range res.violations {
				if i == 5 {
					t.Logf("  ... and %d more", len(res.violations)-i)
					break
				}
				t.Logf("  %s", v)
			}
		})
	}
}

// pickSeed returns -chaos.seed, else def, else a seed from the clock.
func pickSeed(t *testing.T, def int64) int64 {
	seed := *seedArg
	if seed == 0 {
		seed = def
	}
	if seed == 0 {
		seed = time.Now().UnixNano() % 1_000_000_000
	}
	t.Logf("seed %d (replay with -chaos.seed=%d)", seed, seed)
	return seed
}

// runChaos builds the binary, starts the cluster, runs the workload and
// the nemesis side by side for the spec's duration, heals everything and
// checks. Violations are collected, not fatal, so that a run reports all
// it found.
func runChaos(t *testing.T, spec runSpec) runResult {
	t.Helper()
	start := time.Now()
	out := *keepDir
	if out == "" {
		out = t.TempDir()
	}
	out = filepath.Join(out, fmt.Sprintf("seed-%d%s", spec.seed, strings.Join(append([]string{""}, spec.tags...), "-")))
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), spec.duration+5*time.Minute)
	defer cancel()

	bin, err := BuildBinary(ctx, t.TempDir(), spec.tags...)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	cluster, err := StartCluster(ctx, ClusterConfig{
		Nodes:             *nodes,
		Binary:            bin,
		Dir:               out,
		Logf:              t.Logf,
		SnapshotThreshold: 200,
	})
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	defer cluster.Close()

	wl, err := NewWorkload(WorkloadConfig{
		StoreURL:  cluster.StoreURL(),
		Clients:   16,
		HotLocks:  3,
		ColdLocks: 200,
		TTL:       2 * time.Second,
		Anchors:   4,
		Seed:      spec.seed,
		Logf:      t.Logf,
	})
	if err != nil {
		t.Fatalf("workload: %v", err)
	}

	var (
		mu         sync.Mutex
		violations []string
	)
	violate := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		violations = append(violations, fmt.Sprintf(format, args...))
	}

	runCtx, stop := context.WithTimeout(ctx, spec.duration)
	defer stop()
	nem := NewNemesis(cluster, NemesisConfig{
		Seed: spec.seed,
		Logf: t.Logf,
		OnRestart: func(id string) {
			// Every acknowledged grant must outlive the crash of any node.
			cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
			defer ccancel()
			if err := wl.CheckAnchors(cctx); err != nil {
				violate("lost grant after restarting %s: %v", id, err)
			}
		},
	})
	var wg sync.WaitGroup
	var wlErr, nemErr error
	wg.Go(func() { wlErr = wl.Run(runCtx) })
	wg.Go(func() { nemErr = nem.Run(runCtx) })
	wg.Wait()
	if wlErr != nil {
		t.Errorf("workload: %v", wlErr)
	}
	if nemErr != nil {
		t.Errorf("nemesis: %v", nemErr)
	}

	// Healed: every replica must reach the same state, and every grant
	// still held must be there.
	cctx, ccancel := context.WithTimeout(ctx, time.Minute)
	defer ccancel()
	if err := cluster.WaitConverged(cctx); err != nil {
		violate("replicas did not converge: %v", err)
	}
	if err := wl.CheckAnchors(cctx); err != nil {
		violate("lost grant after healing: %v", err)
	}
	for _, v := range wl.CheckFencing() {
		violate("fencing: %s %s: %s", v.Kind, v.LockID, v.Detail)
	}
	html := filepath.Join(out, "history.html")
	verdict, err := wl.CheckLinearizable(2*time.Minute, html)
	if err != nil {
		t.Errorf("linearizability check: %v", err)
	}
	if verdict == porcupine.Illegal {
		violate("history is not linearizable; see %s", html)
	}

	res := runResult{
		report:     wl.Report(),
		faults:     nem.Counts(),
		violations: violations,
		verdict:    verdict,
		wall:       time.Since(start),
	}
	logResult(t, spec, res)
	if len(violations) > 0 {
		for _, id := range cluster.NodeIDs() {
			t.Logf("last lines of %s:\n%s", id, cluster.LogTail(id, 20))
		}
	}
	return res
}

// logResult prints the run's figures in one block, for the record.
func logResult(t *testing.T, spec runSpec, res runResult) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "chaos run: seed %d, build tags %q, workload %v, wall %v\n", spec.seed, spec.tags, spec.duration, res.wall.Round(time.Second))
	fmt.Fprintf(&b, "  operations: %s\n", counts(res.report.Ops))
	fmt.Fprintf(&b, "  outcomes:   %s\n", counts(res.report.Outcomes))
	fmt.Fprintf(&b, "  writes to the protected resource: %d\n", res.report.Writes)
	fmt.Fprintf(&b, "  faults:     %s\n", counts(res.faults))
	fmt.Fprintf(&b, "  violations: %d; linearizability: %s", len(res.violations), res.verdict)
	t.Log(b.String())
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	total := 0
	for k, v := range m {
		keys = append(keys, k)
		total += v
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}
