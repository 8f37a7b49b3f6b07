package raftlock

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// Client is the one concrete client: it implements RaftLockClient,
// AdminClient and AdvancedClient around a backend.Driver. It validates every
// request before the driver sees it, bounds each attempt by the request
// timeout, retries transient failures with the retry policy, records
// metrics and logs. It is safe for concurrent use.
//
// A store that lacks an optional ability (an explicit queue, admin calls)
// answers those calls with ErrNotSupported. A store without server-side
// waiting gets Acquire with Wait emulated by the client: it polls with the
// store's backoff advice, or the retry policy's backoff, until the lock is
// granted or the wait runs out.
type Client struct {
	driver backend.Driver
	caps   backend.Capabilities
	queuer backend.Queuer // nil when the store has no explicit queue
	admin  backend.Admin  // nil when the store has no admin calls
	router backend.Router // nil when the store has no leader

	requestTimeout time.Duration
	safetyFactor   float64
	policy         atomic.Pointer[RetryPolicy]
	metrics        Metrics
	log            *slog.Logger
	ids            *requestIDs

	closed atomic.Bool
}

// NewClient wraps an open driver in a client configured by cfg. The client
// owns the driver from then on and closes it on Close. A zero Config is
// valid: no timeouts, no retries, no metrics.
func NewClient(d backend.Driver, cfg Config) (*Client, error) {
	if d == nil {
		return nil, &Error{Op: opConfigure, Code: backend.CodeInvalidArgument, Err: backend.Errorf(backend.CodeInvalidArgument, "nil driver")}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{
		driver:         d,
		caps:           d.Capabilities(),
		requestTimeout: cfg.RequestTimeout,
		safetyFactor:   cfg.LeaseSafetyFactor,
		metrics:        cfg.metrics(),
		log:            cfg.logger(),
		ids:            newRequestIDs(),
	}
	c.queuer, _ = d.(backend.Queuer)
	c.admin, _ = d.(backend.Admin)
	c.router, _ = d.(backend.Router)
	if o, ok := d.(backend.Observable); ok {
		o.SetObserver(observer{c.metrics})
	}
	p := cfg.RetryPolicy
	p.RetryableErrors = slices.Clone(p.RetryableErrors)
	c.policy.Store(&p)
	return c, nil
}

// observer turns driver events into metrics.
type observer struct{ m Metrics }

func (o observer) LeaderRedirect(from, to string) { o.m.IncrLeaderRedirect() }
func (o observer) Connections(n int)              { o.m.SetConnectionCount(n) }

// errClosed is what every call on a closed client fails with.
var errClosed = backend.Errorf(backend.CodeClosed, "the client is closed")

// start checks that the client is open.
func (c *Client) start(op Op) error {
	if c.closed.Load() {
		return c.reject(op, "", errClosed)
	}
	return nil
}

// deadline is the local end of a lease of ttl whose request was first sent
// at sent.
func (c *Client) deadline(sent time.Time, ttl time.Duration) time.Time {
	return sent.Add(ttl - time.Duration(float64(ttl)*c.safetyFactor))
}

// Acquire implements RaftLockClient.
func (c *Client) Acquire(ctx context.Context, req *AcquireRequest) (*AcquireResult, error) {
	if err := c.start(OpAcquire); err != nil {
		return nil, err
	}
	if e := backend.ValidateAcquire(req, c.caps); e != nil {
		return nil, c.reject(OpAcquire, "", e)
	}
	f := &frame[AcquireRequest]{req: *req} // the caller's request is not written to
	r := &f.req
	if r.RequestID == "" {
		r.RequestID = c.ids.next()
	}
	if r.Wait && !c.caps.ServerSideWait {
		return c.pollAcquire(ctx, r)
	}
	res, sent, err := callIn(c, ctx, c.acquireSpec(r, false), r, &f.ctx, c.driver.Acquire)
	if err != nil {
		return nil, err
	}
	if res.AlreadyHeld {
		return c.refreshHeld(ctx, r, res, sent)
	}
	c.succeed(OpAcquire, sent)
	return &AcquireResult{Lock: res.Lock, Waited: res.Waited, Deadline: c.deadline(sent, r.TTL)}, nil
}

// acquireSpec is how to send the Acquire r. A wait is bounded by its
// WaitTimeout (the store answers ErrTimeout) and the caller's ctx; the
// request timeout then only covers the answer's trip back.
func (c *Client) acquireSpec(r *AcquireRequest, quiet bool) spec {
	s := spec{op: OpAcquire, lockID: r.LockID, timeout: c.requestTimeout, quiet: quiet}
	if r.Wait {
		s.waiting = true
		s.timeout = 0
		if r.WaitTimeout > 0 && c.requestTimeout > 0 {
			s.timeout = r.WaitTimeout + c.requestTimeout
		}
	}
	return s
}

// refreshHeld turns the answer "you already hold it" into a lease the
// caller can count. That grant was made before this request was sent, so
// sendTime + TTL could outlast it; renewing it now starts a lease whose
// beginning the client knows. If the grant expired in the meantime, the
// lock is taken afresh, once.
func (c *Client) refreshHeld(ctx context.Context, r *AcquireRequest, held *backend.AcquireResult, began time.Time) (*AcquireResult, error) {
	renew := &RenewRequest{LockID: r.LockID, ClientID: r.ClientID, Version: held.Lock.Version, TTL: r.TTL, RequestID: c.ids.next()}
	res, renewSent, err := call(c, ctx, spec{op: OpAcquire, lockID: r.LockID, timeout: c.requestTimeout, quiet: true}, renew, c.driver.Renew)
	if err == nil {
		c.succeed(OpAcquire, began)
		return &AcquireResult{Lock: *res, Deadline: c.deadline(renewSent, r.TTL)}, nil
	}
	switch backend.CodeOf(err) {
	case backend.CodeNotFound, backend.CodeNotLockOwner, backend.CodeVersionMismatch:
		// The old grant ended between the two calls: ask again, as a new
		// request. Whatever grant answers it was made after the store saw
		// the renew, so a lease counted from the renew's send time is safe
		// even if this answer is "already held" once more.
		again := *r
		again.RequestID = c.ids.next()
		res, _, err := call(c, ctx, c.acquireSpec(&again, true), &again, c.driver.Acquire)
		c.record(OpAcquire, began, err)
		if err != nil {
			return nil, err
		}
		return &AcquireResult{Lock: res.Lock, Waited: res.Waited, Deadline: c.deadline(renewSent, r.TTL)}, nil
	}
	c.record(OpAcquire, began, err)
	return nil, err
}

// pollAcquire waits for a lock on a store that cannot wait for the caller:
// it tries, and on ErrLockHeld sleeps with backoff and tries again, each try
// a new request (a store that remembers request IDs would otherwise answer
// every try with the first one's ErrLockHeld).
func (c *Client) pollAcquire(ctx context.Context, r *AcquireRequest) (*AcquireResult, error) {
	began := time.Now()
	if r.WaitTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.WaitTimeout)
		defer cancel()
	}
	advice := c.pollAdvice(ctx, r.LockID)
	try := *r
	try.Wait = false
	s := c.acquireSpec(&try, true)
	for n := 0; ; n++ {
		res, sent, err := call(c, ctx, s, &try, c.driver.Acquire)
		if err == nil && res.AlreadyHeld {
			return c.refreshHeld(ctx, &try, res, began)
		}
		if err == nil {
			c.succeed(OpAcquire, began)
			return &AcquireResult{Lock: res.Lock, Waited: n > 0, Deadline: c.deadline(sent, r.TTL)}, nil
		}
		if backend.CodeOf(err) != backend.CodeLockHeld {
			c.record(OpAcquire, began, err)
			return nil, err
		}
		if !sleep(ctx, advice.Backoff(n)) {
			return nil, c.fail(OpAcquire, r.LockID, began, n+1, backend.ContextError(ctx, r.LockID))
		}
		try.RequestID = c.ids.next()
	}
}

// pollAdvice is the backoff between the tries of a polled wait on lockID:
// the store's advice, or the retry policy's backoff when the store gives
// none, and never less than 10 ms, so that a held lock is not spun on.
func (c *Client) pollAdvice(ctx context.Context, lockID string) RetryPolicy {
	p := *c.policy.Load()
	if c.admin != nil {
		if a, err := c.admin.BackoffAdvice(ctx, lockID); err == nil && a.InitialBackoff > 0 && a.MaxBackoff >= a.InitialBackoff {
			p.InitialBackoff, p.MaxBackoff = a.InitialBackoff, a.MaxBackoff
			p.BackoffMultiplier, p.JitterFactor = a.Multiplier, min(max(a.JitterFactor, 0), 1)
		}
	}
	p.InitialBackoff = max(p.InitialBackoff, 10*time.Millisecond)
	p.MaxBackoff = max(p.MaxBackoff, p.InitialBackoff)
	return p
}

// Release implements RaftLockClient.
func (c *Client) Release(ctx context.Context, req *ReleaseRequest) (*ReleaseResult, error) {
	if err := c.start(OpRelease); err != nil {
		return nil, err
	}
	if e := backend.ValidateRelease(req); e != nil {
		return nil, c.reject(OpRelease, "", e)
	}
	f := &frame[ReleaseRequest]{req: *req}
	r := &f.req
	if r.RequestID == "" {
		r.RequestID = c.ids.next()
	}
	res, sent, err := callIn(c, ctx, spec{op: OpRelease, lockID: r.LockID, timeout: c.requestTimeout}, r, &f.ctx, c.driver.Release)
	if err != nil {
		return nil, err
	}
	c.succeed(OpRelease, sent)
	return res, nil
}

// Renew implements RaftLockClient.
func (c *Client) Renew(ctx context.Context, req *RenewRequest) (*RenewResult, error) {
	if err := c.start(OpRenew); err != nil {
		return nil, err
	}
	if e := backend.ValidateRenew(req, c.caps); e != nil {
		return nil, c.reject(OpRenew, "", e)
	}
	f := &frame[RenewRequest]{req: *req}
	r := &f.req
	if r.RequestID == "" {
		r.RequestID = c.ids.next()
	}
	res, sent, err := callIn(c, ctx, spec{op: OpRenew, lockID: r.LockID, timeout: c.requestTimeout}, r, &f.ctx, c.driver.Renew)
	if err != nil {
		return nil, err
	}
	c.succeed(OpRenew, sent)
	return &RenewResult{Lock: *res, Deadline: c.deadline(sent, r.TTL)}, nil
}

// GetLockInfo implements RaftLockClient.
func (c *Client) GetLockInfo(ctx context.Context, req *GetLockInfoRequest) (*LockInfo, error) {
	if err := c.start(OpGetLockInfo); err != nil {
		return nil, err
	}
	if e := backend.ValidateGet(req); e != nil {
		return nil, c.reject(OpGetLockInfo, "", e)
	}
	res, sent, err := call(c, ctx, spec{op: OpGetLockInfo, lockID: req.LockID, timeout: c.requestTimeout}, req, c.driver.Get)
	if err != nil {
		return nil, err
	}
	c.succeed(OpGetLockInfo, sent)
	return res, nil
}

// GetLocks implements RaftLockClient.
func (c *Client) GetLocks(ctx context.Context, req *GetLocksRequest) (*GetLocksResult, error) {
	if err := c.start(OpGetLocks); err != nil {
		return nil, err
	}
	if e := backend.ValidateList(req); e != nil {
		return nil, c.reject(OpGetLocks, "", e)
	}
	res, sent, err := call(c, ctx, spec{op: OpGetLocks, timeout: c.requestTimeout}, req, c.driver.List)
	if err != nil {
		return nil, err
	}
	c.succeed(OpGetLocks, sent)
	return res, nil
}

// Capabilities implements RaftLockClient.
func (c *Client) Capabilities() Capabilities { return c.caps }

// Driver returns the driver the client wraps, for what only some stores can
// do (a Raft cluster's membership, an operator's force-release): find it by
// type assertion. Calls made on it directly skip the client's validation,
// retries, timeouts and metrics. The client still owns the driver: close
// the client, not the driver.
func (c *Client) Driver() backend.Driver { return c.driver }

// Close implements RaftLockClient: it closes the driver, which wakes every
// call blocked in it with ErrClientClosed. Later calls fail with
// ErrClientClosed; closing again does nothing.
func (c *Client) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	if err := c.driver.Close(); err != nil {
		return newError(opClose, "", 0, err)
	}
	return nil
}

// Operations that appear in errors but have no metrics of their own.
const (
	opClose     = numOps     // Client.Close
	opOpen      = numOps + 1 // Open and OpenConfig reaching the store
	opConfigure = numOps + 2 // checking a Config, a RetryPolicy or NewClient's arguments
)

// EnqueueWaiter implements AdvancedClient.
func (c *Client) EnqueueWaiter(ctx context.Context, req *EnqueueRequest) (*EnqueueResult, error) {
	if err := c.start(OpEnqueueWaiter); err != nil {
		return nil, err
	}
	if e := backend.ValidateEnqueue(req, c.caps); e != nil {
		return nil, c.reject(OpEnqueueWaiter, "", e)
	}
	if c.queuer == nil {
		return nil, c.reject(OpEnqueueWaiter, req.LockID, notSupported("an explicit wait queue"))
	}
	r := *req
	if r.RequestID == "" {
		r.RequestID = c.ids.next()
	}
	res, sent, err := call(c, ctx, spec{op: OpEnqueueWaiter, lockID: r.LockID, timeout: c.requestTimeout}, &r, c.queuer.Enqueue)
	if err != nil {
		return nil, err
	}
	c.succeed(OpEnqueueWaiter, sent)
	return res, nil
}

// CancelWait implements AdvancedClient.
func (c *Client) CancelWait(ctx context.Context, req *CancelWaitRequest) error {
	if err := c.start(OpCancelWait); err != nil {
		return err
	}
	if e := backend.ValidateCancelWait(req); e != nil {
		return c.reject(OpCancelWait, "", e)
	}
	if c.queuer == nil {
		return c.reject(OpCancelWait, req.LockID, notSupported("an explicit wait queue"))
	}
	r := *req
	if r.RequestID == "" {
		r.RequestID = c.ids.next()
	}
	_, sent, err := call(c, ctx, spec{op: OpCancelWait, lockID: r.LockID, timeout: c.requestTimeout}, &r, func(ctx context.Context, r *CancelWaitRequest) (struct{}, error) {
		return struct{}{}, c.queuer.CancelWait(ctx, r)
	})
	if err != nil {
		return err
	}
	c.succeed(OpCancelWait, sent)
	return nil
}

// GetLeaderAddress implements AdvancedClient.
func (c *Client) GetLeaderAddress() string {
	if c.router == nil {
		return ""
	}
	return c.router.LeaderAddress()
}

// IsConnected implements AdvancedClient: false once closed; for a store
// with a leader, whether the driver has a usable connection now.
func (c *Client) IsConnected() bool {
	if c.closed.Load() {
		return false
	}
	if c.router == nil {
		return true
	}
	return c.router.Connected()
}

// SetRetryPolicy implements AdvancedClient. An invalid policy is refused
// with ErrInvalidArgument and the current one kept.
func (c *Client) SetRetryPolicy(p RetryPolicy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	p.RetryableErrors = slices.Clone(p.RetryableErrors)
	c.policy.Store(&p)
	return nil
}

// RetryPolicy returns the retry policy in force.
func (c *Client) RetryPolicy() RetryPolicy {
	p := *c.policy.Load()
	p.RetryableErrors = slices.Clone(p.RetryableErrors)
	return p
}

// GetMetrics implements AdvancedClient.
func (c *Client) GetMetrics() Metrics { return c.metrics }

// GetStatus implements AdminClient.
func (c *Client) GetStatus(ctx context.Context) (*Status, error) {
	if err := c.start(OpGetStatus); err != nil {
		return nil, err
	}
	if c.admin == nil {
		return nil, c.reject(OpGetStatus, "", notSupported("admin calls"))
	}
	res, sent, err := call(c, ctx, spec{op: OpGetStatus, timeout: c.requestTimeout}, &struct{}{}, func(ctx context.Context, _ *struct{}) (*Status, error) {
		return c.admin.Status(ctx)
	})
	if err != nil {
		return nil, err
	}
	c.succeed(OpGetStatus, sent)
	return res, nil
}

// Health implements AdminClient.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	if err := c.start(OpHealth); err != nil {
		return nil, err
	}
	if c.admin == nil {
		return nil, c.reject(OpHealth, "", notSupported("admin calls"))
	}
	res, sent, err := call(c, ctx, spec{op: OpHealth, timeout: c.requestTimeout}, &struct{}{}, func(ctx context.Context, _ *struct{}) (*Health, error) {
		return c.admin.Health(ctx)
	})
	if err != nil {
		return nil, err
	}
	c.succeed(OpHealth, sent)
	return res, nil
}

// GetBackoffAdvice implements AdminClient.
func (c *Client) GetBackoffAdvice(ctx context.Context, lockID string) (*BackoffAdvice, error) {
	if err := c.start(OpGetBackoffAdvice); err != nil {
		return nil, err
	}
	if e := backend.ValidateID("lock ID", lockID); e != nil {
		return nil, c.reject(OpGetBackoffAdvice, "", e)
	}
	if c.admin == nil {
		return nil, c.reject(OpGetBackoffAdvice, lockID, notSupported("admin calls"))
	}
	res, sent, err := call(c, ctx, spec{op: OpGetBackoffAdvice, lockID: lockID, timeout: c.requestTimeout}, &lockID, func(ctx context.Context, id *string) (*BackoffAdvice, error) {
		return c.admin.BackoffAdvice(ctx, *id)
	})
	if err != nil {
		return nil, err
	}
	c.succeed(OpGetBackoffAdvice, sent)
	return res, nil
}

func notSupported(what string) *backend.Error {
	return backend.Errorf(backend.CodeNotSupported, "the store has no %s", what)
}
