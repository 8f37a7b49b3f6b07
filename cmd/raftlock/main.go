package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
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
}

// commands is the dispatch table. help is not in it: it reads the table,
// and a table entry referring back to the table is an initialization cycle.
var commands = []command{
	{name: "serve", summary: "run one node of a Raft lock store", run: runServe, usage: serveUsage},
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
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(stderr, "raftlock: unknown command %q (see raftlock help)\n", name)
		return exitUsage
	}
	return c.run(ctx, rest, stdout, stderr)
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// runHelp writes the command list, or with an argument that command's help.
// Help that was asked for goes to stdout and succeeds.
func runHelp(args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		mainUsage(stdout)
		return exitOK
	case 1:
		if c := lookup(args[0]); c != nil {
			c.usage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "raftlock help: unknown command %q (see raftlock help)\n", args[0])
	default:
		fmt.Fprintln(stderr, "raftlock help: too many arguments (usage: raftlock help [command])")
	}
	return exitUsage
}

func mainUsage(w io.Writer) {
	fmt.Fprint(w, "raftlock runs the servers of raftlock's replicated lock store.\n\n")
	fmt.Fprint(w, "Usage:\n\n\traftlock <command> [flags]\n\nCommands:\n\n")
	for _, c := range commands {
		fmt.Fprintf(w, "\t%-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\t%-8s %s\n", "help", "show this list, or a command's flags")
	fmt.Fprint(w, "\nRun raftlock help <command> (or raftlock <command> -h) for a command's flags.\n")
}
