package report

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/raftlock/raftlock/bench/workload"
)

// Report is one run of the benchmark.
type Report struct {
	Date    time.Time
	Machine Machine
	// Command is how the run was started, to be run again.
	Command string
	// Settings say how much each run did: rounds, duration, clients.
	Settings string
	// Versions name the servers and libraries compared.
	Versions []string
	Suites   []Suite
}

// Suite is one group of contenders on their servers, and what they did.
type Suite struct {
	Name  string // short, as -only takes it
	Title string
	// Setup says what runs where, for the report.
	Setup   string
	Results []workload.Result
}

// Machine describes the computer the run was on.
type Machine struct {
	CPUs      int
	Model     string // the CPU's model name, "" when unknown
	OS, Arch  string
	GoVersion string
}

// ThisMachine describes this computer.
func ThisMachine() Machine {
	return Machine{
		CPUs:      runtime.NumCPU(),
		Model:     cpuModel(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
		GoVersion: runtime.Version(),
	}
}

// cpuModel reads the first model name in /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Versions lists the versions of the modules named (by module path) that
// this program was built with, and of redis-server when redisServer is
// true and there is one on PATH.
func Versions(modules []string, redisServer bool) []string {
	var out []string
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range modules {
			for _, d := range info.Deps {
				if d.Path == m {
					out = append(out, d.Path+" "+d.Version)
				}
			}
		}
	}
	if redisServer {
		if b, err := exec.Command("redis-server", "--version").Output(); err == nil {
			// "Redis server v=7.0.15 sha=... malloc=... bits=64 build=..."
			for _, f := range strings.Fields(string(b)) {
				if v, ok := strings.CutPrefix(f, "v="); ok {
					out = append(out, "redis-server "+v)
				}
			}
		}
	}
	return out
}

// The files Write writes in its directory.
const (
	MarkdownFile = "latest.md"
	SVGFile      = "latest.svg"
)

// Write writes r's Markdown and chart into dir, which it creates if need
// be.
func Write(dir string, r *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	md, err := os.Create(filepath.Join(dir, MarkdownFile))
	if err != nil {
		return err
	}
	err = r.Markdown(md)
	err = errors.Join(err, md.Close())
	svg, serr := os.Create(filepath.Join(dir, SVGFile))
	if serr != nil {
		return errors.Join(err, serr)
	}
	err = errors.Join(err, r.SVG(svg))
	return errors.Join(err, svg.Close())
}
