package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftlock/raftlock/bench/report"
	"github.com/raftlock/raftlock/bench/servers"
	"github.com/raftlock/raftlock/bench/workload"
)

// TestMain lets this test binary be the servers the program starts.
func TestMain(m *testing.M) {
	servers.Child()
	os.Exit(m.Run())
}

// TestQuick runs the program's smoke run on the single-node Raft suite, so
// that the program keeps building and working: servers start and stop,
// every workload runs on every contender, and the files are written.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and runs for a while")
	}
	out := t.TempDir()
	rep, err := run(t.Context(), []string{"-quick", "-only", "raft1", "-out", out}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Suites) != 1 || len(rep.Suites[0].Results) != 4 {
		t.Fatalf("want 1 suite of 4 workloads, got %+v", rep.Suites)
	}
	for _, res := range rep.Suites[0].Results {
		if len(res.Summaries) != 3 {
			t.Fatalf("%s: want 3 contenders, got %d", res.Workload.Name, len(res.Summaries))
		}
		for _, s := range res.Summaries {
			if !s.OK() {
				t.Errorf("%s %s: no figures (%s%v)", res.Workload.Name, s.Contender, s.NA, s.Err)
			}
		}
		// A FIFO queue hands the lock to the waiter at its head, never
		// back to the client that released it: a property of the store,
		// not of the machine's speed.
		if raft := res.Summaries[0]; res.Workload.Kind == workload.KindHandoff && raft.Handoffs != raft.Turns {
			t.Errorf("raftlock: %d of %d hand-offs to another client", raft.Handoffs, raft.Turns)
		}
	}

	md, err := os.ReadFile(filepath.Join(out, report.MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Raft store, 1 node", "raftlock", "etcd Mutex", "raw raft Apply", "-only raft1"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("%s lacks %q", report.MarkdownFile, want)
		}
	}
	svg, err := os.ReadFile(filepath.Join(out, report.SVGFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(svg), "<svg") || !strings.Contains(string(svg), "raw raft") {
		t.Errorf("%s is not the chart", report.SVGFile)
	}
}
