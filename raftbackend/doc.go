// Package raftbackend is raftlock's replicated store: a deterministic lock
// state machine on hashicorp/raft, served over gRPC (raft://host:port,...)
// or embedded in the application's process (raft+embed:///data/dir).
//
// The package is planned and holds no driver yet: a program that opens a
// raft:// URL today gets ErrNotSupported from raftlock.Open. Its design (the
// leader stamps time on every command, expiry is a replicated command, the
// fencing token is the granting entry's log index) is in the repository's
// docs.
//
// Imports: backend, hashicorp/raft, raft-wal, grpc; never the root package.
package raftbackend
