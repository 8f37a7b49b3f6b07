package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/raftlock/raftlock/bench/servers"
)

func main() {
	// This program is also every server it starts: a server child runs
	// here and never returns.
	servers.Child()

	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "bench: interrupted; stopping the servers")
		cancel()
		// The runs stop at once when asked; a second signal, or a run that
		// does not stop, ends the program without waiting for them.
		select {
		case <-sigs:
		case <-time.After(15 * time.Second):
		}
		servers.StopAll()
		os.Exit(130)
	}()

	_, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if serr := servers.StopAll(); serr != nil {
		err = errors.Join(err, fmt.Errorf("stopping the servers: %w", serr))
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case ctx.Err() != nil:
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the command line's settings.
type options struct {
	rounds     int
	duration   time.Duration
	ops        int
	clients    int
	burst      int
	only       string
	out        string
	quick      bool
	cpuprofile string
	memprofile string

	args []string // the command line as given, for the report
}

// The -quick settings, for the flags not given: enough to see every part
// work, not to measure.
const (
	quickRounds   = 1
	quickDuration = 300 * time.Millisecond
	quickBurst    = 200
)

// parse reads the command line.
func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{args: args}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved `rounds` of each workload; the report gives medians")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "how long each contender runs a workload in a round")
	fs.IntVar(&o.ops, "ops", 0, "operations per contender and round instead of -duration (0: use -duration)")
	fs.IntVar(&o.clients, "clients", 16, "clients of the workloads for many clients")
	fs.IntVar(&o.burst, "burst", 1000, "locks taken in the burst workload")
	fs.StringVar(&o.only, "only", "", "comma-separated `suites` to run, or suite/workload (raft3, raft1, etcd, redis, failover; pairs1, pairsN, handoff, burst, failover)")
	fs.StringVar(&o.out, "out", "results", "`directory` for latest.md and latest.svg")
	fs.BoolVar(&o.quick, "quick", false, fmt.Sprintf("smoke run: %d round of %v, bursts of %d, unless those flags are given", quickRounds, quickDuration, quickBurst))
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write this program's CPU profile to `file`")
	fs.StringVar(&o.memprofile, "memprofile", "", "write this program's heap profile to `file` at the end")
	fs.StringVar(&servers.ProfileDir, "server-cpuprofile", "", "have every server process write its CPU profile into `directory` when it stops, as <name>-<pid>.cpu.prof")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["rounds"] {
			o.rounds = quickRounds
		}
		if !set["duration"] {
			o.duration = quickDuration
		}
		if !set["burst"] {
			o.burst = quickBurst
		}
	}
	switch {
	case o.rounds < 1:
		return nil, errors.New("-rounds must be at least 1")
	case o.ops < 0:
		return nil, errors.New("-ops must not be negative")
	case o.ops == 0 && o.duration <= 0:
		return nil, errors.New("-duration must be positive")
	case o.clients < 2:
		return nil, errors.New("-clients must be at least 2")
	case o.burst < 1:
		return nil, errors.New("-burst must be at least 1")
	}
	return o, nil
}

// command is how to run the program again with the same settings.
func (o *options) command() string {
	parts := []string{"cd bench && go run ./bench"}
	for _, a := range o.args {
		if a == "" || strings.ContainsAny(a, " \t'\"$`\\*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// profile starts the profiles the options ask for and returns what stops
// them, which may be called more than once.
func (o *options) profile() (func() error, error) {
	stop, err := o.startProfiles()
	if err != nil {
		return nil, err
	}
	return sync.OnceValue(stop), nil
}

func (o *options) startProfiles() (stop func() error, err error) {
	stop = func() error { return nil }
	if servers.ProfileDir != "" {
		if err := os.MkdirAll(servers.ProfileDir, 0o755); err != nil {
			return nil, err
		}
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		stop = func() error {
			pprof.StopCPUProfile()
			return f.Close()
		}
	}
	if o.memprofile == "" {
		return stop, nil
	}
	stopCPU := stop
	return func() error {
		err := stopCPU()
		f, ferr := os.Create(o.memprofile)
		if ferr != nil {
			return errors.Join(err, ferr)
		}
		runtime.GC() // the heap as the run left it, not its garbage
		err = errors.Join(err, pprof.Lookup("heap").WriteTo(f, 0))
		return errors.Join(err, f.Close())
	}, nil
}
