// Package bench compares raftlock's stores with the lock libraries users
// would pick instead, on the same servers, in one run. It is a module of its
// own so that raftlock's users never download the peer libraries.
//
// From this directory:
//
//	go test -run '^$' -bench . -benchtime 2000x -count 5
//
// Each benchmark runs raftlock's store and its peers one after the other in
// every round (-count), so that a noisy machine affects both alike; report
// medians of the rounds. Servers: an etcd member started in-process
// (go.etcd.io/etcd/server/v3/embed) and a redis-server from PATH (skipped
// with a message when there is none).
//
// Workloads:
//   - pairs, 1 and 16 clients on distinct keys: Lock+Unlock (or
//     Acquire+Release) pairs per second, with p50 and p99;
//   - handoff, 16 clients on one key: grants per second, and of those the
//     hand-offs to a different client than the previous holder ("real"
//     hand-offs: a library whose releaser re-takes the lock at once scores
//     grants but not hand-offs).
package bench
