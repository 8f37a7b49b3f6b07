package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/raftlock/raftlock/bench/report"
	"github.com/raftlock/raftlock/bench/workload"
)

// versioned are the modules whose versions the report names: the servers
// and the peer libraries.
var versioned = []string{
	"go.etcd.io/etcd/server/v3",
	"go.etcd.io/etcd/client/v3",
	"github.com/hashicorp/raft",
	"github.com/hashicorp/raft-wal",
	"github.com/go-redsync/redsync/v4",
	"github.com/bsm/redislock",
	"github.com/redis/go-redis/v9",
}

// run runs the suites the command line asks for, prints their progress and
// their tables on stdout, and writes the report. It fails when a suite
// could not start or a contender's run failed, after writing the report of
// the rest; when ctx ends, it returns at once and writes nothing.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (*report.Report, error) {
	o, err := parse(args, stderr)
	if err != nil {
		return nil, err
	}
	picked, err := pick(suites(o.clients), o.only)
	if err != nil {
		return nil, err
	}
	stopProfile, err := o.profile()
	if err != nil {
		return nil, err
	}
	defer stopProfile()

	rep := &report.Report{Date: time.Now(), Machine: report.ThisMachine(), Command: o.command(), Settings: o.settings()}
	out := &printer{w: stdout}
	var failures []string
	redisRan := false
	for _, s := range picked {
		rs, failed, err := runSuite(ctx, s, o, out)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		switch {
		case errors.Is(err, errSkip):
			rs.Setup = "not run: " + err.Error()
			out.printf("  %s\n", rs.Setup)
		case err != nil:
			rs.Setup = "failed: " + err.Error()
			out.printf("  %s\n", rs.Setup)
			failures = append(failures, fmt.Sprintf("%s: %v", s.name, err))
		}
		failures = append(failures, failed...)
		redisRan = redisRan || s.name == "redis" && err == nil
		rep.Suites = append(rep.Suites, rs)
	}
	rep.Versions = report.Versions(versioned, redisRan)
	if err := stopProfile(); err != nil {
		return rep, err
	}
	if err := report.Write(o.out, rep); err != nil {
		return rep, err
	}
	var md strings.Builder
	rep.Markdown(&md)
	out.printf("\n%s\nwrote %s and %s\n", md.String(),
		filepath.Join(o.out, report.MarkdownFile), filepath.Join(o.out, report.SVGFile))
	if len(failures) > 0 {
		return rep, fmt.Errorf("%d failures:\n  %s", len(failures), strings.Join(failures, "\n  "))
	}
	return rep, nil
}

// runSuite starts s's servers and contenders, runs its workloads, and
// stops them. It returns what failed in the contenders' runs, and an error
// when the suite could not run at all.
func runSuite(ctx context.Context, s *suite, o *options, out *printer) (report.Suite, []string, error) {
	rs := report.Suite{Name: s.name, Title: s.title, Setup: s.setup}
	out.printf("\n== %s: %s\n", s.name, s.title)
	began := time.Now()
	st, err := s.open(ctx, o.clients)
	if err != nil {
		return rs, nil, err
	}
	defer st.close()
	out.printf("  ready in %v\n", time.Since(began).Round(10*time.Millisecond))
	p := workload.Params{Clients: o.clients, Duration: o.duration, Ops: o.ops, Burst: o.burst}
	var failed []string
	for _, w := range s.workloads {
		out.printf("-- %s/%s: %s\n", s.name, w.Name, w.Title)
		res, err := workload.Compare(ctx, w, st.contenders, p, o.rounds, out.progress(w))
		if err != nil {
			return rs, failed, err
		}
		out.result(res)
		for _, sum := range res.Summaries {
			if sum.Err != nil {
				failed = append(failed, fmt.Sprintf("%s/%s %s: %v", s.name, w.Name, sum.Contender, sum.Err))
			}
		}
		rs.Results = append(rs.Results, res)
	}
	return rs, failed, nil
}

// settings says how much each run did, for the report.
func (o *options) settings() string {
	each := fmt.Sprintf("%v", o.duration)
	if o.ops > 0 {
		each = fmt.Sprintf("%d operations", o.ops)
	}
	rounds := "rounds"
	if o.rounds == 1 {
		rounds = "round"
	}
	return fmt.Sprintf("%d %s of %s per contender and workload, %d clients, bursts of %d locks, leases of %v, order slack %v",
		o.rounds, rounds, each, o.clients, o.burst, workload.TTL, workload.FIFOSlack)
}

// printer prints the progress of a run.
type printer struct{ w io.Writer }

func (p *printer) printf(format string, args ...any) { fmt.Fprintf(p.w, format, args...) }

// progress prints each run of w as it ends.
func (p *printer) progress(w *workload.Workload) workload.Progress {
	return func(round int, name string, f workload.Figures, err error) {
		head := fmt.Sprintf("  round %d  %-15s", round+1, name)
		if err != nil {
			p.printf("%s error: %v\n", head, err)
			return
		}
		cpu := fmt.Sprintf("CPU/1k: client %.3f s, server %.3f s", perThousand(f.ClientCPU, f.Ops), perThousand(f.ServerCPU, f.Ops))
		switch w.Kind {
		case workload.KindPairs:
			p.printf("%s %9s pairs/s  p50 %-8s p99 %-8s %s\n", head, report.Rate(f.Rate()), report.Duration(f.P50), report.Duration(f.P99), cpu)
		case workload.KindHandoff:
			p.printf("%s %9s grants/s, %s hand-offs/s (%s)  p50 %s  %s\n",
				head, report.Rate(f.Rate()), report.Rate(f.HandoffRate()), report.Order(f.Handoffs, f.Turns, f.OutOfOrder), report.Duration(f.P50), cpu)
		case workload.KindBurst:
			list := "no listing"
			if f.Listed > 0 {
				list = fmt.Sprintf("listed in %s", report.Duration(f.List))
			}
			p.printf("%s took %d in %s (%s locks/s), %s  %s\n", head, f.Ops, report.Duration(f.Elapsed), report.Rate(f.Rate()), list, cpu)
		case workload.KindFailover:
			p.printf("%s kill → grant %s\n", head, report.Duration(f.Failover))
		}
	}
}

// result prints the medians of a workload and the ratios.
func (p *printer) result(res workload.Result) {
	var parts []string
	for i, s := range res.Summaries {
		if !s.OK() {
			continue
		}
		part := fmt.Sprintf("%s %s", s.Contender, keyValue(res.Workload, &s))
		if i > 0 && s.Ratio > 0 {
			part += fmt.Sprintf(" (raftlock/peer %.2f×)", s.Ratio)
		}
		parts = append(parts, part)
	}
	if len(parts) > 0 {
		p.printf("  medians: %s\n", strings.Join(parts, "; "))
	}
}

func keyValue(w *workload.Workload, s *workload.Summary) string {
	if w.Kind == workload.KindFailover {
		return report.Duration(s.Failover)
	}
	return report.Rate(w.Key.Of(s)) + " " + w.Key.Label
}

func perThousand(d time.Duration, ops int) float64 {
	if ops == 0 {
		return 0
	}
	return d.Seconds() * 1000 / float64(ops)
}
