package conformance

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// badInputTests check promise 7 at the driver: each malformed request
// fails with its typed error straight from the driver (the portable client's
// own validation is not in the way here), never panics, and changes nothing
// in the store. A driver is called directly by servers and tests, so it must
// check its input itself (see backend.Driver).
func badInputTests() []test {
	var ts []test
	for _, bc := range badCases() {
		ts = append(ts, test{bc.name, bc.run})
	}
	return append(ts,
		test{"BoundaryValuesAccepted", badBoundaries},
		test{"WaitQueueFull", badWaitQueueFull},
		test{"TooManyLocks", badTooManyLocks},
	)
}

// badFixture is the store state a bad request must leave alone: a held lock
// and, where the store can queue, a waiter on it.
type badFixture struct {
	d      *driver // the driver the bad requests go through
	holder *client // holds held at version
	held   string
	free   string // a lock ID nobody holds
	ver    int64
}

// badCase is one malformed request and the error it must get.
type badCase struct {
	name string
	want error
	// skip returns why the case does not apply to the store, or "".
	skip func(x *sub) string
	call func(ctx context.Context, x *sub, f *badFixture) error
}

func (bc badCase) run(x *sub) {
	if bc.skip != nil {
		if why := bc.skip(x); why != "" {
			x.Skip(why)
		}
	}
	f := &badFixture{d: x.driver(), holder: x.client(), held: x.id("held"), free: x.id("free")}
	f.ver = f.holder.mustAcquire(f.held, x.long()).Version
	if x.caps().ServerSideWait {
		w := x.client()
		w.start(backend.AcquireRequest{LockID: f.held, TTL: x.long(), Wait: true})
		x.waitQueued(f.d, f.held, w.id)
	}
	before := x.nsState(f.d)
	ctx, cancel := x.opCtx()
	defer cancel()
	err := func() (err error) {
		_, err = guard(x, bc.name, func() (struct{}, error) { return struct{}{}, bc.call(ctx, x, f) })
		return err
	}()
	x.wantErr(err, bc.want, "%s", bc.name)
	after := x.nsState(f.d)
	if len(after) != len(before) {
		x.Errorf("%s changed the set of locks: before %v, after %v", bc.name, keys(before), keys(after))
	}
	for id, b := range before {
		if a, ok := after[id]; !ok || !x.sameState(a, b) {
			x.Errorf("%s changed lock %s:\n before %+v\n after  %+v", bc.name, id, b, a)
		}
	}
}

// nsState reads every lock of the subtest's namespace.
func (x *sub) nsState(d *driver) map[string]lockState {
	x.Helper()
	out := map[string]lockState{}
	for _, l := range x.listAll(d, backend.ListRequest{Filter: backend.ListFilter{Pattern: x.pattern()}}) {
		out[l.LockID] = d.state(l.LockID)
	}
	return out
}

func keys(m map[string]lockState) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Requests that are invalid in themselves, whatever the store.
var (
	longID      = strings.Repeat("x", backend.MaxIDLength+1)
	invalidUTF8 = "bad\xff\xfeid"
)

func needMinTTL(x *sub) string {
	if x.caps().MinTTL <= time.Nanosecond {
		return "store declares no MinTTL above 1ns"
	}
	return ""
}

func needMaxTTL(x *sub) string {
	if x.caps().MaxTTL <= 0 {
		return "store declares no MaxTTL"
	}
	return ""
}

func needQueuerCase(x *sub) string {
	if !x.s.queuer {
		return "store's driver does not implement backend.Queuer"
	}
	return ""
}

func badCases() []badCase {
	inv, ttl := backend.ErrInvalidArgument, backend.ErrInvalidTTL
	acq := func(mod func(x *sub, f *badFixture, r *backend.AcquireRequest)) func(context.Context, *sub, *badFixture) error {
		return func(ctx context.Context, x *sub, f *badFixture) error {
			r := &backend.AcquireRequest{LockID: f.free, ClientID: x.clientID(), TTL: x.long()}
			mod(x, f, r)
			_, err := f.d.Acquire(ctx, r)
			return err
		}
	}
	rel := func(mod func(x *sub, f *badFixture, r *backend.ReleaseRequest)) func(context.Context, *sub, *badFixture) error {
		return func(ctx context.Context, x *sub, f *badFixture) error {
			r := &backend.ReleaseRequest{LockID: f.held, ClientID: f.holder.id, Version: f.ver}
			mod(x, f, r)
			_, err := f.d.Release(ctx, r)
			return err
		}
	}
	ren := func(mod func(x *sub, f *badFixture, r *backend.RenewRequest)) func(context.Context, *sub, *badFixture) error {
		return func(ctx context.Context, x *sub, f *badFixture) error {
			r := &backend.RenewRequest{LockID: f.held, ClientID: f.holder.id, Version: f.ver, TTL: x.long()}
			mod(x, f, r)
			_, err := f.d.Renew(ctx, r)
			return err
		}
	}
	get := func(id func(f *badFixture) string) func(context.Context, *sub, *badFixture) error {
		return func(ctx context.Context, x *sub, f *badFixture) error {
			_, err := f.d.Get(ctx, &backend.GetRequest{LockID: id(f)})
			return err
		}
	}
	list := func(mod func(x *sub, r *backend.ListRequest)) func(context.Context, *sub, *badFixture) error {
		return func(ctx context.Context, x *sub, f *badFixture) error {
			r := &backend.ListRequest{Filter: backend.ListFilter{Pattern: x.pattern()}}
			mod(x, r)
			_, err := f.d.List(ctx, r)
			return err
		}
	}
	enq := func(mod func(x *sub, f *badFixture, r *backend.EnqueueRequest)) func(context.Context, *sub, *badFixture) error {
		return func(ctx context.Context, x *sub, f *badFixture) error {
			r := &backend.EnqueueRequest{LockID: f.held, ClientID: x.clientID(), TTL: x.long(), WaitTimeout: time.Hour}
			mod(x, f, r)
			_, err := f.d.queuer().Enqueue(ctx, r)
			return err
		}
	}
	manyMeta := func(n, keyLen, valLen int) map[string]string {
		md := map[string]string{}
		for i := range n {
			k := fmt.Sprintf("k%0*d", max(keyLen-1, 1), i)
			md[k] = strings.Repeat("v", valLen)
		}
		return md
	}

	return []badCase{
		{name: "AcquireNilRequest", want: inv, call: func(ctx context.Context, x *sub, f *badFixture) error {
			_, err := f.d.Acquire(ctx, nil)
			return err
		}},
		{name: "AcquireEmptyLockID", want: inv, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) { r.LockID = "" })},
		{name: "AcquireOversizedLockID", want: inv, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.LockID = x.id(longID)
		})},
		{name: "AcquireInvalidUTF8LockID", want: inv, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.LockID = x.id(invalidUTF8)
		})},
		{name: "AcquireNULInLockID", want: inv, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.LockID = x.id("nul\x00id")
		})},
		{name: "AcquireEmptyClientID", want: inv, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) { r.ClientID = "" })},
		{name: "AcquireOversizedClientID", want: inv, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.ClientID = longID
		})},
		{name: "AcquireInvalidUTF8ClientID", want: inv, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.ClientID = invalidUTF8
		})},
		{name: "AcquireInvalidRequestID", want: inv, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.RequestID = invalidUTF8
		})},
		{name: "AcquireZeroTTL", want: ttl, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) { r.TTL = 0 })},
		{name: "AcquireNegativeTTL", want: ttl, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) { r.TTL = -time.Second })},
		{name: "AcquireTTLBelowMinimum", want: ttl, skip: needMinTTL, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.TTL = x.caps().MinTTL - time.Nanosecond
		})},
		{name: "AcquireTTLAboveMaximum", want: ttl, skip: needMaxTTL, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.TTL = x.caps().MaxTTL + time.Nanosecond
		})},
		{name: "AcquireZeroTTLByHolder", want: ttl, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.LockID, r.ClientID, r.TTL = f.held, f.holder.id, 0
		})},
		{name: "AcquireWaitWithZeroTTL", want: ttl, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.LockID, r.TTL, r.Wait = f.held, 0, true
		})},
		{name: "AcquireNegativeWaitTimeout", want: inv, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.LockID, r.Wait, r.WaitTimeout = f.held, true, -time.Second
		})},
		{name: "AcquireWaitTimeoutTooLong", want: inv, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.LockID, r.Wait, r.WaitTimeout = f.held, true, backend.MaxWaitTimeout+time.Second
		})},
		{name: "AcquirePriorityTooHigh", want: inv, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.LockID, r.Wait, r.Priority = f.held, true, backend.MaxPriority+1
		})},
		{name: "AcquirePriorityTooLow", want: inv, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.Priority = backend.MinPriority - 1
		})},
		{name: "AcquireTooManyMetadataEntries", want: inv, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.Metadata = manyMeta(backend.MaxMetadataEntries+1, 4, 1)
		})},
		{name: "AcquireEmptyMetadataKey", want: inv, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.Metadata = map[string]string{"": "v"}
		})},
		{name: "AcquireOversizedMetadataKey", want: inv, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.Metadata = map[string]string{strings.Repeat("k", backend.MaxMetadataKeyLen+1): "v"}
		})},
		{name: "AcquireOversizedMetadata", want: inv, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.Metadata = map[string]string{"k": strings.Repeat("v", backend.MaxMetadataBytes)}
		})},
		{name: "AcquireInvalidUTF8Metadata", want: inv, call: acq(func(x *sub, f *badFixture, r *backend.AcquireRequest) {
			r.Metadata = map[string]string{"k": invalidUTF8}
		})},

		{name: "ReleaseNilRequest", want: inv, call: func(ctx context.Context, x *sub, f *badFixture) error {
			_, err := f.d.Release(ctx, nil)
			return err
		}},
		{name: "ReleaseEmptyLockID", want: inv, call: rel(func(x *sub, f *badFixture, r *backend.ReleaseRequest) { r.LockID = "" })},
		{name: "ReleaseOversizedLockID", want: inv, call: rel(func(x *sub, f *badFixture, r *backend.ReleaseRequest) { r.LockID = longID })},
		{name: "ReleaseEmptyClientID", want: inv, call: rel(func(x *sub, f *badFixture, r *backend.ReleaseRequest) { r.ClientID = "" })},
		{name: "ReleaseZeroVersion", want: inv, call: rel(func(x *sub, f *badFixture, r *backend.ReleaseRequest) { r.Version = 0 })},
		{name: "ReleaseNegativeVersion", want: inv, call: rel(func(x *sub, f *badFixture, r *backend.ReleaseRequest) { r.Version = -f.ver })},
		{name: "ReleaseInvalidRequestID", want: inv, call: rel(func(x *sub, f *badFixture, r *backend.ReleaseRequest) {
			r.RequestID = invalidUTF8
		})},

		{name: "RenewNilRequest", want: inv, call: func(ctx context.Context, x *sub, f *badFixture) error {
			_, err := f.d.Renew(ctx, nil)
			return err
		}},
		{name: "RenewEmptyLockID", want: inv, call: ren(func(x *sub, f *badFixture, r *backend.RenewRequest) { r.LockID = "" })},
		{name: "RenewEmptyClientID", want: inv, call: ren(func(x *sub, f *badFixture, r *backend.RenewRequest) { r.ClientID = "" })},
		{name: "RenewZeroVersion", want: inv, call: ren(func(x *sub, f *badFixture, r *backend.RenewRequest) { r.Version = 0 })},
		{name: "RenewZeroTTL", want: ttl, call: ren(func(x *sub, f *badFixture, r *backend.RenewRequest) { r.TTL = 0 })},
		{name: "RenewNegativeTTL", want: ttl, call: ren(func(x *sub, f *badFixture, r *backend.RenewRequest) { r.TTL = -time.Minute })},
		{name: "RenewTTLBelowMinimum", want: ttl, skip: needMinTTL, call: ren(func(x *sub, f *badFixture, r *backend.RenewRequest) {
			r.TTL = x.caps().MinTTL - time.Nanosecond
		})},
		{name: "RenewTTLAboveMaximum", want: ttl, skip: needMaxTTL, call: ren(func(x *sub, f *badFixture, r *backend.RenewRequest) {
			r.TTL = x.caps().MaxTTL + time.Nanosecond
		})},

		{name: "GetNilRequest", want: inv, call: func(ctx context.Context, x *sub, f *badFixture) error {
			_, err := f.d.Get(ctx, nil)
			return err
		}},
		{name: "GetEmptyLockID", want: inv, call: get(func(f *badFixture) string { return "" })},
		{name: "GetOversizedLockID", want: inv, call: get(func(f *badFixture) string { return longID })},
		{name: "GetInvalidUTF8LockID", want: inv, call: get(func(f *badFixture) string { return invalidUTF8 })},

		{name: "ListNilRequest", want: inv, call: func(ctx context.Context, x *sub, f *badFixture) error {
			_, err := f.d.List(ctx, nil)
			return err
		}},
		{name: "ListNegativeLimit", want: inv, call: list(func(x *sub, r *backend.ListRequest) { r.Limit = -1 })},
		{name: "ListLimitTooLarge", want: inv, call: list(func(x *sub, r *backend.ListRequest) { r.Limit = backend.MaxPageSize + 1 })},
		{name: "ListNegativeOffset", want: inv, call: list(func(x *sub, r *backend.ListRequest) { r.Offset = -1 })},
		{name: "ListCursorAndOffset", want: inv, call: list(func(x *sub, r *backend.ListRequest) {
			r.Cursor, r.Offset = backend.EncodeCursor(x.id("a")), 1
		})},
		{name: "ListOversizedCursor", want: inv, call: list(func(x *sub, r *backend.ListRequest) {
			r.Cursor = strings.Repeat("A", backend.MaxCursorLength+1)
		})},
		{name: "ListMalformedPattern", want: inv, call: list(func(x *sub, r *backend.ListRequest) { r.Filter.Pattern = x.id("[") })},
		{name: "ListOversizedPattern", want: inv, call: list(func(x *sub, r *backend.ListRequest) {
			r.Filter.Pattern = strings.Repeat("*", backend.MaxIDLength+1)
		})},
		{name: "ListInvalidOwner", want: inv, call: list(func(x *sub, r *backend.ListRequest) { r.Filter.Owner = invalidUTF8 })},
		{name: "ListTooManyMetadataFilters", want: inv, call: list(func(x *sub, r *backend.ListRequest) {
			r.Filter.Metadata = manyMeta(backend.MaxMetadataEntries+1, 4, 1)
		})},
		{name: "ListEmptyExpiryWindow", want: inv, call: list(func(x *sub, r *backend.ListRequest) {
			t := time.Now()
			r.Filter.ExpiresBefore, r.Filter.ExpiresAfter = t, t.Add(time.Minute)
		})},

		{name: "EnqueueNilRequest", want: inv, skip: needQueuerCase, call: func(ctx context.Context, x *sub, f *badFixture) error {
			_, err := f.d.queuer().Enqueue(ctx, nil)
			return err
		}},
		{name: "EnqueueEmptyClientID", want: inv, skip: needQueuerCase, call: enq(func(x *sub, f *badFixture, r *backend.EnqueueRequest) {
			r.ClientID = ""
		})},
		{name: "EnqueueZeroTTL", want: ttl, skip: needQueuerCase, call: enq(func(x *sub, f *badFixture, r *backend.EnqueueRequest) { r.TTL = 0 })},
		{name: "EnqueueNegativeWaitTimeout", want: inv, skip: needQueuerCase, call: enq(func(x *sub, f *badFixture, r *backend.EnqueueRequest) {
			r.WaitTimeout = -time.Second
		})},
		{name: "EnqueueOversizedMetadata", want: inv, skip: needQueuerCase, call: enq(func(x *sub, f *badFixture, r *backend.EnqueueRequest) {
			r.Metadata = map[string]string{"k": strings.Repeat("v", backend.MaxMetadataBytes)}
		})},
		{name: "CancelWaitNilRequest", want: inv, skip: needQueuerCase, call: func(ctx context.Context, x *sub, f *badFixture) error {
			return f.d.queuer().CancelWait(ctx, nil)
		}},
		{name: "CancelWaitEmptyLockID", want: inv, skip: needQueuerCase, call: func(ctx context.Context, x *sub, f *badFixture) error {
			return f.d.queuer().CancelWait(ctx, &backend.CancelWaitRequest{ClientID: x.clientID()})
		}},
	}
}

// The largest valid values are accepted: the limits are inclusive.
func badBoundaries(x *sub) {
	c := x.client()
	caps := x.caps()
	ctx, cancel := x.opCtx()
	defer cancel()
	try := func(what string, req backend.AcquireRequest) {
		x.Helper()
		if req.ClientID == "" {
			req.ClientID = c.id
		}
		g, err := c.acquireReq(ctx, req)
		if err != nil {
			x.Errorf("%s: %v", what, err)
			return
		}
		_, err = (&client{driver: c.driver, id: req.ClientID}).release(req.LockID, g.Version)
		if err != nil && time.Now().Before(g.safeUntil()) {
			x.Errorf("%s: Release: %v", what, err)
		}
	}
	pad := func(s string, n int) string { return s + strings.Repeat("p", n-len(s)) }
	try("lock ID of MaxIDLength bytes", backend.AcquireRequest{LockID: pad(x.id("max-"), backend.MaxIDLength), TTL: x.long()})
	try("client ID of MaxIDLength bytes", backend.AcquireRequest{
		LockID: x.id("b"), ClientID: pad(x.clientID(), backend.MaxIDLength), TTL: x.long(),
	})
	try("request ID of MaxIDLength bytes", backend.AcquireRequest{
		LockID: x.id("c"), TTL: x.long(), RequestID: pad("r", backend.MaxIDLength),
	})
	if caps.MinTTL > 0 {
		try("TTL of MinTTL", backend.AcquireRequest{LockID: x.id("d"), TTL: caps.MinTTL})
	}
	if caps.MaxTTL > 0 {
		try("TTL of MaxTTL", backend.AcquireRequest{LockID: x.id("e"), TTL: caps.MaxTTL})
	}
	try("largest priority and wait timeout", backend.AcquireRequest{
		LockID: x.id("f"), TTL: x.long(), Wait: true, WaitTimeout: backend.MaxWaitTimeout, Priority: backend.MaxPriority,
	})
	try("smallest priority", backend.AcquireRequest{LockID: x.id("g"), TTL: x.long(), Priority: backend.MinPriority})
	if caps.Metadata {
		md := map[string]string{}
		per := backend.MaxMetadataBytes / backend.MaxMetadataEntries
		for i := range backend.MaxMetadataEntries {
			k := fmt.Sprintf("%0*d", backend.MaxMetadataKeyLen, i)
			if i > 0 {
				k = fmt.Sprintf("k%02d", i)
			}
			md[k] = strings.Repeat("v", per-len(k))
		}
		try("metadata at every limit", backend.AcquireRequest{LockID: x.id("h"), TTL: x.long(), Metadata: md})
	}
	if _, err := c.list(backend.ListRequest{Filter: backend.ListFilter{Pattern: x.pattern()}, Limit: backend.MaxPageSize}); err != nil {
		x.Errorf("List with Limit MaxPageSize: %v", err)
	}
}

// limited opens a store with lim through a LimitsHarness, or skips.
func (x *sub) limited(lim Limits) Harness {
	x.Helper()
	lh, ok := x.s.h.(LimitsHarness)
	if !ok {
		x.Skip("harness does not implement LimitsHarness")
	}
	ctx, cancel := x.opCtx()
	defer cancel()
	h, done, err := lh.WithLimits(ctx, lim)
	if err != nil {
		x.Fatalf("WithLimits(%+v): %v", lim, err)
	}
	if h == nil {
		x.Skip("harness cannot set these limits on its store")
	}
	if done != nil {
		x.Cleanup(done) // runs after the drivers' cleanups, which come later
	}
	return h
}

func badWaitQueueFull(x *sub) {
	if !x.s.queuer && !x.caps().ServerSideWait {
		x.Skip("store declares no ServerSideWait and has no Queuer: it has no wait queue to fill")
	}
	h := x.limited(Limits{MaxWaiters: 2})
	d := x.driverFrom(h)
	a := x.clientOn(d)
	id := x.id("a")
	a.mustAcquire(id, x.long())
	for range 2 {
		w := x.clientOn(x.driverFrom(h))
		w.start(backend.AcquireRequest{LockID: id, TTL: x.long(), Wait: true})
		x.waitQueued(d, id, w.id)
	}
	before := d.state(id)
	extra := x.clientOn(x.driverFrom(h))
	ctx, cancel := x.opCtx()
	defer cancel()
	_, err := extra.acquireReq(ctx, backend.AcquireRequest{LockID: id, TTL: x.long(), Wait: true})
	x.wantErr(err, backend.ErrWaitQueueFull, "Acquire with Wait on a full queue")
	if x.s.queuer {
		_, err = extra.enqueue(backend.EnqueueRequest{LockID: id, TTL: x.long(), WaitTimeout: time.Hour})
		x.wantErr(err, backend.ErrWaitQueueFull, "Enqueue on a full queue")
	}
	x.wantUnchanged(d, id, before, "requests refused for a full queue")
}

func badTooManyLocks(x *sub) {
	h := x.limited(Limits{MaxLocks: 3})
	a := x.clientOn(x.driverFrom(h))
	var gs []grant
	for _, n := range []string{"a", "b", "c"} {
		gs = append(gs, a.mustAcquire(x.id(n), x.long()))
	}
	_, err := a.acquire(x.id("d"), x.long())
	x.wantErr(err, backend.ErrResourceExhausted, "Acquire of a fourth lock on a store limited to three")
	x.wantFree(a.driver, x.id("d"), "after the refused Acquire")
	// The limit counts live locks: releasing one makes room.
	a.mustRelease(gs[0].LockID, gs[0].Version)
	a.mustAcquire(x.id("d"), x.long())
}
