package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftlock/raftlock"
)

// steps are the lines run prints, in order, as patterns; the groups
// capture fencing tokens.
var steps = []*regexp.Regexp{
	regexp.MustCompile(`^store: \S+$`),
	regexp.MustCompile(`^capabilities: .+; (any TTL|TTL .+)$`),
	regexp.MustCompile(`^A acquired swap/demo with token (\d+)$`),
	regexp.MustCompile(`^B was refused: swap/demo is held by A$`),
	regexp.MustCompile(`^B is waiting for swap/demo$`),
	regexp.MustCompile(`^A renewed swap/demo, token still (\d+)$`),
	regexp.MustCompile(`^A released swap/demo(, handed straight to B)?$`),
	regexp.MustCompile(`^B acquired swap/demo with token (\d+)$`),
	regexp.MustCompile(`^B released swap/demo$`),
}

// checkOutput fails the test unless out is the scenario's steps in order,
// with A's token kept by the renewal and B's token greater than A's.
func checkOutput(t *testing.T, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != len(steps) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(steps), out)
	}
	token := func(i int) int64 {
		m := steps[i].FindStringSubmatch(lines[i])
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n <= 0 {
			t.Fatalf("line %q: token %q is not a positive integer", lines[i], m[1])
		}
		return n
	}
	for i, re := range steps {
		if !re.MatchString(lines[i]) {
			t.Fatalf("line %d is %q, want it to match %s\nfull output:\n%s", i+1, lines[i], re, out)
		}
	}
	a, renewed, b := token(2), token(5), token(7)
	if renewed != a {
		t.Errorf("A's renewal changed the token from %d to %d", a, renewed)
	}
	if b <= a {
		t.Errorf("B's token %d is not greater than A's %d", b, a)
	}
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"memory", func(*testing.T) string { return "mem://swap-test" }},
		{"raft-embed", func(t *testing.T) string { return "raft+embed://" + filepath.ToSlash(t.TempDir()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var out bytes.Buffer
			if err := run(ctx, tc.url(t), &out); err != nil {
				t.Fatalf("run: %v\noutput so far:\n%s", err, out.String())
			}
			checkOutput(t, out.String())
		})
	}
}

// TestRunTwice checks that a second run on the same store starts from the
// state the first left: the lock is free again and the tokens keep growing.
func TestRunTwice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store := "raft+embed://" + filepath.ToSlash(t.TempDir())
	var last int64
	for i := range 2 {
		var out bytes.Buffer
		if err := run(ctx, store, &out); err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out.String())
		}
		checkOutput(t, out.String())
		m := steps[2].FindStringSubmatch(strings.Split(out.String(), "\n")[2])
		first, _ := strconv.ParseInt(m[1], 10, 64)
		if first <= last {
			t.Fatalf("run %d started at token %d, not above the previous run's %d", i+1, first, last)
		}
		last = first
	}
}

func TestRunFails(t *testing.T) {
	for _, tc := range []struct {
		name, url, want string
	}{
		// Each mem:// client gets a store of its own, so B is granted the
		// lock A holds: the run must say so rather than print a wrong story.
		{"private stores", "mem://", "same store"},
		{"unknown scheme", "nosuch://host", "nosuch"},
		{"not a URL", "::", "open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tc.url, &out)
			if err == nil {
				t.Fatalf("run(%q) succeeded:\n%s", tc.url, out.String())
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Fatalf("run(%q) = %q, want one line mentioning %q", tc.url, msg, tc.want)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	got := describe(raftlock.Capabilities{ServerSideWait: true, MinTTL: time.Second, MaxTTL: time.Hour, TTLGranularity: time.Second})
	if want := "server-side wait; TTL 1s to 1h0m0s in steps of 1s"; got != want {
		t.Fatalf("describe = %q, want %q", got, want)
	}
	got = describe(raftlock.Capabilities{})
	if want := "none of FIFO, priorities, server-side wait, metadata, replication; any TTL"; got != want {
		t.Fatalf("describe of no capabilities = %q, want %q", got, want)
	}
}
