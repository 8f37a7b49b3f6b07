// Package workload runs the same lock workloads through raftlock's stores
// and through the libraries users would pick instead, and compares them.
//
// A Contender is one library on one store with its clients connected
// (Raftlock, EtcdMutex, Redsync, Redislock, RawRaft); a Workload is what
// they do (Pairs, Handoff, Burst, Failover). Compare runs one workload on
// a suite's contenders in interleaved rounds: every contender once per
// round, in reverse order every other round, so that a machine whose load
// changes from second to second weighs on all of them alike. It reports
// each contender's medians over the rounds and, for each peer, the ratio of
// raftlock's median to the peer's (the first contender is raftlock's).
//
// Every run measures, besides its rate and latencies, the CPU time this
// process spent (getrusage) and the CPU time the store's server processes
// spent (/proc/<pid>/stat), per 1,000 operations: a library that is fast
// because it burns the server's CPU shows it there.
package workload
