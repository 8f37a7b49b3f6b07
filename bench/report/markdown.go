package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/raftlock/raftlock/bench/workload"
)

// Markdown writes the report as Markdown: the header, how to read it, the
// suites, and one table per workload.
func (r *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# raftlock's stores and their peers\n\n")
	fmt.Fprintf(&b, "- Date: %s\n", r.Date.UTC().Format("2006-01-02 15:04 UTC"))
	m := r.Machine
	model := m.Model
	if model == "" {
		model = "unknown CPU"
	}
	fmt.Fprintf(&b, "- Machine: %d CPUs, %s, %s/%s\n", m.CPUs, model, m.OS, m.Arch)
	fmt.Fprintf(&b, "- Go: %s\n", m.GoVersion)
	fmt.Fprintf(&b, "- Command: `%s`\n", r.Command)
	if r.Settings != "" {
		fmt.Fprintf(&b, "- Settings: %s\n", r.Settings)
	}
	if len(r.Versions) > 0 {
		fmt.Fprintf(&b, "- Versions: %s\n", strings.Join(r.Versions, ", "))
	}
	b.WriteString(readingGuide)
	fmt.Fprintf(&b, "\n![The figures the ratios compare, a chart per suite and workload](%s)\n", SVGFile)

	b.WriteString("\n## Suites\n\n")
	for _, s := range r.Suites {
		fmt.Fprintf(&b, "- **%s** (`-only %s`): %s\n", s.Title, s.Name, s.Setup)
	}

	for _, kind := range workloadOrder(r.Suites) {
		writeTable(&b, r.Suites, kind)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

const readingGuide = `
Every figure is the median over the rounds. In each round every contender
of a suite runs the workload once, one after the other, in reverse order
every other round, on servers that run on this machine, each member a
process of its own; a busy or shared machine weighs on all of them alike,
but the absolute figures are only as steady as the machine was.

**raftlock/peer** is raftlock's median divided by that peer's, for the
column marked ↑ or ↓. ↑ marks a rate, where higher is better: a ratio of
1.50× means raftlock did half as much again as the peer. ↓ marks a time,
where lower is better: a ratio of 0.50× means raftlock took half the
peer's time. **CPU** columns are CPU seconds per 1,000 operations: *client*
is this benchmark process (all the clients of the contender), *server* the
store's server processes added up, from /proc/<pid>/stat.
`

// workloadOrder lists the workloads of the suites in the order they first
// appear, each once, by name.
func workloadOrder(suites []Suite) []string {
	var names []string
	seen := map[string]bool{}
	for _, s := range suites {
		for _, res := range s.Results {
			if n := res.Workload.Name; !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	return names
}

// writeTable writes the table of the workload named name: a row per
// contender of each suite that ran it.
func writeTable(b *strings.Builder, suites []Suite, name string) {
	var w *workload.Workload
	for _, s := range suites {
		for _, res := range s.Results {
			if res.Workload.Name == name {
				w = res.Workload
			}
		}
	}
	fmt.Fprintf(b, "\n## %s\n\n", w.Title)
	head := columns(w)
	fmt.Fprintf(b, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	for _, s := range suites {
		for _, res := range s.Results {
			if res.Workload.Name != name {
				continue
			}
			for i := range res.Summaries {
				sum := &res.Summaries[i]
				suite := ""
				if i == 0 {
					suite = s.Title
				}
				cells := append([]string{suite, sum.Contender}, cellsOf(w, sum, i == 0)...)
				for len(cells) < len(head) {
					cells = append(cells, "")
				}
				fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
			}
		}
	}
}

// columns are the headings of a workload's table.
func columns(w *workload.Workload) []string {
	cpu := []string{"client CPU s/1k", "server CPU s/1k"}
	ratio := "raftlock/peer"
	switch w.Kind {
	case workload.KindPairs:
		return append(append([]string{"Suite", "Contender", "pairs/s ↑", "p50", "p99"}, cpu...), ratio)
	case workload.KindHandoff:
		return append(append([]string{"Suite", "Contender", "grants/s", "hand-offs/s ↑", "p50 wait", "p99 wait"}, cpu...),
			"order of grants", ratio)
	case workload.KindBurst:
		return append(append([]string{"Suite", "Contender", "time to take all", "locks/s ↑", "p50", "p99", "time to list"}, cpu...), ratio)
	case workload.KindFailover:
		return []string{"Suite", "Contender", "kill → grant ↓", "each round", ratio}
	}
	return nil
}

// cellsOf are the cells of sum's row after the suite and contender.
func cellsOf(w *workload.Workload, sum *workload.Summary, first bool) []string {
	switch {
	case sum.NA != "":
		return []string{"n/a: " + sum.NA}
	case !sum.OK() && sum.Err != nil:
		return []string{"error: " + oneLine(sum.Err.Error())}
	case !sum.OK():
		return []string{"no figures"}
	}
	ratio := "—"
	if !first {
		ratio = "n/a"
		if sum.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f×", sum.Ratio)
		}
	}
	if sum.Err != nil {
		// Some rounds completed before the error: show them, and the error.
		ratio += " (then error: " + oneLine(sum.Err.Error()) + ")"
	}
	cpu := []string{cpuCell(sum.ClientCPU), cpuCell(sum.ServerCPU)}
	switch w.Kind {
	case workload.KindPairs:
		return append(append([]string{Rate(sum.Rate), Duration(sum.P50), Duration(sum.P99)}, cpu...), ratio)
	case workload.KindHandoff:
		order := Order(sum.Handoffs, sum.Turns, sum.OutOfOrder)
		return append(append([]string{Rate(sum.Rate), Rate(sum.HandoffRate), Duration(sum.P50), Duration(sum.P99)}, cpu...), order, ratio)
	case workload.KindBurst:
		list := "n/a"
		if sum.Listed > 0 {
			list = fmt.Sprintf("%s (%s locks)", Duration(sum.List), count(sum.Listed))
		}
		return append(append([]string{Duration(sum.Elapsed), Rate(sum.Rate), Duration(sum.P50), Duration(sum.P99), list}, cpu...), ratio)
	case workload.KindFailover:
		var each []string
		for _, f := range sum.Rounds {
			each = append(each, Duration(f.Failover))
		}
		return []string{Duration(sum.Failover), strings.Join(each, ", "), ratio}
	}
	return nil
}

// Order says how the grants of the shared lock went: how many of the turns
// went to a client other than the previous holder, and how many grants
// jumped the queue.
func Order(handoffs, turns, outOfOrder int) string {
	moved := fmt.Sprintf("%s of %s to another client", count(handoffs), count(turns))
	if handoffs == turns {
		moved = fmt.Sprintf("all %s to another client", count(turns))
	}
	jumped := count(outOfOrder) + " out of FIFO order"
	if outOfOrder == 0 {
		jumped = "none out of FIFO order"
	}
	return moved + ", " + jumped
}

// oneLine makes s fit in a table cell.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

func cpuCell(seconds float64) string {
	switch {
	case seconds == 0:
		return "0"
	case seconds < 0.01:
		return fmt.Sprintf("%.4f", seconds)
	case seconds < 1:
		return fmt.Sprintf("%.3f", seconds)
	}
	return fmt.Sprintf("%.2f", seconds)
}

// Rate formats a rate with three significant digits or more, and thousands
// separators.
func Rate(x float64) string {
	switch {
	case x >= 1000:
		return count(int(x + 0.5))
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	}
	return fmt.Sprintf("%.2f", x)
}

// Duration formats d with three significant digits.
func Duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// count formats n with thousands separators.
func count(n int) string {
	if n < 0 {
		return "-" + count(-n)
	}
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
