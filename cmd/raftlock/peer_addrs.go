package main

import (
	"flag"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"

	"github.com/raftlock/raftlock/backend"
)

// peerAddrsValue is the value of --raft-peer-addr: entries id=host:port,
// comma-separated, from one use of the flag or several, into
// raftbackend.Config.RaftPeerAddrs. Repeating the flag on the command
// line adds entries; a source read later (the environment after the
// config file, the command line after the environment) replaces the
// entries of the one before, as it does for every other flag.
type peerAddrsValue struct {
	m *map[string]string
	// fresh is set when a new source begins: its first Set replaces.
	fresh bool
}

// String lists the entries in ID order, as the flag is written.
func (v *peerAddrsValue) String() string {
	if v == nil || v.m == nil {
		return ""
	}
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(*v.m)) {
		parts = append(parts, id+"="+(*v.m)[id])
	}
	return strings.Join(parts, ",")
}

// Set adds the entries of s, refusing a malformed one or a server ID that
// this source names twice.
func (v *peerAddrsValue) Set(s string) error {
	if v.fresh || *v.m == nil {
		*v.m = make(map[string]string)
		v.fresh = false
	}
	for _, entry := range splitList(s) {
		id, addr, ok := strings.Cut(entry, "=")
		id, addr = strings.TrimSpace(id), strings.TrimSpace(addr)
		if !ok {
			return fmt.Errorf("%q: want id=host:port", entry)
		}
		if e := backend.ValidateID("server ID", id); e != nil {
			return fmt.Errorf("%q: %s", entry, e.Message)
		}
		if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" {
			return fmt.Errorf("%q: %q is not host:port", entry, addr)
		}
		if _, dup := (*v.m)[id]; dup {
			return fmt.Errorf("server ID %q is given twice", id)
		}
		(*v.m)[id] = addr
	}
	return nil
}

// newSource makes the next Set replace the entries.
func (v *peerAddrsValue) newSource() { v.fresh = true }

// newSource tells the flags of fs that gather entries from several uses
// that the settings that follow come from another source, which replaces
// what the one before set rather than adding to it.
func newSource(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := f.Value.(interface{ newSource() }); ok {
			v.newSource()
		}
	})
}
