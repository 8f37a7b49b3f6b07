package conformance

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// sub is one running subtest: the testing.T, the shared suite, and the lock
// ID namespace that belongs to this subtest alone.
type sub struct {
	*testing.T
	s       *suite
	ns      string // every lock ID of the subtest starts with ns + "/"
	clients atomic.Int64
}

func (s *suite) newSub(t *testing.T, groupName, testName string) *sub {
	return &sub{T: t, s: s, ns: s.prefix + "/" + groupName + "-" + testName}
}

// Shorthands for the store's capabilities and the run's timing.
func (x *sub) caps() backend.Capabilities { return x.s.caps }
func (x *sub) short() time.Duration       { return x.s.timing.ShortTTL }
func (x *sub) long() time.Duration        { return x.s.timing.LongTTL }
func (x *sub) grace() time.Duration       { return x.s.timing.ExpiryGrace }
func (x *sub) patience() time.Duration    { return x.s.timing.Patience }

// id returns a lock ID inside the subtest's namespace.
func (x *sub) id(name string) string { return x.ns + "/" + name }

// pattern is the List glob that selects exactly the subtest's lock IDs.
func (x *sub) pattern() string { return x.ns + "/*" }

// opCtx bounds one request to the store.
func (x *sub) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), x.patience())
}

// needServerSideWait skips a subtest that needs a blocking wait queue.
func (x *sub) needServerSideWait() {
	x.Helper()
	if !x.caps().ServerSideWait {
		x.Skip("store does not declare ServerSideWait")
	}
}

func (x *sub) needFIFO() {
	x.Helper()
	if !x.caps().FIFO {
		x.Skip("store does not declare FIFO")
	}
	x.needServerSideWait()
}

func (x *sub) needPriorities() {
	x.Helper()
	if !x.caps().Priorities {
		x.Skip("store does not declare Priorities")
	}
	x.needServerSideWait()
}

func (x *sub) needMetadata() {
	x.Helper()
	if !x.caps().Metadata {
		x.Skip("store does not declare Metadata")
	}
}

func (x *sub) needQueuer() {
	x.Helper()
	if !x.s.queuer {
		x.Skip("store's driver does not implement backend.Queuer")
	}
}

// driver is one simulated client process: a driver of its own, closed when
// the subtest ends unless the subtest closed it first.
type driver struct {
	backend.Driver
	x      *sub
	closed atomic.Bool
}

// driver opens a new driver to the store. Call it from the test goroutine.
func (x *sub) driver() *driver {
	x.Helper()
	return x.driverFrom(x.s.h)
}

func (x *sub) driverFrom(h Harness) *driver {
	x.Helper()
	ctx, cancel := x.opCtx()
	defer cancel()
	d, err := h.MakeDriver(ctx)
	if err != nil {
		x.Fatalf("MakeDriver: %v", err)
	}
	if d == nil {
		x.Fatal("MakeDriver returned a nil driver and no error")
	}
	dd := &driver{Driver: d, x: x}
	x.Cleanup(func() {
		if err := dd.close(); err != nil {
			x.Errorf("Close: %v", err)
		}
	})
	return dd
}

// close closes the driver once; the suite's own cleanup calls it too.
func (d *driver) close() error {
	if !d.closed.CompareAndSwap(false, true) {
		return nil
	}
	_, err := guard(d.x, "Close", func() (struct{}, error) { return struct{}{}, d.Driver.Close() })
	return err
}

// client is one holder: a client ID on a driver. Several clients may share
// a driver, as several handles share one connection in a real process.
type client struct {
	*driver
	id string
}

// client returns a new client on a new driver.
func (x *sub) client() *client {
	x.Helper()
	return x.clientOn(x.driver())
}

// clientOn returns a new client ID on an existing driver.
func (x *sub) clientOn(d *driver) *client {
	return &client{driver: d, id: x.clientID()}
}

// clientID returns a client ID no other subtest uses.
func (x *sub) clientID() string {
	return x.ns + "#c" + strconv.FormatInt(x.clients.Add(1), 10)
}

// guard calls f and turns a panic into a test failure and an error, because
// a driver must never panic, and one panic must not hide the other results.
func guard[R any](x *sub, op string, f func() (R, error)) (r R, err error) {
	defer func() {
		if p := recover(); p != nil {
			x.Errorf("%s panicked: %v\n%s", op, p, debug.Stack())
			err = &backend.Error{Code: backend.CodeInternal, Message: fmt.Sprintf("%s panicked: %v", op, p)}
		}
	}()
	return f()
}

// grant is a successful Acquire with the client-side times that bound it:
// the store made the grant after Sent and before Recv, so it must not expire
// it before Sent + TTL, and the holder may trust it until then.
type grant struct {
	backend.Lock
	Waited      bool
	AlreadyHeld bool // the answer was an existing grant, made before Sent
	TTL         time.Duration
	Sent, Recv  time.Time
}

// safeUntil is the client's local deadline without a safety margin: the
// store promises the grant lives at least this long. An AlreadyHeld answer
// promises nothing of the kind (its lease began before Sent), so its
// safeUntil is Sent itself.
func (g grant) safeUntil() time.Time {
	if g.AlreadyHeld {
		return g.Sent
	}
	return g.Sent.Add(g.TTL)
}

// acquireReq sends req (filling in the client ID) and checks the shape of a
// successful answer. It may run on any goroutine.
func (c *client) acquireReq(ctx context.Context, req backend.AcquireRequest) (grant, error) {
	if req.ClientID == "" {
		req.ClientID = c.id
	}
	g := grant{TTL: req.TTL}
	g.Sent = time.Now()
	res, err := guard(c.x, "Acquire", func() (*backend.AcquireResult, error) { return c.Acquire(ctx, &req) })
	g.Recv = time.Now()
	if err != nil {
		return g, err
	}
	if res == nil {
		c.x.Errorf("Acquire(%s by %s) returned a nil result and no error", req.LockID, req.ClientID)
		return g, errors.New("nil result")
	}
	g.Lock, g.Waited, g.AlreadyHeld = res.Lock, res.Waited, res.AlreadyHeld
	if g.LockID != req.LockID || g.Owner != req.ClientID || g.Version <= 0 {
		c.x.Errorf("Acquire(%s by %s) granted %+v: want that lock ID, that owner and a positive version",
			req.LockID, req.ClientID, g.Lock)
	}
	return g, nil
}

// acquire tries once for lockID.
func (c *client) acquire(lockID string, ttl time.Duration) (grant, error) {
	ctx, cancel := c.x.opCtx()
	defer cancel()
	return c.acquireReq(ctx, backend.AcquireRequest{LockID: lockID, TTL: ttl})
}

// mustAcquire takes a lock the subtest needs to hold. Test goroutine only.
func (c *client) mustAcquire(lockID string, ttl time.Duration) grant {
	c.x.Helper()
	g, err := c.acquire(lockID, ttl)
	if err != nil {
		c.x.Fatalf("Acquire(%s by %s): %v", lockID, c.id, err)
	}
	return g
}

// release gives lockID up at version v.
func (c *client) release(lockID string, v int64) (*backend.ReleaseResult, error) {
	ctx, cancel := c.x.opCtx()
	defer cancel()
	req := &backend.ReleaseRequest{LockID: lockID, ClientID: c.id, Version: v}
	res, err := guard(c.x, "Release", func() (*backend.ReleaseResult, error) { return c.Release(ctx, req) })
	if err == nil && res == nil {
		c.x.Errorf("Release(%s by %s) returned a nil result and no error", lockID, c.id)
		res = &backend.ReleaseResult{}
	}
	return res, err
}

// mustRelease releases a lock the subtest holds. Test goroutine only.
func (c *client) mustRelease(lockID string, v int64) *backend.ReleaseResult {
	c.x.Helper()
	res, err := c.release(lockID, v)
	if err != nil {
		c.x.Fatalf("Release(%s by %s at version %d): %v", lockID, c.id, v, err)
	}
	return res
}

// renew extends lockID at version v to ttl.
func (c *client) renew(lockID string, v int64, ttl time.Duration) (*backend.Lock, error) {
	ctx, cancel := c.x.opCtx()
	defer cancel()
	req := &backend.RenewRequest{LockID: lockID, ClientID: c.id, Version: v, TTL: ttl}
	l, err := guard(c.x, "Renew", func() (*backend.Lock, error) { return c.Renew(ctx, req) })
	if err == nil && l == nil {
		c.x.Errorf("Renew(%s by %s) returned a nil lock and no error", lockID, c.id)
		return nil, errors.New("nil result")
	}
	return l, err
}

// get reads one lock.
func (d *driver) get(lockID string, waiters bool) (*backend.LockInfo, error) {
	ctx, cancel := d.x.opCtx()
	defer cancel()
	req := &backend.GetRequest{LockID: lockID, IncludeWaiters: waiters}
	info, err := guard(d.x, "Get", func() (*backend.LockInfo, error) { return d.Get(ctx, req) })
	if err == nil && info == nil {
		d.x.Errorf("Get(%s) returned a nil LockInfo and no error", lockID)
		return nil, errors.New("nil result")
	}
	if err == nil && info.LockID != lockID {
		d.x.Errorf("Get(%s) answered for lock %q", lockID, info.LockID)
	}
	return info, err
}

// list reads one page.
func (d *driver) list(req backend.ListRequest) (*backend.ListResult, error) {
	ctx, cancel := d.x.opCtx()
	defer cancel()
	res, err := guard(d.x, "List", func() (*backend.ListResult, error) { return d.List(ctx, &req) })
	if err == nil && res == nil {
		d.x.Errorf("List returned a nil result and no error")
		return nil, errors.New("nil result")
	}
	return res, err
}

// queuer returns the driver's Queuer; the subtest must have checked that
// the store has one.
func (d *driver) queuer() backend.Queuer { return d.Driver.(backend.Queuer) }

// enqueue joins lockID's queue without blocking.
func (c *client) enqueue(req backend.EnqueueRequest) (*backend.EnqueueResult, error) {
	ctx, cancel := c.x.opCtx()
	defer cancel()
	if req.ClientID == "" {
		req.ClientID = c.id
	}
	res, err := guard(c.x, "Enqueue", func() (*backend.EnqueueResult, error) { return c.queuer().Enqueue(ctx, &req) })
	if err == nil && res == nil {
		c.x.Errorf("Enqueue(%s by %s) returned a nil result and no error", req.LockID, req.ClientID)
		return nil, errors.New("nil result")
	}
	return res, err
}

// cancelWait leaves lockID's queue.
func (c *client) cancelWait(lockID string) error {
	ctx, cancel := c.x.opCtx()
	defer cancel()
	req := &backend.CancelWaitRequest{LockID: lockID, ClientID: c.id}
	_, err := guard(c.x, "CancelWait", func() (struct{}, error) { return struct{}{}, c.queuer().CancelWait(ctx, req) })
	return err
}

// wantErr reports whether err matches the sentinel want, and fails the
// subtest when it does not, or when the failure is not a *backend.Error as
// the contract requires.
func (x *sub) wantErr(err, want error, format string, args ...any) bool {
	x.Helper()
	what := fmt.Sprintf(format, args...)
	if err == nil {
		x.Errorf("%s: succeeded, want %v", what, want)
		return false
	}
	if !errors.Is(err, want) {
		x.Errorf("%s: got %v (code %v), want %v", what, err, backend.CodeOf(err), want)
		return false
	}
	var e *backend.Error
	if !errors.As(err, &e) {
		x.Errorf("%s: error %T (%v) is not a *backend.Error", what, err, err)
	}
	return true
}

// noErr fails the subtest now when err is not nil.
func (x *sub) noErr(err error, format string, args ...any) {
	x.Helper()
	if err != nil {
		x.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}

// lockState is what a failed request must leave untouched.
type lockState struct {
	Code        backend.Code // CodeUnknown when Get succeeded
	Held        bool
	Owner       string
	Version     int64
	ExpiresAt   time.Time
	WaiterCount int
	Waiters     []string
	Metadata    map[string]string
}

// state reads lockID's state, waiters included.
func (d *driver) state(lockID string) lockState {
	info, err := d.get(lockID, true)
	if err != nil {
		return lockState{Code: backend.CodeOf(err)}
	}
	st := lockState{
		Held: info.Held, Owner: info.Owner, Version: info.Version, ExpiresAt: info.ExpiresAt,
		WaiterCount: info.WaiterCount, Metadata: info.Metadata,
	}
	for _, w := range info.Waiters {
		st.Waiters = append(st.Waiters, w.ClientID)
	}
	return st
}

// sameState compares two states. Expiry times are store timestamps; they
// are compared to the store's TTL granularity, since a store that computes
// them from a remaining lease may be off by that much.
func (x *sub) sameState(a, b lockState) bool {
	if a.Code != b.Code || a.Held != b.Held || a.Owner != b.Owner || a.Version != b.Version ||
		a.WaiterCount != b.WaiterCount || fmt.Sprint(a.Waiters) != fmt.Sprint(b.Waiters) ||
		fmt.Sprint(a.Metadata) != fmt.Sprint(b.Metadata) {
		return false
	}
	d := a.ExpiresAt.Sub(b.ExpiresAt)
	return d.Abs() <= x.caps().TTLGranularity
}

// wantUnchanged fails when lockID's state differs from before.
func (x *sub) wantUnchanged(d *driver, lockID string, before lockState, after string) {
	x.Helper()
	if now := d.state(lockID); !x.sameState(before, now) {
		x.Errorf("%s changed lock %s:\n before %+v\n after  %+v", after, lockID, before, now)
	}
}

// wantHeldBy fails unless lockID is held by owner at version v.
func (x *sub) wantHeldBy(d *driver, lockID, owner string, v int64, when string) {
	x.Helper()
	info, err := d.get(lockID, false)
	if err != nil {
		x.Errorf("%s: Get(%s): %v, want held by %s at version %d", when, lockID, err, owner, v)
		return
	}
	if !info.Held || info.Owner != owner || info.Version != v {
		x.Errorf("%s: Get(%s) = held %v by %q at version %d, want held by %q at version %d",
			when, lockID, info.Held, info.Owner, info.Version, owner, v)
	}
}

// wantFree fails unless Get answers CodeNotFound for lockID.
func (x *sub) wantFree(d *driver, lockID, when string) {
	x.Helper()
	info, err := d.get(lockID, true)
	if err == nil {
		x.Errorf("%s: Get(%s) = held %v by %q at version %d with %d waiters, want ErrLockNotFound",
			when, lockID, info.Held, info.Owner, info.Version, info.WaiterCount)
		return
	}
	x.wantErr(err, backend.ErrLockNotFound, "%s: Get(%s)", when, lockID)
}

// heldAt reports whether lockID is held, treating CodeNotFound as free.
func (d *driver) heldAt(lockID string) (held bool, owner string, version int64, err error) {
	info, err := d.get(lockID, false)
	if err != nil {
		if errors.Is(err, backend.ErrLockNotFound) {
			return false, "", 0, nil
		}
		return false, "", 0, err
	}
	return info.Held, info.Owner, info.Version, nil
}

// waitExpired polls lockID until no one holds it and returns when that was
// seen. It fails if the lock was free before g's safe deadline (an early
// expiry) or still held after g.Recv + TTL + grace (no expiry).
func (x *sub) waitExpired(d *driver, lockID string, g grant) time.Time {
	x.Helper()
	limit := g.Recv.Add(g.TTL + x.grace())
	for {
		held, owner, v, err := d.heldAt(lockID)
		seen := time.Now()
		if err != nil {
			x.Fatalf("Get(%s) while waiting for expiry: %v", lockID, err)
		}
		if !held || owner != g.Owner || v != g.Version {
			if seen.Before(g.safeUntil()) {
				x.Fatalf("lock %s (version %d, TTL %v) was gone %v after its Acquire was sent: the store expired it before its TTL",
					lockID, g.Version, g.TTL, seen.Sub(g.Sent))
			}
			return seen
		}
		if seen.After(limit) {
			x.Fatalf("lock %s (version %d, TTL %v) is still held %v after its grant arrived: the store does not expire it (grace %v)",
				lockID, g.Version, g.TTL, seen.Sub(g.Recv), x.grace())
		}
		time.Sleep(x.pollInterval())
	}
}

// pollInterval spaces out polls: often enough to see an event soon after it
// happens, rarely enough not to load a remote store.
func (x *sub) pollInterval() time.Duration {
	return min(max(x.short()/20, 2*time.Millisecond), 50*time.Millisecond)
}

// eventually polls cond until it holds, failing the subtest after patience.
func (x *sub) eventually(what string, cond func() bool) {
	x.Helper()
	limit := time.Now().Add(x.patience())
	for !cond() {
		if time.Now().After(limit) {
			x.Fatalf("%s did not happen within %v", what, x.patience())
		}
		time.Sleep(x.pollInterval())
	}
}

// queueBehind starts a waiting Acquire of lockID by w and returns once
// holder's driver sees w in the queue.
func (x *sub) queueBehind(holder, w *client, lockID string) *pending {
	x.Helper()
	p := w.start(backend.AcquireRequest{LockID: lockID, TTL: x.long(), Wait: true})
	x.waitQueued(holder.driver, lockID, w.id)
	return p
}

// waitQueued waits until every client ID is in lockID's wait queue, or has
// already been granted the lock (a holder's short lease may run out while
// the waiters are still arriving).
func (x *sub) waitQueued(d *driver, lockID string, clientIDs ...string) {
	x.Helper()
	x.eventually(fmt.Sprintf("queueing %v on %s", clientIDs, lockID), func() bool {
		info, err := d.get(lockID, true)
		if err != nil {
			return false
		}
		in := map[string]bool{info.Owner: info.Held}
		for _, w := range info.Waiters {
			in[w.ClientID] = true
		}
		for _, id := range clientIDs {
			if !in[id] {
				return false
			}
		}
		return true
	})
}

// waiterIDs returns the client IDs in lockID's queue, in grant order.
func (x *sub) waiterIDs(d *driver, lockID string) []string {
	x.Helper()
	info, err := d.get(lockID, true)
	if errors.Is(err, backend.ErrLockNotFound) {
		return nil
	}
	x.noErr(err, "Get(%s) with waiters", lockID)
	if len(info.Waiters) != info.WaiterCount {
		x.Errorf("Get(%s) has WaiterCount %d but lists %d waiters", lockID, info.WaiterCount, len(info.Waiters))
	}
	ws := append([]backend.Waiter(nil), info.Waiters...)
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].Position < ws[j].Position })
	ids := make([]string, len(ws))
	for i, w := range ws {
		if w.Position != i {
			x.Errorf("Get(%s): waiter %s has Position %d, want %d", lockID, w.ClientID, w.Position, i)
		}
		if w.ClientID != info.Waiters[i].ClientID {
			x.Errorf("Get(%s): Waiters are not in grant (Position) order: %+v", lockID, info.Waiters)
		}
		ids[i] = w.ClientID
	}
	return ids
}

// pending is an Acquire running on its own goroutine, usually one that
// waits in a queue.
type pending struct {
	c      *client
	req    backend.AcquireRequest
	cancel context.CancelFunc
	done   chan struct{}
	g      grant
	err    error
}

// start runs req on a new goroutine with a cancellable context. The subtest
// cancels it and waits for it when it ends, so no call outlives its driver.
func (c *client) start(req backend.AcquireRequest) *pending {
	return c.startCtx(context.Background(), req)
}

func (c *client) startCtx(parent context.Context, req backend.AcquireRequest) *pending {
	ctx, cancel := context.WithCancel(parent)
	p := &pending{c: c, req: req, cancel: cancel, done: make(chan struct{})}
	if p.req.ClientID == "" {
		p.req.ClientID = c.id
	}
	go func() {
		defer close(p.done)
		p.g, p.err = c.acquireReq(ctx, p.req)
	}()
	x := c.x
	x.Cleanup(func() {
		cancel()
		select {
		case <-p.done:
		case <-time.After(x.patience()):
			x.Errorf("Acquire(%s by %s) did not return within %v of its context being cancelled",
				p.req.LockID, p.req.ClientID, x.patience())
		}
	})
	return p
}

// wait returns the call's result, failing the subtest if it does not come
// within patience. Test goroutine only.
func (p *pending) wait() (grant, error) {
	x := p.c.x
	x.Helper()
	select {
	case <-p.done:
		return p.g, p.err
	case <-time.After(x.patience()):
		x.Fatalf("Acquire(%s by %s) did not return within %v", p.req.LockID, p.req.ClientID, x.patience())
		return grant{}, nil
	}
}

// returned reports whether the call has returned.
func (p *pending) returned() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// mustBlock fails if the call has already returned: a waiter must not be
// answered while the lock is held by someone else.
func (p *pending) mustBlock(when string) {
	x := p.c.x
	x.Helper()
	if p.returned() {
		x.Fatalf("%s: Acquire with Wait by %s returned (%+v, %v) while the lock was held",
			when, p.req.ClientID, p.g.Lock, p.err)
	}
}

// itoa formats an int for names and messages.
func itoa(i int) string { return strconv.Itoa(i) }

// parallelDo runs f(i) for i in [0, n) on n goroutines and waits for all.
func parallelDo(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}
