package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Exit statuses of serve, of help and of a command line that names no
// command. The client commands have one status per class of failure
// (exitcodes.go).
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // the command line is wrong; nothing was started
)

// A command is one subcommand of raftlock.
type command struct {
	name    string
	summary string // one line, for the command list
	// run runs the command with the arguments after its name and returns
	// the exit status. ctx ends when the process is asked to stop.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) int
	// usage writes the command's help, flags included.
	usage func(w io.Writer)
	// subcommands makes the command a group ("lock"): its first argument
	// names one of them ("lock run"), and run and usage are not used.
	subcommands []command
}

// commands is the dispatch table. help is not in it: it reads the table,
// and a table entry referring back to the table is an initialization cycle.
var commands = []command{
	{name: "serve", summary: "run one node of a Raft lock store", run: runServe, usage: serveUsage},
	{name: "lock", summary: "take, hold and give back locks", subcommands: lockCommands()},
	infoCmd.command(),
	listCmd.command(),
	statusCmd.command(),
	healthCmd.command(),
	leaderCmd.command(),
	membersCmd.command(),
	joinCmd.command(),
	leaveCmd.command(),
}

func main() {
	// The first SIGINT or SIGTERM ends ctx and the command stops gracefully.
	// Later ones are ignored rather than fatal: a node interrupted while it
	// hands over its leadership would cost the cluster an election, and a
	// Ctrl-C reaches both a script and the nodes it started.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args (without the program name) and returns the
// process's exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "raftlock: missing command (see raftlock help)")
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return runHelp(rest, stdout, stderr)
	}
	c := lookup(commands, name)
	if c == nil {
		fmt.Fprintf(stderr, "raftlock: unknown command %q (see raftlock help)\n", name)
		return exitUsage
	}
	if c.subcommands != nil {
		return runGroup(ctx, c, rest, stdout, stderr)
	}
	return c.run(ctx, rest, stdout, stderr)
}

// runGroup runs the subcommand of group that args name.
func runGroup(ctx context.Context, group *command, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "raftlock %s: missing subcommand (see raftlock help %s)\n", group.name, group.name)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		groupUsage(stdout, group)
		return exitOK
	}
	c := lookup(group.subcommands, args[0])
	if c == nil {
		fmt.Fprintf(stderr, "raftlock %s: unknown subcommand %q (see raftlock help %s)\n", group.name, args[0], group.name)
		return exitUsage
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func lookup(table []command, name string) *command {
	for i := range table {
		if table[i].name == name {
			return &table[i]
		}
	}
	return nil
}

// runHelp writes the command list, or with arguments that command's help
// ("help serve", "help lock run"). Help that was asked for goes to stdout
// and succeeds.
func runHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		mainUsage(stdout)
		return exitOK
	}
	table, path := commands, ""
	for i, name := range args {
		c := lookup(table, name)
		if c == nil {
			fmt.Fprintf(stderr, "raftlock help: unknown command %q (see raftlock help)\n", strings.TrimSpace(path+" "+name))
			return exitUsage
		}
		path = strings.TrimSpace(path + " " + name)
		switch {
		case i == len(args)-1 && c.subcommands != nil:
			groupUsage(stdout, c)
			return exitOK
		case i == len(args)-1:
			c.usage(stdout)
			return exitOK
		case c.subcommands == nil:
			fmt.Fprintln(stderr, "raftlock help: too many arguments (usage: raftlock help [command])")
			return exitUsage
		}
		table = c.subcommands
	}
	return exitUsage // not reached: the loop returns at the last argument
}

// commandWidth aligns the summaries of the command lists.
const commandWidth = 13

func mainUsage(w io.Writer) {
	fmt.Fprint(w, "raftlock runs the nodes of raftlock's Raft lock store, and takes, holds,\n")
	fmt.Fprint(w, "inspects and gives back locks in any store raftlock supports.\n\n")
	fmt.Fprint(w, "Usage:\n\n\traftlock <command> [flags]\n\nCommands:\n\n")
	for _, c := range commands {
		if c.subcommands == nil {
			fmt.Fprintf(w, "\t%-*s %s\n", commandWidth, c.name, c.summary)
			continue
		}
		for _, s := range c.subcommands {
			fmt.Fprintf(w, "\t%-*s %s\n", commandWidth, c.name+" "+s.name, s.summary)
		}
	}
	fmt.Fprintf(w, "\t%-*s %s\n", commandWidth, "help", "show this list, or a command's flags")
	fmt.Fprint(w, "\nRun raftlock help <command> (or raftlock <command> -h) for a command's flags.\n")
	fmt.Fprint(w, "Every command but serve opens the lock store named by --store or\n")
	fmt.Fprint(w, "$RAFTLOCK_STORE: mem://, raft://host:port,..., raft+embed:///dir,\n")
	fmt.Fprint(w, "etcd://host:port,... or redis://host:port/db.\n\n")
	fmt.Fprint(w, exitStatusHelp)
}

// groupUsage lists the subcommands of a group.
func groupUsage(w io.Writer, group *command) {
	fmt.Fprintf(w, "Usage: raftlock %s <subcommand> [flags]\n\nSubcommands:\n\n", group.name)
	for _, s := range group.subcommands {
		fmt.Fprintf(w, "\t%-*s %s\n", commandWidth, s.name, s.summary)
	}
	fmt.Fprintf(w, "\nRun raftlock help %s <subcommand> (or raftlock %s <subcommand> -h) for its flags.\n", group.name, group.name)
}
