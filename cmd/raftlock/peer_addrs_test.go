package main

import (
	"maps"
	"strings"
	"testing"
)

func TestParseServeRaftPeerAddr(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	base := []string{"--node-id", "n1", "--data-dir", "d"}

	// Repeated and comma-separated uses add up.
	o, err := parseServe(append(base,
		"--raft-peer-addr", "n2=127.0.0.1:9002",
		"--raft-peer-addr", "n3=127.0.0.1:9003, n4=[::1]:9004"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"n2": "127.0.0.1:9002", "n3": "127.0.0.1:9003", "n4": "[::1]:9004"}
	if !maps.Equal(o.cfg.RaftPeerAddrs, want) {
		t.Errorf("peer addrs %v, want %v", o.cfg.RaftPeerAddrs, want)
	}

	// None given: none set.
	if o, err = parseServe(base, noEnv); err != nil || o.cfg.RaftPeerAddrs != nil {
		t.Errorf("without the flag: %v, %v; want none", o.cfg.RaftPeerAddrs, err)
	}

	// Each source replaces the one before: the file, then the environment,
	// then the command line.
	path := writeConfig(t, "node-id = n1\ndata-dir = d\nraft-peer-addr = n2=file:1,n3=file:2\n")
	env := map[string]string{}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, tc := range []struct {
		name string
		env  string
		args []string
		want map[string]string
	}{
		{"file", "", nil, map[string]string{"n2": "file:1", "n3": "file:2"}},
		{"environment over file", "n3=env:1", nil, map[string]string{"n3": "env:1"}},
		{"flags over both", "n3=env:1", []string{"--raft-peer-addr", "n4=flag:1", "--raft-peer-addr", "n5=flag:2"}, map[string]string{"n4": "flag:1", "n5": "flag:2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env["RAFTLOCK_RAFT_PEER_ADDR"] = tc.env
			o, err := parseServe(append([]string{"--config", path}, tc.args...), lookup)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(o.cfg.RaftPeerAddrs, tc.want) {
				t.Errorf("peer addrs %v, want %v", o.cfg.RaftPeerAddrs, tc.want)
			}
		})
	}
}

func TestParseServeRaftPeerAddrErrors(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	for _, tc := range []struct {
		name  string
		flags []string
		want  string // in the error
	}{
		{"no equals", []string{"n2"}, `"n2": want id=host:port`},
		{"empty ID", []string{"=127.0.0.1:9002"}, "server ID is empty"},
		{"no port", []string{"n2=127.0.0.1"}, `"127.0.0.1" is not host:port`},
		{"empty host", []string{"n2=:9002"}, `":9002" is not host:port`},
		{"empty address", []string{"n2="}, `"" is not host:port`},
		{"twice in one list", []string{"n2=a:1,n2=b:2"}, `server ID "n2" is given twice`},
		{"twice in two flags", []string{"n2=a:1", "n2=b:2"}, `server ID "n2" is given twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--node-id", "n1", "--data-dir", "d"}
			for _, f := range tc.flags {
				args = append(args, "--raft-peer-addr", f)
			}
			_, err := parseServe(args, noEnv)
			if err == nil || !strings.Contains(err.Error(), "raft-peer-addr") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming the flag and containing %q", err, tc.want)
			}
		})
	}
	t.Run("environment", func(t *testing.T) {
		env := func(k string) (string, bool) { return "n2", k == "RAFTLOCK_RAFT_PEER_ADDR" }
		_, err := parseServe([]string{"--node-id", "n1", "--data-dir", "d"}, env)
		if err == nil || !strings.Contains(err.Error(), "RAFTLOCK_RAFT_PEER_ADDR") {
			t.Errorf("err = %v, want one naming the variable", err)
		}
	})
	t.Run("config file", func(t *testing.T) {
		path := writeConfig(t, "node-id = n1\ndata-dir = d\nraft-peer-addr = n2=nowhere\n")
		_, err := parseServe([]string{"--config", path}, noEnv)
		if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "raft-peer-addr") {
			t.Errorf("err = %v, want one naming the line and the setting", err)
		}
	})
}
