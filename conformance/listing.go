package conformance

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// listingTests check List: every filter, the order by lock ID, both kinds
// of pagination and Total. Every request carries a Pattern that selects
// only the subtest's own locks, so other tests (and other users of a shared
// server) do not disturb the counts.
func listingTests() []test {
	return []test{
		{"OrderedByLockID", listOrder},
		{"InfoMatchesGet", listMatchesGet},
		{"EmptyResult", listEmpty},
		{"FilterPattern", listPattern},
		{"FilterOwner", listOwner},
		{"FilterOnlyHeld", listOnlyHeld},
		{"FilterOnlyContested", listOnlyContested},
		{"FilterExpiresBeforeAndAfter", listExpiry},
		{"FilterMetadata", listMetadata},
		{"FiltersCombine", listCombined},
		{"IncludeWaiters", listWaiters},
		{"CursorPagination", listCursor},
		{"CursorSurvivesChanges", listCursorChanges},
		{"OffsetPagination", listOffset},
		{"DefaultAndMaxPageSize", listPageSizes},
	}
}

// holdAll makes each client take the locks named for it and returns the
// grants by lock ID.
func (x *sub) holdAll(ttl time.Duration, names map[*client][]string) map[string]grant {
	x.Helper()
	out := map[string]grant{}
	for c, ns := range names {
		for _, n := range ns {
			g := c.mustAcquire(x.id(n), ttl)
			out[g.LockID] = g
		}
	}
	return out
}

// ids returns the lock IDs of names, sorted in byte order.
func (x *sub) ids(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = x.id(n)
	}
	sort.Strings(out)
	return out
}

// lockIDs returns the lock IDs of a page, in the order listed.
func lockIDs(infos []backend.LockInfo) []string {
	out := make([]string, len(infos))
	for i, l := range infos {
		out[i] = l.LockID
	}
	return out
}

// listAll follows NextCursor from the first page to the last, checking that
// the pages are in order, hold no lock twice and agree on Total.
func (x *sub) listAll(d *driver, req backend.ListRequest) []backend.LockInfo {
	x.Helper()
	var all []backend.LockInfo
	total := 0
	for page := 0; ; page++ {
		if page > 10*backend.MaxPageSize {
			x.Fatalf("List pagination does not end")
		}
		res, err := d.list(req)
		x.noErr(err, "List page %d (%+v)", page, req)
		if req.Limit > 0 && len(res.Locks) > req.Limit {
			x.Errorf("List page %d has %d locks, more than its Limit %d", page, len(res.Locks), req.Limit)
		}
		if page == 0 {
			total = res.Total
		} else if res.Total != total {
			x.Errorf("List page %d reports Total %d, page 0 reported %d", page, res.Total, total)
		}
		if len(all) > 0 && len(res.Locks) > 0 && res.Locks[0].LockID <= all[len(all)-1].LockID {
			x.Fatalf("List page %d starts at %s, not after the previous page's last lock %s",
				page, res.Locks[0].LockID, all[len(all)-1].LockID)
		}
		all = append(all, res.Locks...)
		if res.NextCursor == "" {
			break
		}
		if len(res.Locks) == 0 {
			x.Fatalf("List page %d is empty but has a NextCursor", page)
		}
		req.Cursor = res.NextCursor
	}
	ids := lockIDs(all)
	if !slices.IsSorted(ids) {
		x.Errorf("List pages are not in lock ID order: %v", ids)
	}
	if len(slices.Compact(slices.Clone(ids))) != len(ids) {
		x.Errorf("List pages repeat a lock: %v", ids)
	}
	if total != -1 && total != len(all) {
		x.Errorf("List reports Total %d, the pages hold %d locks", total, len(all))
	}
	return all
}

// wantList fails unless List with f (and the subtest's pattern, if f has
// none) returns exactly the locks want, in order.
func (x *sub) wantList(d *driver, f backend.ListFilter, want []string) {
	x.Helper()
	if f.Pattern == "" {
		f.Pattern = x.pattern()
	}
	got := lockIDs(x.listAll(d, backend.ListRequest{Filter: f}))
	if !slices.Equal(got, want) {
		x.Errorf("List(%s) = %v\n want %v", describeFilter(f), got, want)
	}
}

func describeFilter(f backend.ListFilter) string {
	s := fmt.Sprintf("pattern %q", f.Pattern)
	if f.Owner != "" {
		s += fmt.Sprintf(" owner %q", f.Owner)
	}
	if f.OnlyHeld {
		s += " only held"
	}
	if f.OnlyContested {
		s += " only contested"
	}
	if !f.ExpiresBefore.IsZero() {
		s += fmt.Sprintf(" expires before %v", f.ExpiresBefore)
	}
	if !f.ExpiresAfter.IsZero() {
		s += fmt.Sprintf(" expires after %v", f.ExpiresAfter)
	}
	if len(f.Metadata) > 0 {
		s += fmt.Sprintf(" metadata %v", f.Metadata)
	}
	return s
}

// contend puts a waiter on lockID, through the explicit queue when the
// store has one and with a blocked Acquire otherwise.
func (x *sub) contend(d *driver, lockID string) *client {
	x.Helper()
	if !x.s.queuer && !x.caps().ServerSideWait {
		x.Skip("store declares no ServerSideWait and has no Queuer: no lock can have waiters")
	}
	w := x.client()
	if x.s.queuer {
		res, err := w.enqueue(backend.EnqueueRequest{LockID: lockID, TTL: x.long(), WaitTimeout: time.Hour})
		x.noErr(err, "Enqueue")
		if res.Granted {
			x.Fatalf("Enqueue on the held lock %s granted it", lockID)
		}
	} else {
		w.start(backend.AcquireRequest{LockID: lockID, TTL: x.long(), Wait: true})
	}
	x.waitQueued(d, lockID, w.id)
	return w
}

func listOrder(x *sub) {
	a, b := x.client(), x.client()
	names := []string{"b", "B", "a0", "a", "a-", "\u00e4", "z", "0", "a~"}
	grants := x.holdAll(x.long(), map[*client][]string{a: names[:5], b: names[5:]})
	all := x.listAll(a.driver, backend.ListRequest{Filter: backend.ListFilter{Pattern: x.pattern()}})
	if got, want := lockIDs(all), x.ids(names...); !slices.Equal(got, want) {
		x.Errorf("List = %v\n want %v (byte order)", got, want)
	}
	for _, l := range all {
		g := grants[l.LockID]
		if !l.Held || l.Owner != g.Owner || l.Version != g.Version {
			x.Errorf("List shows %s held %v by %q at version %d, want held by %q at version %d",
				l.LockID, l.Held, l.Owner, l.Version, g.Owner, g.Version)
		}
	}
}

func listMatchesGet(x *sub) {
	a := x.client()
	x.holdAll(x.long(), map[*client][]string{a: {"a", "b", "c"}})
	var w *client
	if x.s.queuer || x.caps().ServerSideWait {
		w = x.contend(a.driver, x.id("b"))
	}
	all := x.listAll(a.driver, backend.ListRequest{Filter: backend.ListFilter{Pattern: x.pattern()}, IncludeWaiters: true})
	if len(all) != 3 {
		x.Fatalf("List returns %d locks, want 3", len(all))
	}
	for _, l := range all {
		info, err := a.get(l.LockID, true)
		x.noErr(err, "Get(%s)", l.LockID)
		if l.Held != info.Held || l.Owner != info.Owner || l.Version != info.Version || l.WaiterCount != info.WaiterCount ||
			l.ExpiresAt.Sub(info.ExpiresAt).Abs() > x.caps().TTLGranularity || !maps.Equal(l.Metadata, info.Metadata) {
			x.Errorf("List shows %+v\n Get shows %+v", l, *info)
		}
	}
	if w != nil && (all[1].WaiterCount != 1 || len(all[1].Waiters) != 1 || all[1].Waiters[0].ClientID != w.id) {
		x.Errorf("List with waiters shows %+v for the contested lock, want one waiter %s", all[1], w.id)
	}
}

func listEmpty(x *sub) {
	d := x.driver()
	res, err := d.list(backend.ListRequest{Filter: backend.ListFilter{Pattern: x.pattern()}})
	x.noErr(err, "List")
	if len(res.Locks) != 0 || res.NextCursor != "" || (res.Total != 0 && res.Total != -1) {
		x.Errorf("List of nothing = %+v, want no locks, no cursor, Total 0", *res)
	}
}

func listPattern(x *sub) {
	a := x.client()
	x.holdAll(x.long(), map[*client][]string{a: {"job-1", "job-2", "jobs", "task-1", "task-10", "x-job-3"}})
	x.wantList(a.driver, backend.ListFilter{Pattern: x.id("job-*")}, x.ids("job-1", "job-2"))
	x.wantList(a.driver, backend.ListFilter{Pattern: x.id("task-?")}, x.ids("task-1"))
	x.wantList(a.driver, backend.ListFilter{Pattern: x.id("[jt]*-1")}, x.ids("job-1", "task-1"))
	x.wantList(a.driver, backend.ListFilter{Pattern: x.id("*job*")}, x.ids("job-1", "job-2", "jobs", "x-job-3"))
	x.wantList(a.driver, backend.ListFilter{Pattern: x.id("jobs")}, x.ids("jobs"))
	x.wantList(a.driver, backend.ListFilter{Pattern: x.id("nothing*")}, nil)
}

func listOwner(x *sub) {
	a, b := x.client(), x.client()
	x.holdAll(x.long(), map[*client][]string{a: {"a1", "a2"}, b: {"b1"}})
	x.wantList(a.driver, backend.ListFilter{Owner: a.id}, x.ids("a1", "a2"))
	x.wantList(a.driver, backend.ListFilter{Owner: b.id}, x.ids("b1"))
	x.wantList(a.driver, backend.ListFilter{Owner: x.clientID()}, nil)
}

func listOnlyHeld(x *sub) {
	a := x.client()
	grants := x.holdAll(x.long(), map[*client][]string{a: {"a", "b", "c"}})
	a.mustRelease(x.id("b"), grants[x.id("b")].Version)
	x.wantList(a.driver, backend.ListFilter{OnlyHeld: true}, x.ids("a", "c"))
	x.wantList(a.driver, backend.ListFilter{}, x.ids("a", "c"))
}

func listOnlyContested(x *sub) {
	a := x.client()
	x.holdAll(x.long(), map[*client][]string{a: {"a", "b", "c"}})
	x.contend(a.driver, x.id("b"))
	x.wantList(a.driver, backend.ListFilter{OnlyContested: true}, x.ids("b"))
	x.wantList(a.driver, backend.ListFilter{}, x.ids("a", "b", "c"))
}

// The expiry filters compare the store's own timestamps, so the suite takes
// its reference times from the store (Get) rather than from its clock.
func listExpiry(x *sub) {
	a := x.client()
	t1 := x.long()
	t2 := fitTTL(t1+max(10*time.Second, 4*x.caps().TTLGranularity), x.caps())
	if t2-t1 < max(time.Second, 2*x.caps().TTLGranularity) {
		x.Skipf("store's TTL range (max %v) leaves no room for two distinct expiries", x.caps().MaxTTL)
	}
	g1 := a.mustAcquire(x.id("early"), t1)
	g2 := a.mustAcquire(x.id("late"), t2)
	i1, err := a.get(g1.LockID, false)
	x.noErr(err, "Get")
	i2, err := a.get(g2.LockID, false)
	x.noErr(err, "Get")
	if i1.ExpiresAt.IsZero() || !i2.ExpiresAt.After(i1.ExpiresAt) {
		x.Fatalf("store reports expiries %v (TTL %v) and %v (TTL %v): the later TTL must expire later",
			i1.ExpiresAt, t1, i2.ExpiresAt, t2)
	}
	mid := i1.ExpiresAt.Add(i2.ExpiresAt.Sub(i1.ExpiresAt) / 2)
	x.wantList(a.driver, backend.ListFilter{ExpiresBefore: mid}, x.ids("early"))
	x.wantList(a.driver, backend.ListFilter{ExpiresAfter: mid}, x.ids("late"))
	x.wantList(a.driver, backend.ListFilter{ExpiresAfter: i1.ExpiresAt.Add(-time.Hour)}, x.ids("early", "late"))
	x.wantList(a.driver, backend.ListFilter{ExpiresBefore: i1.ExpiresAt.Add(-time.Hour)}, nil)
	x.wantList(a.driver, backend.ListFilter{
		ExpiresAfter:  i1.ExpiresAt.Add(-time.Hour),
		ExpiresBefore: mid,
	}, x.ids("early"))
}

func listMetadata(x *sub) {
	x.needMetadata()
	a := x.client()
	ctx, cancel := x.opCtx()
	defer cancel()
	for name, md := range map[string]map[string]string{
		"a": {"team": "a", "env": "prod"},
		"b": {"team": "b", "env": "prod"},
		"c": {"team": "a"},
		"d": nil,
	} {
		_, err := a.acquireReq(ctx, backend.AcquireRequest{LockID: x.id(name), TTL: x.long(), Metadata: md})
		x.noErr(err, "Acquire %s", name)
	}
	x.wantList(a.driver, backend.ListFilter{Metadata: map[string]string{"team": "a"}}, x.ids("a", "c"))
	x.wantList(a.driver, backend.ListFilter{Metadata: map[string]string{"team": "a", "env": "prod"}}, x.ids("a"))
	x.wantList(a.driver, backend.ListFilter{Metadata: map[string]string{"env": "prod"}}, x.ids("a", "b"))
	x.wantList(a.driver, backend.ListFilter{Metadata: map[string]string{"team": "c"}}, nil)
	x.wantList(a.driver, backend.ListFilter{Metadata: map[string]string{}}, x.ids("a", "b", "c", "d"))
}

func listCombined(x *sub) {
	a, b := x.client(), x.client()
	x.holdAll(x.long(), map[*client][]string{a: {"job-1", "job-2", "task-1"}, b: {"job-3"}})
	x.wantList(a.driver, backend.ListFilter{Pattern: x.id("job-*"), Owner: a.id, OnlyHeld: true}, x.ids("job-1", "job-2"))
	x.wantList(a.driver, backend.ListFilter{Pattern: x.id("task-*"), Owner: b.id}, nil)
}

func listWaiters(x *sub) {
	a := x.client()
	x.holdAll(x.long(), map[*client][]string{a: {"a", "b"}})
	w := x.contend(a.driver, x.id("b"))
	req := backend.ListRequest{Filter: backend.ListFilter{Pattern: x.pattern()}}
	for _, include := range []bool{false, true} {
		req.IncludeWaiters = include
		all := x.listAll(a.driver, req)
		if len(all) != 2 {
			x.Fatalf("List returns %d locks, want 2", len(all))
		}
		if all[0].WaiterCount != 0 || len(all[0].Waiters) != 0 {
			x.Errorf("uncontested lock listed with waiters: %+v", all[0])
		}
		if all[1].WaiterCount != 1 {
			x.Errorf("contested lock listed with WaiterCount %d, want 1", all[1].WaiterCount)
		}
		switch {
		case include && (len(all[1].Waiters) != 1 || all[1].Waiters[0].ClientID != w.id):
			x.Errorf("List with IncludeWaiters shows waiters %+v, want [%s]", all[1].Waiters, w.id)
		case !include && len(all[1].Waiters) != 0:
			x.Errorf("List without IncludeWaiters shows waiters %+v", all[1].Waiters)
		}
	}
}

// names returns n lock names that sort in the order of their number.
func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("l%03d", i)
	}
	return out
}

func listCursor(x *sub) {
	a := x.client()
	ns := names(23)
	x.holdAll(x.long(), map[*client][]string{a: ns})
	want := x.ids(ns...)
	for _, limit := range []int{1, 5, 23, 24} {
		got := lockIDs(x.listAll(a.driver, backend.ListRequest{Filter: backend.ListFilter{Pattern: x.pattern()}, Limit: limit}))
		if !slices.Equal(got, want) {
			x.Errorf("pages of %d = %v\n want %v", limit, got, want)
		}
	}
	res, err := a.list(backend.ListRequest{Filter: backend.ListFilter{Pattern: x.pattern()}, Limit: 23})
	x.noErr(err, "List")
	if res.NextCursor != "" {
		x.Errorf("a page holding the last lock has NextCursor %q", res.NextCursor)
	}
}

// A cursor resumes after the last lock it returned, whatever happened in
// between: a lock that exists throughout is listed exactly once, a lock gone
// before its page is not listed, and nothing is listed twice.
func listCursorChanges(x *sub) {
	a := x.client()
	ns := names(12)
	grants := x.holdAll(x.long(), map[*client][]string{a: ns})
	req := backend.ListRequest{Filter: backend.ListFilter{Pattern: x.pattern()}, Limit: 4}
	res, err := a.list(req)
	x.noErr(err, "first page")
	seen := lockIDs(res.Locks)
	if !slices.Equal(seen, x.ids(ns[:4]...)) {
		x.Fatalf("first page = %v, want %v", seen, x.ids(ns[:4]...))
	}
	// Between pages: drop a listed lock and an unlisted one, add one before
	// the cursor and one after it.
	a.mustRelease(x.id(ns[1]), grants[x.id(ns[1])].Version)
	a.mustRelease(x.id(ns[6]), grants[x.id(ns[6])].Version)
	a.mustAcquire(x.id("l000a"), x.long())
	a.mustAcquire(x.id("l004a"), x.long())
	for res.NextCursor != "" {
		req.Cursor = res.NextCursor
		res, err = a.list(req)
		x.noErr(err, "next page")
		seen = append(seen, lockIDs(res.Locks)...)
	}
	count := map[string]int{}
	for _, id := range seen {
		count[id]++
	}
	for id, n := range count {
		if n > 1 {
			x.Errorf("%s listed %d times", id, n)
		}
	}
	for _, n := range append(append([]string{}, ns[:6]...), ns[7:]...) {
		if n != ns[1] && count[x.id(n)] != 1 {
			x.Errorf("%s existed throughout but was listed %d times (pages: %v)", x.id(n), count[x.id(n)], seen)
		}
	}
	if count[x.id(ns[6])] != 0 {
		x.Errorf("%s was released before its page but listed", x.id(ns[6]))
	}
	if count[x.id("l000a")] != 0 {
		x.Errorf("a lock added before the cursor was listed after it")
	}
	if !slices.IsSorted(seen) {
		x.Errorf("pages not in order: %v", seen)
	}
}

func listOffset(x *sub) {
	a := x.client()
	ns := names(12)
	x.holdAll(x.long(), map[*client][]string{a: ns})
	want := x.ids(ns...)
	var got []string
	f := backend.ListFilter{Pattern: x.pattern()}
	for off := 0; off < len(ns); off += 5 {
		res, err := a.list(backend.ListRequest{Filter: f, Limit: 5, Offset: off})
		x.noErr(err, "List at offset %d", off)
		if res.Total != len(ns) && res.Total != -1 {
			x.Errorf("List at offset %d reports Total %d, want %d", off, res.Total, len(ns))
		}
		if n := min(5, len(ns)-off); len(res.Locks) != n {
			x.Errorf("List at offset %d returned %d locks, want %d", off, len(res.Locks), n)
		}
		got = append(got, lockIDs(res.Locks)...)
	}
	if !slices.Equal(got, want) {
		x.Errorf("offset pages = %v\n want %v", got, want)
	}
	for _, off := range []int{len(ns), len(ns) + 100} {
		res, err := a.list(backend.ListRequest{Filter: f, Limit: 5, Offset: off})
		x.noErr(err, "List at offset %d", off)
		if len(res.Locks) != 0 || res.NextCursor != "" {
			x.Errorf("List past the end (offset %d) = %v, cursor %q, want nothing", off, lockIDs(res.Locks), res.NextCursor)
		}
	}
}

func listPageSizes(x *sub) {
	a := x.client()
	ns := names(backend.DefaultPageSize + 5)
	x.holdAll(x.long(), map[*client][]string{a: ns})
	f := backend.ListFilter{Pattern: x.pattern()}
	res, err := a.list(backend.ListRequest{Filter: f})
	x.noErr(err, "List with the default page size")
	if len(res.Locks) != backend.DefaultPageSize || res.NextCursor == "" {
		x.Errorf("List with Limit 0 returned %d locks and cursor %q, want %d and a cursor",
			len(res.Locks), res.NextCursor, backend.DefaultPageSize)
	}
	res, err = a.list(backend.ListRequest{Filter: f, Limit: backend.MaxPageSize})
	x.noErr(err, "List with the largest page size")
	if len(res.Locks) != len(ns) || res.NextCursor != "" {
		x.Errorf("List with Limit %d returned %d locks and cursor %q, want all %d and no cursor",
			backend.MaxPageSize, len(res.Locks), res.NextCursor, len(ns))
	}
}
