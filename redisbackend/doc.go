// Package redisbackend is raftlock's Redis store: locks kept in a Redis
// (a single server, a primary with replicas, or a Redis Cluster) and
// changed only by Lua scripts, so that every check and its change are one
// atomic step on the server.
//
// # URL
//
// Importing the package registers the schemes "redis" and "rediss" (TLS):
//
//	import _ "github.com/raftlock/raftlock/redisbackend"
//
//	redis://host:6379/0?prefix=myapp
//	rediss://user:password@host:6380/0?prefix=myapp
//	redis://host1:6379,host2:6379,host3:6379?prefix=myapp   (Redis Cluster)
//
// See ParseURL for the parameters. A program that has a go-redis client
// already calls NewDriver with it; Open takes Options (TLS configuration,
// credentials, addresses) instead of a URL.
//
// # How the promises are kept
//
// Each lock ID has a handful of keys, all under one Redis Cluster hash tag
// ("prefix:{lockID}:o", ":f", ...), so that one script can use them all in
// every deployment. The grant is a hash that expires with the lease (PX, in
// milliseconds, counted by Redis from the moment the script runs). The
// fencing token is a per-lock counter that never expires, incremented by
// the script that makes the grant: it keeps growing across releases,
// expiries and even the deletion of the grant by hand. Release and Renew
// compare the owner and the version inside their script.
//
// Waiters queue in a sorted set (priority first, then arrival), so the
// queue is FIFO within a priority. The script that frees a lock (a
// Release, or any script that finds the grant expired) grants it to the
// head waiter in the same step and publishes to the waiting driver's own
// pub/sub channel. Because Redis expires a key without running anything, a
// blocked Acquire also wakes by itself when the holder's lease could end
// (the owner key's PTTL) and runs a check, which hands the lock on; it
// never polls sooner than that, except for its heartbeat. The heartbeat
// (every third of the waiter lease, WithWaiterLease) keeps its queue entry
// alive: the entry of a process that died lapses and is skipped, so a dead
// waiter cannot block the queue. A call that gives up leaves the queue,
// and releases a grant the queue made for it meanwhile, before it returns.
//
// Every operation may be sent again after a lost answer: a repeated
// Acquire finds the client holding the lock (AlreadyHeld), a repeated
// Release finds it gone (CodeNotFound) or taken (CodeNotLockOwner), a
// repeated Enqueue finds the client queued. RequestIDs are therefore not
// stored.
//
// # What Redis does not promise
//
// Redis replication is asynchronous. If a primary fails over before a
// grant (or a fencing counter's increment) reached its replica, the new
// primary may grant the lock again, and with a version that is not
// greater. Capabilities says Replicated: false for that reason. Run Redis
// with persistence (appendonly, fsync every write) and without automatic
// failover where the fencing guarantee must hold through a crash, or use
// the Raft store.
//
// The scripts need Redis 6.2 or later (ZADD GT); they are tested with 7.0.
//
// Imports: backend and go-redis v9; never the root package.
package redisbackend
