// Package raftbackend is raftlock's replicated store: a deterministic lock
// state machine on hashicorp/raft, kept in raft-wal with file snapshots,
// served over gRPC, and reachable two ways:
//
//   - raft://host:port,host:port,... — RemoteDriver, a gRPC client of a
//     cluster of `raftlock serve` processes. It follows a follower's
//     NOT_LEADER answer to the leader's client API address at once, tries
//     every endpoint when there is no leader, and sends a retried request
//     with its original RequestID, so nothing is applied twice.
//   - raft+embed:///path/to/data?... — EmbeddedDriver, a node inside the
//     application's process, called without a network hop. A single node by
//     default; several processes can each embed a node and form one cluster
//     (bootstrap one, join the others). See EmbedScheme for the parameters.
//
// Importing the package registers both schemes with package backend, so
// raftlock.Open accepts them:
//
//	import _ "github.com/raftlock/raftlock/raftbackend"
//
// A program that wants the node itself calls StartNode and takes drivers
// from Node.NewDriver.
//
// # How the state machine keeps the promises
//
// Apply never reads a clock: every log entry carries the leader's Now, and
// state-machine time is the greatest Now applied so far. Leases end only by
// an Expire command the leader proposes when its clock passes a deadline
// (or when a later command finds the deadline passed at its entry's Now).
// The first entry of every new leader is a LeaderChange, which pushes every
// deadline to at least its Now + TTL, so a lease never ends early after a
// failover, whatever the clocks of the old and new leader say.
//
// The fencing token of a grant is the index of the log entry that made it:
// unique and increasing across the cluster, through snapshots and restarts.
// Waiters live in the state machine; a Release or Expire hands the lock to
// the head waiter in the same entry, so a hand-off costs one commit. The
// node where the waiter's call is blocked hears of the grant from the apply
// hook and answers it; a call that gives up takes its waiter out of the
// queue, or releases the grant it got meanwhile, by a proposal.
//
// A bounded dedupe table, part of the replicated state and of snapshots,
// answers a request sent again with the same RequestID with its first
// answer. Concurrent clients' commands are packed into shared log entries
// (see Config.MaxBatch and Config.MaxInflight), so they share appends,
// fsyncs and replication rounds.
//
// The lock and waiter limits (Config.MaxLocks, Config.MaxWaiters) are
// replicated state too: each leader writes its own into the LeaderChange
// entry that opens its term, so every node refuses the same commands, and
// the leader's configuration is the store's while it leads.
// Config.MaxRequestBytes bounds the messages of the client API.
// ForceRelease (on Node, RemoteDriver and EmbeddedDriver) lets an operator
// end a stuck holder's grant; the lock goes to the next waiter with a
// greater fencing token.
//
// # Security
//
// Config.TLS secures both listeners with certificate files that are read
// again when they change: the client API (mutual TLS with ClientCAFile) and
// the Raft traffic (always mutual TLS between nodes). Config.BindClientIDs
// binds the client IDs of lock calls to the caller's certificate identity
// (see CertificateIdentity and ClientIDBelongsTo), and Config.RateLimit
// limits each client's calls, answering CodeRateLimit with a RetryAfter.
// Clients use RemoteTLSFiles, RemoteTLS or the raft:// parameters ca_file,
// cert_file, key_file, server_name and tls.
//
// Imports: backend, hashicorp/raft, raft-wal, grpc and the generated code in
// internal/raftpb; never the root package.
package raftbackend
