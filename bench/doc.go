// Package bench compares raftlock's stores with the lock libraries users
// would pick instead, on the same servers, in one run. It is a module of its
// own so that raftlock's users never download the peer libraries.
//
// The comparison is a program, run from this directory:
//
//	go run ./bench          # every suite, about ten minutes on 2 cores
//	go run ./bench -quick   # a smoke run of about a minute
//
// It starts its own servers on loopback, each member a process of its own
// (package servers): raftlock's Raft store, etcd and raw hashicorp/raft on
// 1 and 3 nodes, and a redis-server from PATH. It runs the same workloads
// through raftlock's stores and their peers (package workload): Lock+Unlock
// pairs with 1 and 16 clients, 16 clients taking turns on one lock (with a
// check that the lock goes from client to client in FIFO order), a burst
// of locks taken and then listed, and the time from killing the leader to
// the next grant. It writes results/latest.md, a table per workload, and
// results/latest.svg, a chart (package report). Each figure is the median
// of interleaved rounds, and each peer's row carries raftlock's median
// divided by the peer's.
//
// The Go benchmarks of this package run the pairs and hand-off workloads
// of the etcd and Redis suites with the same code, b.N operations per
// contender and round:
//
//	go test -run '^$' -bench . -benchtime 1000x -rounds 5
package bench
