// Package etcdbackend is raftlock's etcd store: locks kept in an etcd
// cluster that the application already runs, with the promises every
// raftlock store keeps.
//
//	etcd://[user:password@]host:2379,host:2379?prefix=/locks
//
// Importing the package registers the scheme (see Scheme for its
// parameters), so raftlock.Open accepts such URLs:
//
//	import _ "github.com/raftlock/raftlock/etcdbackend"
//
// A program that configures its own etcd client (or shares one) calls
// NewDriver; Open takes a Config with endpoints, TLS and credentials.
//
// # How the store keeps the promises
//
// Each client that holds or waits for a lock has one key,
// <prefix><lock ID> NUL <client ID>, attached to a lease of its own. The
// key created first holds the lock; the others wait in the order they
// were created, as with etcd's concurrency.Mutex. Acquire is one
// transaction, and the grant's fencing Version
// is the key's create revision: etcd revisions only grow, so every grant
// of a lock has a greater Version than the ones before, across releases,
// expiries, leader changes and restarts. Release and Renew are
// transactions that compare the client's key's create revision with the
// Version and check that no key of the lock is older, so a stale handle
// can never touch a newer grant; Release deletes the key, and the next
// waiter holds the lock from that same revision on.
//
// A lease ends a grant whose holder stops renewing: etcd deletes the key
// when its lease expires, never before. TTLs are rounded up to whole
// seconds (Capabilities.TTLGranularity), and etcd may raise a short lease
// to its minimum (one and a half election timeouts, two seconds with
// etcd's defaults); either way a grant lives at least its TTL. Renew
// keeps the lease alive, or moves the key to a new lease when the TTL
// changes. A grant's lease is granted ahead of need by the driver and
// kept alive by a keep-alive sent with the transaction that takes the
// lock (or, when the driver has none in stock, granted one round trip
// before it), so it runs from slightly before the grant, but never from
// before the client sent its request, which is where the client's own
// lease deadline counts from. Release gives the lease back to the stock
// once the key is deleted (see leases.go for why that is safe), so that a
// steady run of Acquire+Release pairs costs two transactions and no lease
// grants or revokes.
//
// Waiting happens in the store. A waiter's driver keeps its key's lease
// alive and watches the deletion of the key just ahead of it, so that a
// release wakes one waiter, and starts that watch where etcd delivers it
// at once (see the comment on wait in wait.go). A waiter whose
// predecessor held the lock knows from the deletion event alone that the
// lock is its own; otherwise it reads its place once, from the member that
// sent the event. A hand-off thus costs the release's transaction and
// little more, not etcd's 100ms catch-up loop. Waiters are served in
// arrival order (FIFO); priorities are not supported. The lock comes to a
// waiter with its full TTL from that moment. A waiter whose process dies
// keeps its place until its lease runs out (at least five seconds, see
// waitLeaseFloor), as with concurrency.Mutex.
//
// Get and List read the keys in one request each and the holders' leases
// for their expiry, which etcd reports in whole seconds. List filters in
// process with backend.MatchFilter after reading every key under the
// literal start of the filter's pattern.
//
// Imports: package backend, the etcd v3 client (and its zap and gRPC
// dependencies); never the root package.
package etcdbackend
