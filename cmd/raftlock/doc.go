// Command raftlock runs the servers of raftlock's replicated lock store.
//
// Usage:
//
//	raftlock <command> [flags]
//
// The commands are:
//
//	serve   run one node of a Raft lock store
//	help    show the commands, or one command's flags (raftlock help serve)
//
// # serve
//
// serve runs one node: the replicated lock state machine, its storage in
// --data-dir, its Raft transport on --raft-addr and its gRPC client API on
// --api-addr. Start the first node of a new cluster with --bootstrap and the
// others with --join, which names the client API address of one or more
// members:
//
//	raftlock serve --node-id n1 --raft-addr 127.0.0.1:7001 --api-addr 127.0.0.1:7101 --data-dir ./data/n1 --bootstrap
//	raftlock serve --node-id n2 --raft-addr 127.0.0.1:7002 --api-addr 127.0.0.1:7102 --data-dir ./data/n2 --join 127.0.0.1:7101
//	raftlock serve --node-id n3 --raft-addr 127.0.0.1:7003 --api-addr 127.0.0.1:7103 --data-dir ./data/n3 --join 127.0.0.1:7101
//
// Clients then open raft://127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103.
// A node restarted with the same --node-id and --data-dir resumes where it
// stopped, crash or not: --bootstrap is ignored once the directory holds
// state. A node started with --join asks again, at every start, to be a
// member, which the cluster's leader confirms; list several members in
// --join so that a restarted node starts even while one of them is down.
//
// Every flag can also be set by an environment variable named RAFTLOCK_
// followed by the flag's name in upper case with dashes turned into
// underscores: RAFTLOCK_NODE_ID for --node-id, RAFTLOCK_DATA_DIR for
// --data-dir. A flag given on the command line wins over its variable;
// empty variables are ignored.
//
// Logs go to standard error, as text or JSON (--log-format). Once the node
// is up (for --join, once it is a member), serve logs one record with the
// message "raft node serving" and the attributes node, raft and api, the
// addresses it actually listens on; scripts wait for that line.
//
// SIGINT or SIGTERM stops the node gracefully: a leader first hands its
// leadership to a peer, so the cluster does not wait an election timeout.
//
// # Exit status
//
// 0 after a signal stopped the node, 1 when the node failed to start or to
// stop cleanly, 2 for a bad command line (with a one-line error on standard
// error).
package main
