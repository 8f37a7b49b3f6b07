package raftbackend

import (
	"errors"
	"maps"
	"net"
	"slices"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/raftlock/raftlock/backend"
)

// checkPeerAddrs checks Config.RaftPeerAddrs: server IDs as every node ID
// is checked, addresses host:port with both parts, so that a typo fails
// the start rather than every dial to that peer, later and quietly.
func checkPeerAddrs(m map[string]string) *backend.Error {
	for _, id := range slices.Sorted(maps.Keys(m)) {
		if e := backend.ValidateID("RaftPeerAddrs: server ID", id); e != nil {
			return e
		}
		addr := m[id]
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" || port == "" {
			return backend.Errorf(backend.CodeInvalidArgument, "raft store: RaftPeerAddrs[%q]: %q is not host:port", id, addr)
		}
	}
	return nil
}

// peerAddrs is the Raft transport's raft.ServerAddressProvider under
// Config.RaftPeerAddrs: the transport asks it, before every RPC, where to
// reach a server ID, and pools its connections by the answer.
type peerAddrs struct {
	override map[string]string
	// raft is the node's raft instance once it exists; the transport makes
	// no RPC before it does.
	raft atomic.Pointer[raft.Raft]
}

var _ raft.ServerAddressProvider = (*peerAddrs)(nil)

// errNoPeerAddr makes the transport dial the address it was given. It
// logs a warning when it does, so peerAddrs returns it only when the
// server is in no configuration it knows of, which does not last.
var errNoPeerAddr = errors.New("raft store: server not in the configuration")

// ServerAddr implements raft.ServerAddressProvider: the override for id,
// else id's address in the latest Raft configuration. hashicorp/raft
// would fall back to that address by itself on an error, but logs a
// warning each time, and it asks before every RPC.
func (p *peerAddrs) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	if addr, ok := p.override[string(id)]; ok {
		return raft.ServerAddress(addr), nil
	}
	if r := p.raft.Load(); r != nil {
		// GetConfiguration reads a copy raft keeps for callers: no round
		// trip through raft's main loop.
		for _, s := range r.GetConfiguration().Configuration().Servers {
			if s.ID == id {
				return s.Address, nil
			}
		}
	}
	return "", errNoPeerAddr
}
