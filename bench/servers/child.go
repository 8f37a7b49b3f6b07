package servers

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"
)

// childEnv names the environment variable that makes this program a server
// child: its value is the childSpec, in JSON.
const childEnv = "RAFTLOCK_BENCH_SERVER"

// childSpec is what a child serves: exactly one of the fields is set.
type childSpec struct {
	Etcd     *etcdSpec     `json:"etcd,omitempty"`
	Raftlock *raftlockSpec `json:"raftlock,omitempty"`
	RawRaft  *rawRaftSpec  `json:"rawraft,omitempty"`
	// Profile, when set, is where the child writes its CPU profile when
	// it stops: this path, then -<pid>.cpu.prof (see ProfileDir).
	Profile string `json:"profile,omitempty"`
}

// ProfileDir, when set before servers start, makes every server process
// profile its CPU and write the profile into this directory when it is
// stopped, as <name>-<pid>.cpu.prof: what the servers spend, where the
// benchmark's own -cpuprofile shows its clients. A stop then asks the
// process to end (SIGTERM) and waits for it, rather than killing it; a
// server killed on purpose (the failover workload) writes none.
var ProfileDir string

// Child runs the server this process was started to be, when it was started
// by this package as a server child, and then exits; otherwise it returns at
// once. Call it first thing in main, before parsing flags, and in the
// TestMain of a test binary that starts servers: the children are this same
// executable started again.
func Child() {
	v, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	code := 0
	defer func() { os.Exit(code) }() // after the deferred clean-up below
	var spec childSpec
	if err := json.Unmarshal([]byte(v), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "server child: bad %s: %v\n", childEnv, err)
		code = 2
		return
	}
	// A child ends when its parent stops it (SIGKILL, and the parent
	// removes its data directory), or when the parent is gone: the kernel
	// sends SIGTERM then, or the child sees it. In that case nobody else
	// will remove the data directory.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// With the parent gone, so is the reader of standard output and
	// error; a write there must fail, not kill the child before it cleans
	// up, as SIGPIPE would.
	signal.Ignore(syscall.SIGPIPE)
	ctx, cancel := context.WithCancel(ctx)
	go watchParent(cancel)
	defer func() {
		if ctx.Err() != nil {
			os.RemoveAll(spec.dir())
		}
	}()

	if spec.Profile != "" {
		stopProfile, err := startProfile(fmt.Sprintf("%s-%d.cpu.prof", spec.Profile, os.Getpid()))
		if err != nil {
			fmt.Fprintf(os.Stderr, "server child: %v\n", err)
			code = 1
			return
		}
		defer stopProfile()
	}
	var err error
	switch {
	case spec.Etcd != nil:
		err = serveEtcd(ctx, spec.Etcd)
	case spec.Raftlock != nil:
		err = serveRaftlock(ctx, spec.Raftlock)
	case spec.RawRaft != nil:
		err = serveRawRaft(ctx, spec.RawRaft)
	default:
		err = fmt.Errorf("%s names no server", childEnv)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "server child: %v\n", err)
		code = 1
	}
}

// dir is the data directory of the server spec describes.
func (spec *childSpec) dir() string {
	switch {
	case spec.Etcd != nil:
		return spec.Etcd.Dir
	case spec.Raftlock != nil:
		return spec.Raftlock.Dir
	case spec.RawRaft != nil:
		return spec.RawRaft.Dir
	}
	return ""
}

// watchParent calls gone when this process's parent has exited. The kernel
// is asked to kill a child whose parent dies (Pdeathsig), but it does so
// when the thread that started the child ends, which in a Go program need
// not be when the program does; looking for a new parent is the backstop.
func watchParent(gone func()) {
	parent := os.Getppid()
	for {
		time.Sleep(250 * time.Millisecond)
		if os.Getppid() != parent {
			gone()
			return
		}
	}
}

// announce tells the parent that the child serves, with what it needs to
// know (addresses), as one line of JSON on standard output.
func announce(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(os.Stdout, "%s\n", b)
	return err
}

// startProfile starts profiling the CPU into file, and returns what stops
// it and writes the file.
func startProfile(file string) (func(), error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
