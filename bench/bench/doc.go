// Command bench compares raftlock's stores with the libraries users would
// pick instead, on servers it starts itself on loopback, and writes what it
// measured as a Markdown table and an SVG chart.
//
// From the bench module's directory:
//
//	go run ./bench            # every suite, about ten minutes on 2 cores
//	go run ./bench -quick     # a smoke run of about a minute
//	go run ./bench -only raft1,redis/pairs1
//
// Suites (-only takes their names, or suite/workload):
//
//	raft3     raftlock's Raft store on 3 nodes, etcd's concurrency.Mutex on
//	          3 etcd members, raw hashicorp/raft Apply on 3 nodes
//	raft1     the same on 1 node or member each
//	etcd      raftlock's etcd store and concurrency.Mutex on 1 etcd member
//	redis     raftlock's Redis store, redsync and redislock on one
//	          redis-server from PATH (skipped when there is none)
//	failover  raftlock's Raft store and concurrency.Mutex on 3 members
//	          each: the leader killed while a client waits
//
// Workloads: pairs1 and pairsN (Lock+Unlock pairs, 1 and -clients clients
// on locks of their own), handoff (-clients clients taking turns on one
// lock, with a check of the order of the grants), burst (-burst locks taken
// and held, then listed), failover. See package workload.
//
// Each workload runs every contender of a suite once per round, for
// -duration (or -ops operations), in reverse order every other round, for
// -rounds rounds; the report gives medians, and raftlock's median over
// each peer's. The files go to -out (results/ by default): latest.md and
// latest.svg.
//
// Every server is a process of its own (this program started again in a
// server mode, or redis-server), with a temporary data directory; all are
// stopped and their directories removed when the program ends, on an
// error or Ctrl-C too.
package main
