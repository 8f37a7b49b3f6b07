package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// Run checks that the store behind h keeps the promises of the driver
// contract (backend.Driver) and in docs/promises.md. It runs one subtest group per
// concern — Basic, TTL, Renew, Fencing, Waiting, FIFO, Cancel, Listing,
// BadInput, Closed, Concurrency, and Client (the LockHandle, AutoRenewer,
// RunWithLock and Election of the root package, on this store) — and
// inside each group one named subtest
// per promise, so a failure names the promise that broke.
//
// Subtests run in parallel and use lock IDs under a random prefix, so Run
// may be pointed at a shared, long-lived server. A subtest skips only when
// the store's Capabilities (or an optional interface it lacks) say the
// promise does not apply, and the skip message says which.
//
// The expiry tests wait for leases of Timing.ShortTTL to run out. For a
// store with whole-second TTLs, give go test a larger -parallel so that
// those waits overlap.
func Run(t *testing.T, h Harness) {
	t.Helper()
	s := newSuite(t, h)
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.fn(s.newSub(t, g.name, tc.name))
				})
			}
		})
	}
}

// group is one named set of subtests.
type group struct {
	name  string
	tests []test
}

// test is one subtest: a name that says the promise, and its check.
type test struct {
	name string
	fn   func(x *sub)
}

// groups lists every subtest of the suite in the order they are reported.
func groups() []group {
	return []group{
		{"Basic", basicTests()},
		{"TTL", ttlTests()},
		{"Renew", renewTests()},
		{"Fencing", fencingTests()},
		{"Waiting", waitingTests()},
		{"FIFO", fifoTests()},
		{"Cancel", cancelTests()},
		{"Listing", listingTests()},
		{"BadInput", badInputTests()},
		{"Closed", closedTests()},
		{"Concurrency", concurrencyTests()},
		{"Client", clientTests()},
	}
}

// suite is what every subtest of one Run shares.
type suite struct {
	h      Harness
	caps   backend.Capabilities
	timing Timing
	prefix string // random, so that runs against one server never collide
	queuer bool   // the store's drivers implement backend.Queuer
}

// newSuite opens one driver to learn the store's capabilities, and fixes the
// timing and the lock ID prefix of this run.
func newSuite(t *testing.T, h Harness) *suite {
	t.Helper()
	if h == nil {
		t.Fatal("conformance: nil Harness")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := h.MakeDriver(ctx)
	if err != nil {
		t.Fatalf("MakeDriver: %v", err)
	}
	if d == nil {
		t.Fatal("MakeDriver returned a nil driver and no error")
	}
	caps := d.Capabilities()
	_, queuer := d.(backend.Queuer)
	if err := d.Close(); err != nil {
		t.Errorf("Close of the capabilities probe driver: %v", err)
	}
	var tm Timing
	if th, ok := h.(TimingHarness); ok {
		tm = th.Timing(caps)
	}
	tm = tm.withDefaults(caps)
	s := &suite{h: h, caps: caps, timing: tm, prefix: randomPrefix(), queuer: queuer}
	t.Logf("store capabilities: %+v; Queuer: %v", caps, queuer)
	t.Logf("timing: short TTL %v, long TTL %v, expiry grace %v, patience %v; lock IDs under %s/",
		tm.ShortTTL, tm.LongTTL, tm.ExpiryGrace, tm.Patience, s.prefix)
	return s
}

// randomPrefix returns a lock ID prefix that no other run uses. It holds no
// glob metacharacters, so the Listing tests can build patterns from it.
func randomPrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "conformance-" + hex.EncodeToString(b[:])
}
