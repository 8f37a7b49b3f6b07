// Package servers starts the stores the comparative benchmarks run
// against, each member as a process of its own on loopback, so that the
// CPU a store spends can be read from /proc/<pid>/stat apart from the
// client's, and so that a member can be killed with SIGKILL as a crash
// would kill it.
//
// Four kinds of cluster:
//
//   - etcd, 1 or 3 members (go.etcd.io/etcd/server/v3/embed), with etcd's
//     defaults: fsync on, 100 ms heartbeats, 1 s election timeout;
//   - raftlock, 1 or 3 nodes of the Raft store (raftbackend.StartNode with
//     the settings `raftlock serve` has by default: raft-wal with fsync on,
//     500 ms heartbeat and election timeouts), serving its gRPC client API;
//   - raw raft, 1 or 3 nodes of hashicorp/raft on the same storage and
//     configuration as a raftlock node, with a state machine that only
//     keeps a set of keys, reached over a net/rpc API of its own: one
//     command per log entry, the ceiling of a lock store built on it;
//   - redis, one redis-server from PATH, without persistence.
//
// etcd, raftlock and raw raft members run in this same program, started
// again by itself with an environment variable that names the server to
// run (see Child): a program that uses this package calls Child first thing
// in main, and a test binary in TestMain. Every member has a temporary data
// directory of its own, removed when its cluster stops. Nothing outlives
// the program: StopAll stops whatever is still running, the children ask
// the kernel to kill them when their parent dies, and they also exit when
// they see their parent gone.
package servers
