package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/raftbackend"
)

// envPrefix starts the name of the environment variable of every flag.
const envPrefix = "RAFTLOCK_"

// defaultJoinTimeout bounds how long serve tries to join a cluster before it
// gives up: long enough for the members to come up after a common restart,
// short enough that a wrong address fails where someone will see it.
const defaultJoinTimeout = time.Minute

// serveOptions is what the serve command line says.
type serveOptions struct {
	cfg         raftbackend.Config
	joinTimeout time.Duration
	logFormat   logFormat
	logLevel    logLevel
	observe     observeOptions  // metrics and profiling (observe.go)
	security    securityOptions // TLS, client identities, rate limits (security.go)
}

// serveFlags defines serve's flags, writing into o.
func serveFlags(o *serveOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("raftlock serve", flag.ContinueOnError)
	// The caller reports a bad flag in one line and prints help only when
	// it is asked for; the flag package would print both, every time.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}

	c := &o.cfg
	fs.StringVar(&c.NodeID, "node-id", "", "the node's Raft server `ID`: unique in its cluster, kept across restarts (required)")
	fs.StringVar(&c.DataDir, "data-dir", "", "`directory` of the node's log, stable store and snapshots; created if missing (required)")
	fs.StringVar(&c.RaftAddr, "raft-addr", "127.0.0.1:7000", "`host:port` the Raft transport listens on")
	fs.StringVar(&c.APIAddr, "api-addr", "127.0.0.1:7100", "`host:port` the gRPC client API listens on")
	fs.StringVar(&c.AdvertiseRaftAddr, "advertise-raft", "", "`host:port` peers dial for Raft, when not --raft-addr (NAT, 0.0.0.0)")
	fs.StringVar(&c.AdvertiseAPIAddr, "advertise-api", "", "`host:port` published to clients and peers, when not --api-addr")
	fs.BoolVar(&c.Bootstrap, "bootstrap", false, "make this node, if it has no state yet, the first member of a new cluster")
	fs.Func("join", "client API `addresses` of members to join, comma-separated; at every start the node asks them to add it", func(s string) error {
		c.Join = splitList(s)
		return nil
	})
	fs.Var(&peerAddrsValue{m: &c.RaftPeerAddrs}, "raft-peer-addr", "dial the Raft peer with server ID id at host:port, given as `id=host:port`, instead of "+
		"the address in the cluster configuration (a proxy, a tunnel, a NAT hairpin); comma-separate entries or repeat the flag")
	fs.DurationVar(&o.joinTimeout, "join-timeout", defaultJoinTimeout, "give up joining after this `duration`")
	fs.Uint64Var(&c.SnapshotThreshold, "snapshot-threshold", 0, "log `entries` since the last snapshot that trigger a new one (default 8192)")
	fs.DurationVar(&c.SnapshotInterval, "snapshot-interval", 0, "how often the snapshot threshold is checked (default 2m0s)")
	fs.Uint64Var(&c.TrailingLogs, "trailing-logs", 0, "log `entries` kept after a snapshot, for slow followers (default 10240)")
	fs.DurationVar(&c.HeartbeatTimeout, "heartbeat-timeout", 0, "time without contact from the leader before a follower calls an election (default 500ms)")
	fs.DurationVar(&c.ElectionTimeout, "election-timeout", 0, "time a candidate waits for votes before it tries again (default 500ms)")
	o.logFormat = "text"
	fs.Var(&o.logFormat, "log-format", "log `format` on standard error: text or json")
	fs.Var(&o.logLevel, "log-level", "least `level` logged: debug, info, warn or error")
	fs.String(configFlag, "", "read settings from this `file` of name = value lines; the environment and the flags win over it")
	limitFlags(fs, &o.cfg)
	observeFlags(fs, &o.observe)
	securityFlags(fs, &o.security)
	return fs
}

// parseServe reads serve's command line: the config file first, then the
// environment, then the flags, each overriding the one before. lookupEnv
// is os.LookupEnv outside tests.
func parseServe(args []string, lookupEnv func(string) (string, bool)) (*serveOptions, error) {
	o := new(serveOptions)
	fs := serveFlags(o)
	if err := applyConfig(fs, args, lookupEnv); err != nil {
		return nil, err
	}
	newSource(fs)
	if err := applyEnv(fs, lookupEnv); err != nil {
		return nil, err
	}
	newSource(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return o, o.check()
}

// check catches what the flags cannot, so that a wrong command line exits 2
// before anything starts rather than 1 from inside the node.
func (o *serveOptions) check() error {
	c := &o.cfg
	switch {
	case c.NodeID == "":
		return errors.New("--node-id is required")
	case c.DataDir == "":
		return errors.New("--data-dir is required")
	case c.RaftAddr == "":
		return errors.New("--raft-addr must not be empty")
	case c.APIAddr == "":
		// Without a client API the node could neither be joined nor redirect
		// clients to the leader: useless as a server.
		return errors.New("--api-addr must not be empty")
	case c.Bootstrap && len(c.Join) > 0:
		return errors.New("--bootstrap and --join exclude each other")
	case o.joinTimeout <= 0:
		return errors.New("--join-timeout must be positive")
	}
	if e := backend.ValidateID("node ID", c.NodeID); e != nil {
		return fmt.Errorf("--node-id: %s", e.Message)
	}
	if err := o.observe.check(); err != nil {
		return err
	}
	if err := o.security.check(); err != nil {
		return err
	}
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{
		{"snapshot-interval", c.SnapshotInterval},
		{"heartbeat-timeout", c.HeartbeatTimeout},
		{"election-timeout", c.ElectionTimeout},
	} {
		if d.value < 0 {
			return fmt.Errorf("--%s must not be negative", d.flag)
		}
	}
	return nil
}

// applyEnv sets every flag whose environment variable is set and not empty.
// Empty counts as unset because orchestrators often pass every variable of a
// template, filled in or not. Flags that only the command line may set
// (commandLineOnly) have no variable.
func applyEnv(fs *flag.FlagSet, lookupEnv func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		v, ok := lookupEnv(name)
		if err != nil || !ok || v == "" || !fromEnvironment(f) {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("invalid value %q for %s: %v", v, name, e)
		}
	})
	return err
}

// envName is the environment variable of a flag: node-id -> RAFTLOCK_NODE_ID.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseServe(args, os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		serveUsage(stdout)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "raftlock serve: %v (see raftlock serve -h)\n", err)
		return exitUsage
	}
	logger := newLogger(stderr, o.logFormat, o.logLevel.Level)
	o.cfg.Logger = logger
	return serve(ctx, o, logger)
}

// serve runs a node until ctx ends, then closes it.
func serve(ctx context.Context, o *serveOptions, logger *slog.Logger) int {
	if err := o.security.configure(&o.cfg, logger); err != nil {
		logger.Error("could not set up security", "error", err)
		return exitError
	}
	obs, err := o.observe.configure(&o.cfg, logger)
	if err != nil {
		logger.Error("could not set up observability", "error", err)
		return exitError
	}
	defer obs.close()
	// StartNode returns once the node is a member; only a join can take
	// long, and it must neither hang forever on a wrong address nor outlive
	// a signal.
	startCtx, cancel := context.WithTimeout(ctx, o.joinTimeout)
	node, err := raftbackend.StartNode(startCtx, o.cfg)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			// Stopped on purpose while joining: nothing failed.
			logger.Info("stopped before the node started", "cause", context.Cause(ctx))
			return exitOK
		}
		logger.Error("could not start the raft node", "error", err)
		return exitError
	}
	obs.attach(node)
	// Scripts and tests wait for this line: keep its message and attributes.
	logger.Info("raft node serving",
		"node", node.ID(), "raft", node.RaftAddress(), "api", node.APIAddress(), "data", o.cfg.DataDir)

	select {
	case <-ctx.Done():
	case <-node.Done():
		// Raft stopped by itself (the node was removed from its
		// cluster): a node that cannot serve should not look alive.
		logger.Error("the raft node stopped serving")
		node.Close()
		return exitError
	}
	logger.Info("shutting down", "cause", context.Cause(ctx))
	if err := node.Close(); err != nil {
		logger.Error("the raft node did not stop cleanly", "error", err)
		return exitError
	}
	return exitOK
}

// newLogger logs to w at level and above, in format.
func newLogger(w io.Writer, format logFormat, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serveUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: raftlock serve [flags]

Runs one node of a raftlock Raft store until SIGINT or SIGTERM, which stop
it gracefully (a leader hands its leadership to a peer first).

Start the first node of a new cluster with --bootstrap and the others with
--join naming members' client API addresses. A node restarted with the same
--node-id and --data-dir resumes its state; --bootstrap is then ignored.
Clients connect to raft://<api-addr>,<api-addr>,...

Once up, the node logs "raft node serving" with attributes node, raft and api
(the addresses it listens on).

Every flag can also be set by an environment variable: RAFTLOCK_ and the
flag's name in upper case with - turned into _, so RAFTLOCK_NODE_ID sets
--node-id. A flag on the command line wins over its variable; empty
variables are ignored.

Settings can also come from a file named by --config (or RAFTLOCK_CONFIG):
one "name = value" per line, name being a flag's name without dashes, the
value optionally in double quotes; blank lines and lines starting with #
are ignored, and an unknown name is an error. So a setting comes from the
command line if given there, else from its variable, else from the file,
else it is the default:

	# node 1
	node-id  = n1
	data-dir = /var/lib/raftlock/n1
	join     = 10.0.0.2:7100,10.0.0.3:7100

Flags:
`)
	printFlags(w, serveFlags(new(serveOptions)))
}

// printFlags lists fs's flags with their "--" spelling, which the flag
// package accepts as well as "-", and their environment variables.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		head := "  --" + f.Name
		if typ != "" {
			head += " " + typ
		}
		fmt.Fprintf(w, "%s\n    \t%s", head, usage)
		switch f.DefValue {
		case "", "0", "0s", "false":
			// Zero: the usage says what it means.
		default:
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		if !fromEnvironment(f) {
			fmt.Fprintln(w)
			return
		}
		fmt.Fprintf(w, "\n    \t[$%s]\n", envName(f.Name))
	})
}

// logFormat is the value of --log-format.
type logFormat string

func (f *logFormat) String() string { return string(*f) }

func (f *logFormat) Set(s string) error {
	switch s {
	case "text", "json":
		*f = logFormat(s)
		return nil
	}
	return errors.New("want text or json")
}

// logLevel is the value of --log-level. Its zero value is info.
type logLevel struct{ slog.Level }

// String is lower case, as the flag is written.
func (l *logLevel) String() string { return strings.ToLower(l.Level.String()) }

// Set takes slog's names (debug, info, warn, error), any case.
func (l *logLevel) Set(s string) error { return l.UnmarshalText([]byte(s)) }
