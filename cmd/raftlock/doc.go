// Command raftlock runs the nodes of raftlock's Raft lock store, and takes,
// holds, inspects and gives back locks in any store raftlock supports.
//
// Usage:
//
//	raftlock <command> [flags]
//
// The commands are:
//
//	serve         run one node of a Raft lock store
//	lock run      run a command while holding a lock
//	lock acquire  take a lock and print its client ID and fencing token
//	lock release  give a lock back, or force-release it
//	lock renew    extend a held lock's lease
//	info          describe one lock: holder, version, expiry, waiters
//	list          list locks, as a table or JSON
//	status        describe the store and, for a cluster, its members
//	health        report whether the store serves requests
//	leader        name the leader of a Raft cluster
//	members       list the members of a Raft cluster
//	join          add a server to a Raft cluster
//	leave         remove a server from a Raft cluster
//	help          show the commands, or one command's flags (raftlock help lock run)
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
// A node dials its Raft peers at the addresses in the cluster
// configuration, those the peers advertised when they joined. Where it
// must reach a peer another way (through a proxy, a tunnel or a NAT
// hairpin), --raft-peer-addr id=host:port makes it dial the peer with
// server ID id at host:port instead; repeat the flag, or separate entries
// with commas, for several peers. Only this node's dials change, and an
// entry for the node itself is ignored, so all nodes may share one list.
//
// Every flag can also be set by an environment variable named RAFTLOCK_
// followed by the flag's name in upper case with dashes turned into
// underscores: RAFTLOCK_NODE_ID for --node-id, RAFTLOCK_DATA_DIR for
// --data-dir. A flag given on the command line wins over its variable;
// empty variables are ignored.
//
// Settings can also come from a file named by --config (or
// RAFTLOCK_CONFIG), one "name = value" per line, name being a flag's name
// without dashes and the value what the flag takes, optionally in Go's
// double quotes; blank lines and lines starting with # are ignored:
//
//	# node 2 of the lock service
//	node-id  = n2
//	data-dir = /var/lib/raftlock/n2
//	join     = 10.0.0.1:7100,10.0.0.3:7100
//
// A setting on the command line wins over its variable, which wins over
// the file, which wins over the default. An unknown name, a name set twice
// or a bad value is an error naming its line, and serve starts nothing.
//
// Logs go to standard error, as text or JSON (--log-format). Once the node
// is up (for --join, once it is a member), serve logs one record with the
// message "raft node serving" and the attributes node, raft and api, the
// addresses it actually listens on; scripts wait for that line.
//
// With --metrics-addr host:port, serve also answers HTTP on that address:
// /metrics in Prometheus text format (the node's Raft state, lock table,
// counters and commit latency, its client API calls by method and status
// code, and Go runtime and process series) and /healthz, 200 while the node
// can serve lock calls and 503 otherwise, as its grpc.health.v1 status says.
// --pprof adds Go's profiles under /debug/pprof/ on the same address.
//
// SIGINT or SIGTERM stops the node gracefully: a leader first hands its
// leadership to a peer, so the cluster does not wait an election timeout.
//
// # Client commands
//
// Every other command opens the lock store named by --store or
// RAFTLOCK_STORE, by URL: mem://, raft://host:port,... (a cluster of serve
// nodes), raft+embed:///dir, etcd://host:port,... or redis://host:port/db;
// the binary links every driver. Each of its flags can also be set by the
// variable named as serve's are, except lock release's --force, which must
// be typed each time. --timeout (default 30s) bounds the work with the
// store, transient failures such as a leader election being retried within
// it; commands that print data print JSON with --json, with stable field
// names, and text otherwise (aligned tables for list and members).
//
//	raftlock lock acquire --store raft://10.0.0.1:7100 --lock jobs/nightly --ttl 5m --json
//	raftlock lock renew   --lock jobs/nightly --client-id ID --version 42 --ttl 5m
//	raftlock lock release --lock jobs/nightly --client-id ID --version 42
//	raftlock lock release --force --lock jobs/nightly   # an operator, whoever holds it
//	raftlock info jobs/nightly
//	raftlock list --held --prefix jobs/ --json
//	raftlock members
//	raftlock join --id n4 --raft-addr 10.0.0.4:7000 --api-addr 10.0.0.4:7100
//	raftlock leave --id n4
//
// lock acquire prints the client ID the lock is held as and its version,
// the fencing token, which lock renew and lock release need; the lock stays
// held after the command exits, until released or until --ttl passes
// without a renewal. With --wait it queues until the lock is granted (or
// --wait-timeout passes). members, leader, join and leave work on raft://
// stores; force-release where the store's driver offers it.
//
// # lock run
//
//	raftlock lock run --lock jobs/nightly [--ttl 30s] [--wait] [--wait-timeout D] [--client-id ID] [--grace 10s] -- COMMAND [ARG...]
//
// lock run takes the lock (queueing for it with --wait), runs COMMAND with
// raftlock's standard input, output and error and with RAFTLOCK_TOKEN (the
// fencing token), RAFTLOCK_LOCK, RAFTLOCK_CLIENT_ID and RAFTLOCK_STORE in
// its environment, renews the lease every third of --ttl while it runs,
// and releases the lock when it exits. SIGINT and SIGTERM are passed on to
// COMMAND. If the lease is lost all the same (force-released, or no
// renewal confirmed in time), COMMAND gets SIGTERM, then SIGKILL after
// --grace, and lock run says so in one line on standard error:
//
//	raftlock lock run: lock "jobs/nightly" lost: the store no longer has the grant (released by force, or expired); stopped the command
//
// # Exit status
//
// serve exits 0 after a signal stopped the node and 1 when the node failed
// to start or to stop cleanly. serve, help and a command line that names
// no command exit 2 when the command line is wrong.
//
// The client commands exit 0 on success and otherwise with the status of
// the failure's class, the same for every command, after one line
// "raftlock <command>: <message>" on standard error. The statuses follow
// sysexits(3) where it has a fitting code, and all lie above 63 so that
// lock run's own failures are not mistaken for its command's:
//
//	64   bad input: a bad flag or argument, an unknown store scheme, an ID or TTL the store refused
//	66   not found: nobody holds or waits for the lock
//	69   unavailable: the store cannot be reached, has no leader, or did not answer within --timeout
//	70   any other failure
//	75   held: another client holds the lock (also when it still did once --wait-timeout ran out),
//	     or its wait queue is full; the message names the holder
//	77   not owner: the client does not hold the lock, or not at --version
//	78   not supported: the store cannot do that (membership outside raft://, force-release)
//	79   lock lost (lock run): the lease ended while the command ran, and the command was stopped
//	130  interrupted by SIGINT or SIGTERM before the work was done
//
// lock run otherwise exits with its command's own status, as shells report
// it: 128+N when signal N killed the command, 126 when it could not be
// started, 127 when it was not found.
package main
