// Package chaos verifies the Raft store under faults, the way Jepsen
// verifies databases: a cluster of real `raftlock serve` processes, a
// nemesis that kills, pauses and partitions them, a workload of many
// clients that records what it saw, and checkers that fail the run on one
// violation of the store's promises.
//
// The parts, one per file:
//
//   - cluster.go, process.go: three (or five) serve processes on loopback,
//     each with its own data directory, started, killed with SIGKILL,
//     paused with SIGSTOP and restarted on the same ports; WaitConverged
//     checks that every replica reports one state digest after healing.
//   - proxy.go, network.go: every node dials every peer's Raft port
//     through a proxy of its own for that direction, so partitions,
//     one-way partitions and delays are real at the socket level.
//   - nemesis.go: faults on a seeded random schedule; the seed is logged,
//     so a failing schedule can be replayed.
//   - workload.go, grants.go, history.go: sixteen or more clients
//     (grants.go is one client's loop) on the raft:// driver, with its
//     retry policy, on a few contended locks and many quiet ones,
//     recording every call with its start and end.
//   - resource.go: a protected resource that checks fencing tokens and
//     that no two holders' local leases overlap in time.
//   - model.go: a lock model for the porcupine linearizability checker;
//     an illegal history is drawn as HTML.
//   - checker.go: the anchor grants held for the whole run, read after
//     every restart (no acknowledged grant is lost), and the checks run
//     after it: the resource saw no violation, the history is
//     linearizable.
//
// The tests in chaos_test.go run it: a short run by default, longer with
// -chaos.duration or -soak, and against deliberately broken builds (the
// mutant_* build tags of raftbackend) with -chaos.mutants, where every
// run must fail.
package chaos
