// Package dirlock is a raftlock store kept in one directory on one machine:
// every process on the machine that opens the directory shares its locks.
// It is a worked example of the driver contract of package backend, small
// enough to read in one sitting, and proven by package conformance like
// every store that ships with raftlock; docs/writing-a-driver.md in the
// repository walks through it.
//
// Import it for its side effect and open a client by URL:
//
//	import _ "github.com/raftlock/raftlock/examples/customdriver" // registers dirlock://
//
//	client, err := raftlock.Open(ctx, "dirlock:///var/lib/myapp/locks")
//
// # How it works
//
// Each held lock is a file in the directory's locks folder, holding its
// backend.Lock as JSON and named by a hash of its lock ID. Every operation
// takes an exclusive flock(2) on one file of the directory, reads the clock,
// does its read-modify-write and lets go; the kernel drops the flock if the
// process dies, so a crash never wedges the store. Files are replaced atomically (write, fsync, rename,
// fsync of the directory). A fencing counter shared by all lock IDs lives in
// its own file, and each grant increments it durably before the grant
// exists, so versions rise across releases, expiries and restarts.
//
// The store's clock is the machine's wall clock, which all its processes
// share; a grant expires at its grant time plus TTL, checked lazily by the
// next operation that reads it. Step the clock forward and leases end early
// in real time, so let the time daemon slew the clock, not step it, while
// locks are held. Network file systems are not supported: their locking and
// their clocks are not this machine's. The driver builds where flock(2)
// exists (Linux, macOS, the BSDs); elsewhere the package is empty.
//
// There is no server process, so a waiter has nowhere to wait: the store
// declares no ServerSideWait (hence no FIFO and no priorities), answers an
// Acquire with Wait like a try, and the raftlock client polls. RequestIDs
// are not kept: Acquire is idempotent per client ID, and Release and Renew
// check the owner and version. Anyone who may write the directory may take
// and release its locks: its permissions are the access control.
//
// # Tests
//
// The tests run the conformance suite against drivers that share one
// directory, as separate processes would; run the raftlock client against
// it; and start real child processes that contend for one lock:
//
//	go test -race ./examples/customdriver/
//	go test -run '^$' -bench . ./examples/customdriver/
//
// Imports: packages backend and the standard library; the tests also use
// conformance and the root package.
package dirlock
