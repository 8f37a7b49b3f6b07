package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/backend"

	// The client commands open any store by its URL: link every driver.
	_ "github.com/raftlock/raftlock/etcdbackend"
	_ "github.com/raftlock/raftlock/memory"
	_ "github.com/raftlock/raftlock/raftbackend"
	_ "github.com/raftlock/raftlock/redisbackend"
)

// defaultTimeout bounds a client command's work with the store, retries
// included: long enough to ride out a leader election, short enough that a
// script learns of a dead store.
const defaultTimeout = 30 * time.Second

// clientCommand is a command that works with a lock store: it opens the
// store --store names, does one thing and reports it.
type clientCommand struct {
	name     string // as typed after "raftlock": "info", "lock acquire"
	summary  string // one line, for the command lists
	synopsis string // the usage line after the name: "[flags] LOCK"
	about    string // what the command does, for its help
	nargs    [2]int // the least and the most positional arguments
	output   bool   // it prints data: as text, or as JSON with --json
	// takesCommand says that the arguments after "--" are a command line
	// to run (lock run); the flags come before it.
	takesCommand bool
	// setup defines the command's own flags on fs and returns the action
	// that runs the command once they are parsed.
	setup func(fs *flag.FlagSet) action
}

// An action runs a client command. It returns nil on success; an error's
// class is the exit status (exitStatus), and its text is reported in one
// line.
type action func(ctx context.Context, inv *invocation) error

// invocation is one run of a client command: the common flags, the
// arguments and the store.
type invocation struct {
	name    string
	store   string
	timeout time.Duration
	json    bool
	args    []string // positional arguments, or the command line of lock run
	stdout  io.Writer
	stderr  io.Writer
	client  *raftlock.Client
}

// exited is lock run's command's exit status, which lock run passes on as
// its own.
type exited int

func (e exited) Error() string { return fmt.Sprintf("the command exited with status %d", int(e)) }

// command is the command's entry in a command table: its last word names it.
func (cc *clientCommand) command() command {
	name := cc.name[strings.LastIndexByte(cc.name, ' ')+1:]
	return command{name: name, summary: cc.summary, run: cc.run, usage: cc.usage}
}

// flagSet returns the command's flags, the common ones included, and the
// action that reads them.
func (cc *clientCommand) flagSet(inv *invocation) (*flag.FlagSet, action) {
	fs := flag.NewFlagSet("raftlock "+cc.name, flag.ContinueOnError)
	// As for serve: errors are reported in one line, help only on request.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&inv.store, "store", "", "`URL` of the lock store: mem://, raft://host:port,..., raft+embed:///dir, etcd://host:port,..., redis://host:port/db (required)")
	fs.DurationVar(&inv.timeout, "timeout", defaultTimeout, "give up on the store after this `duration`, retries included (waiting for a lock is bounded by --wait-timeout instead)")
	if cc.output {
		fs.BoolVar(&inv.json, "json", false, "print JSON instead of text")
	}
	return fs, cc.setup(fs)
}

// run parses the command line (the environment first, then the flags,
// which override it), checks it, runs the action and reports its outcome.
func (cc *clientCommand) run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	inv := &invocation{name: cc.name, stdout: stdout, stderr: stderr}
	fs, act := cc.flagSet(inv)
	err := inv.parse(cc, fs, args)
	if errors.Is(err, flag.ErrHelp) {
		cc.usage(stdout)
		return exitOK
	}
	if err != nil {
		return report(stderr, cc.name, err)
	}
	defer func() {
		if inv.client != nil {
			inv.client.Close()
		}
	}()
	err = act(ctx, inv)
	var ex exited
	if errors.As(err, &ex) {
		return int(ex)
	}
	if err != nil {
		return report(stderr, cc.name, err)
	}
	return exitOK
}

// parse reads the environment and args into fs and inv.
func (inv *invocation) parse(cc *clientCommand, fs *flag.FlagSet, args []string) error {
	var cmdline []string
	dashes := false
	if cc.takesCommand {
		if i := slices.Index(args, "--"); i >= 0 {
			args, cmdline, dashes = args[:i], args[i+1:], true
		}
	}
	if err := applyEnv(fs, os.LookupEnv); err != nil {
		return &usageError{err.Error()}
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return &usageError{err.Error()}
	}
	switch {
	case cc.takesCommand && len(pos) > 0:
		return usagef("unexpected argument %q before -- (the command to run comes after --)", pos[0])
	case cc.takesCommand && !dashes:
		return usagef("missing -- and the command to run")
	case cc.takesCommand && len(cmdline) == 0:
		return usagef("missing the command to run after --")
	case cc.takesCommand:
		pos = cmdline
	case len(pos) < cc.nargs[0]:
		return usagef("missing argument (usage: raftlock %s %s)", cc.name, cc.synopsis)
	case len(pos) > cc.nargs[1]:
		return usagef("unexpected argument %q", pos[cc.nargs[1]])
	}
	inv.args = pos
	if inv.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	return checkStoreURL(inv.store)
}

// parseInterspersed parses fs's flags wherever they stand among the
// positional arguments ("info LOCK --json"), which the flag package alone
// stops at, and returns the positional arguments. Everything after "--" is
// positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// checkStoreURL rejects a store URL no linked driver can open before
// anything is sent: an unknown scheme is a typo, not a missing feature.
func checkStoreURL(s string) error {
	if s == "" {
		return usagef("--store is required (or set %s)", envName("store"))
	}
	u, err := url.Parse(s)
	if err != nil {
		return usagef("--store: %v", err)
	}
	schemes := backend.Schemes()
	if u.Scheme == "" {
		return usagef("--store %q has no scheme (want one of %s)", s, strings.Join(schemes, ", "))
	}
	if !slices.Contains(schemes, strings.ToLower(u.Scheme)) {
		return usagef("unknown store scheme %q in --store (want one of %s)", u.Scheme, strings.Join(schemes, ", "))
	}
	return nil
}

// open opens the store within --timeout. The command's runner closes it.
func (inv *invocation) open(ctx context.Context) (*raftlock.Client, error) {
	cfg := raftlock.DefaultConfig()
	cfg.URL = inv.store
	cfg.DialTimeout = inv.timeout
	cfg.EnableMetrics = false
	cfg.RetryPolicy = cliRetryPolicy()
	ctx, cancel := context.WithTimeout(ctx, inv.timeout)
	defer cancel()
	c, err := raftlock.OpenConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	inv.client = c
	return c, nil
}

// cliRetryPolicy retries transient failures (no leader yet, a node down)
// until --timeout runs out rather than a fixed few times: a person or a
// script waiting for one answer prefers it late to a failure during an
// election.
func cliRetryPolicy() raftlock.RetryPolicy {
	p := raftlock.DefaultRetryPolicy()
	p.MaxRetries = 1000
	p.InitialBackoff = 100 * time.Millisecond
	p.MaxBackoff = time.Second
	return p
}

// connect bounds ctx by --timeout and opens the store under it: what most
// commands do first. The caller defers cancel once err is nil.
func (inv *invocation) connect(ctx context.Context) (context.Context, *raftlock.Client, context.CancelFunc, error) {
	ctx, cancel := inv.bounded(ctx)
	c, err := inv.open(ctx)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return ctx, c, cancel, nil
}

// bounded is ctx bounded by --timeout.
func (inv *invocation) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, inv.timeout)
}

// retryDriver calls op, a call made on the driver itself (which the
// client's retries do not cover), until it succeeds, fails for good or ctx
// ends. Only the failures that mean the store did not act are retried
// (no leader, not the leader, rate limited), so that an operation that is
// not idempotent is never applied twice.
func retryDriver[T any](ctx context.Context, op func(context.Context) (T, error)) (T, error) {
	p := cliRetryPolicy()
	for n := 0; ; n++ {
		v, err := op(ctx)
		switch backend.CodeOf(err) {
		case backend.CodeLeaderUnavailable, backend.CodeNotLeader, backend.CodeRateLimit:
		default:
			return v, err
		}
		t := time.NewTimer(p.Backoff(min(n, 10)))
		select {
		case <-ctx.Done():
			t.Stop()
			return v, err
		case <-t.C:
		}
	}
}

// usage writes the command's help.
func (cc *clientCommand) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: raftlock %s %s\n\n%s\n", cc.name, cc.synopsis, strings.TrimSpace(cc.about))
	fmt.Fprint(w, `
Every flag can also be set by an environment variable: RAFTLOCK_ and the
flag's name in upper case with - turned into _, shown in brackets below. A
flag on the command line wins over its variable; empty variables are
ignored.

Flags:
`)
	fs, _ := cc.flagSet(new(invocation))
	printFlags(w, fs)
	if !cc.takesCommand {
		fmt.Fprint(w, "\nExit status: 0 on success; each class of failure has its own (see raftlock help).\n")
	}
}

// commandLineOnly is a boolean flag that only the command line sets, never
// an environment variable: a switch that overrides a safety check must be
// typed each time, not left set in an environment.
type commandLineOnly bool

func (b *commandLineOnly) String() string   { return fmt.Sprint(bool(*b)) }
func (b *commandLineOnly) IsBoolFlag() bool { return true }
func (b *commandLineOnly) commandLineOnly() {}

func (b *commandLineOnly) Set(s string) error {
	v, err := strconv.ParseBool(s)
	*b = commandLineOnly(v)
	return err
}

// fromEnvironment reports whether an environment variable may set f.
func fromEnvironment(f *flag.Flag) bool {
	_, only := f.Value.(interface{ commandLineOnly() })
	return !only
}
