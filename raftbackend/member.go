package raftbackend

import (
	"context"

	"github.com/raftlock/raftlock/backend"
)

// Member is one server of a Raft cluster as the cluster's configuration and
// its replicated member table describe it.
type Member struct {
	ID          string // the server's Raft ID
	RaftAddress string // where its peers reach its Raft transport
	APIAddress  string // where clients reach its gRPC API; "" if it serves none
	Voter       bool
	Leader      bool
}

// nodeAPI is what the gRPC service serves: the lock operations, the admin
// operations and the membership of one node. *Node implements it; the
// service's own tests serve a memory store through it.
//
// Every method fails with CodeNotLeader, Leader set to the leader's client
// API address, when the node cannot answer because it is not the leader;
// with CodeLeaderUnavailable when no leader is known.
//
// What the service (service.go) relies on:
//   - Each method gets the RPC's context. A waiting Acquire's context ends
//     when the client gives up, when its stream resets, or when the server
//     stops; Acquire must have taken the waiter out of the queue (or
//     released a grant made at that moment) before it returns, because the
//     client returns as soon as the service answers.
//   - The service releases a waited grant (Waited set) whose answer it
//     could not send, with a Release of that owner and version and no
//     RequestID.
//   - CodeClosed from a method means the node is shutting down: remote
//     clients get CodeUnavailable and try another node.
//   - Capabilities answers on every node, leader or not.
type nodeAPI interface {
	backend.Driver
	backend.Queuer
	backend.Admin

	// Join adds a voter to the cluster (on the leader).
	Join(ctx context.Context, id, raftAddr, apiAddr string) error
	// Leave removes a server from the cluster (on the leader).
	Leave(ctx context.Context, id string) error
	// Members lists the cluster's servers.
	Members(ctx context.Context) ([]Member, error)
	// LocalStatus describes this node only, without asking its peers; a
	// leader calls it on its peers to fill in Status.Peers.
	LocalStatus(ctx context.Context) (*backend.Status, error)
}
