package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTimeline(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), "mem://election-test", 500*time.Millisecond, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	text := out.String()
	t.Log("\n" + text)
	elected := regexp.MustCompile(`(\w+) elected \(fencing token (\d+)\)`).FindAllStringSubmatch(text, -1)
	if len(elected) != 3 {
		t.Fatalf("%d elections, want 3", len(elected))
	}
	seen := map[string]bool{}
	var last int64
	for _, m := range elected {
		token, _ := strconv.ParseInt(m[2], 10, 64)
		if seen[m[1]] || token <= last {
			t.Fatalf("elections %q: each candidate once, tokens growing", elected)
		}
		seen[m[1]], last = true, token
	}
	// Each candidate reports from its own goroutine, so only the presence
	// of the dead leader's loss is checked here; the conformance suite
	// checks that it comes first.
	if !strings.Contains(text, elected[0][1]+" lost the leadership") {
		t.Fatal("the dead leader's loss is not reported")
	}
	if !strings.Contains(text, elected[1][1]+" resigned") {
		t.Fatal("the second leader's resignation is missing")
	}
}
