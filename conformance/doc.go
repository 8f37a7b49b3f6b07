// Package conformance is the test suite every raftlock store passes: the
// in-memory store, the Raft store, etcd, Redis, and any driver written
// outside the project. It checks the promises in docs/promises.md through the
// driver contract of package backend — mutual exclusion, fencing tokens that
// only grow, leases that never end before their TTL as the client measures
// it, owner-only mutations, fair waiting, typed errors, and bad input that
// changes nothing — by calling a store's drivers the way many client
// processes would. Its Client group then runs the root package's
// LockHandle, AutoRenewer, RunWithLock and Election on the same store, so
// that the client-side lease holds end to end.
//
// A driver author writes a Harness that opens drivers to one store, and
// calls Run from a test and RunBenchmarks from a benchmark:
//
//	package mystore_test
//
//	import (
//		"context"
//		"testing"
//
//		"github.com/raftlock/raftlock/backend"
//		"github.com/raftlock/raftlock/conformance"
//		"example.com/mystore"
//	)
//
//	type harness struct{ addr string }
//
//	// MakeDriver opens one more client of the same store, as another
//	// process would.
//	func (h harness) MakeDriver(ctx context.Context) (backend.Driver, error) {
//		return mystore.Open(ctx, h.addr)
//	}
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, harness{addr: startServer(t)})
//	}
//
//	func BenchmarkConformance(b *testing.B) {
//		conformance.RunBenchmarks(b, harness{addr: startServer(b)})
//	}
//
// Run skips a check only when the store's Capabilities say the promise does
// not apply (no ServerSideWait, no FIFO, no Priorities, no Metadata), or when
// the driver lacks an optional interface (backend.Queuer) or the harness an
// optional one (LimitsHarness); each skip says why. A harness may also
// implement TimingHarness to tune the suite's time bounds for a slow store.
//
// The suite never asserts that a store is fast. Safety is checked against
// the client's own monotonic clock (a grant must survive until TTL after its
// request was sent), and progress against generous bounds (Timing), so the
// suite holds on a loaded machine and under the race detector. FencedResource,
// the protected resource the Concurrency group writes to, is exported for
// use in a driver's own tests.
//
// Imports: package backend, the root package raftlock (for the Client
// group), package testing and the standard library.
package conformance
