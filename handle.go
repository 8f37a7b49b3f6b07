package raftlock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// ErrNotHeld is returned by a LockHandle asked to renew or release a lock
// it does not hold: it never acquired it, it released it, or the lease was
// lost. It is the handle's own answer, made without asking the store.
var ErrNotHeld = errors.New("raftlock: the handle does not hold the lock")

// ErrLockLost means a lease ended while its holder still relied on it: the
// local deadline passed before a renewal was confirmed, or the store said
// the grant is gone. The error that says so wraps the cause too (a store's
// ErrLockNotFound, say), so errors.Is matches both.
var ErrLockLost = errors.New("raftlock: lock lost")

// errLeaseRanOut is the cause of a loss found by the local clock.
var errLeaseRanOut = errors.New("the local lease deadline passed before a renewal was confirmed")

// errReleased is the cause recorded when the holder gave the lock up.
var errReleased = errors.New("released by its holder")

// closedChan is the Lost channel of a handle that holds nothing.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// HandleOption configures a LockHandle. WithClock is one.
type HandleOption interface{ applyHandle(*handleConfig) }

type handleConfig struct {
	clock Clock
}

// LockHandle holds one lock for one client ID, and keeps the client's own
// view of the lease: the fencing token, the local deadline, and a Lost
// channel closed the moment the lease can no longer be trusted.
//
// The deadline is read from the handle's clock (the local monotonic clock
// unless WithClock says otherwise), counted from the moment the request
// that started or extended the lease was sent, minus the client's safety
// margin. The store never ends a grant before that moment plus its TTL, so
// while IsHeld is true the lock is this handle's, whatever the store's
// clock says, and whether or not the store can be reached. IsHeld turns
// false, and Lost closes, when the deadline passes without a confirmed
// renewal, when the store answers that the grant is gone, and on Release.
//
// A handle generates a client ID of its own when given none. Two handles
// with one client ID do not exclude each other (the store treats them as
// one holder), so give each its own unless that is what you want.
//
// A LockHandle is safe for concurrent use.
type LockHandle struct {
	client   RaftLockClient
	lockID   string
	clientID string
	clock    Clock
	margin   float64 // share of the TTL kept back from each deadline

	mu     sync.Mutex
	closed bool
	grant  *grant // the last grant; nil when the handle holds nothing
}

// grant is one grant a handle holds, and the local view of its lease.
type grant struct {
	version  int64 // the grant's fencing token; never changes
	lock     Lock
	ttl      time.Duration
	deadline time.Time
	timer    Timer         // fires at deadline
	lost     chan struct{} // closed when the lease can no longer be trusted
	cause    error         // why lost was closed
}

// NewLockHandle returns a handle for lockID through client, holding
// nothing yet. An empty clientID is replaced by a new unique one (see
// NewClientID). A nil client or an invalid ID fails with
// ErrInvalidArgument.
func NewLockHandle(client RaftLockClient, lockID, clientID string, opts ...HandleOption) (*LockHandle, error) {
	if client == nil {
		return nil, invalid("NewLockHandle: nil client")
	}
	if clientID == "" {
		clientID = NewClientID()
	}
	if e := backend.ValidateID("lock ID", lockID); e != nil {
		return nil, e
	}
	if e := backend.ValidateID("client ID", clientID); e != nil {
		return nil, e
	}
	cfg := handleConfig{clock: backend.SystemClock}
	for _, o := range opts {
		if o != nil {
			o.applyHandle(&cfg)
		}
	}
	margin := DefaultConfig().LeaseSafetyFactor
	if c, ok := client.(*Client); ok {
		margin = c.safetyFactor
	}
	return &LockHandle{client: client, lockID: lockID, clientID: clientID, clock: cfg.clock, margin: margin}, nil
}

// invalid is an ErrInvalidArgument for a bad argument of the client layer.
func invalid(format string, args ...any) error {
	return backend.Errorf(backend.CodeInvalidArgument, "raftlock: "+format, args...)
}

// LockID is the lock the handle is for.
func (h *LockHandle) LockID() string { return h.lockID }

// ClientID is the client ID the handle holds the lock as.
func (h *LockHandle) ClientID() string { return h.clientID }

// lease is how long a lease of ttl may be relied on locally.
func (h *LockHandle) lease(ttl time.Duration) time.Duration {
	return ttl - time.Duration(float64(ttl)*h.margin)
}

// Acquire takes the lock with a lease of ttl; with wait it queues until
// granted, until ctx ends or until the store's wait timeout. The errors are
// the client's (ErrLockHeld without wait when another client holds it).
//
// A grant that came out of the queue was made at some moment after the
// request was sent, so its deadline, counted from the send, may be short:
// when less than half the lease is left, Acquire renews at once, and if
// that fails while the lease has already run out, it gives the lock back
// and fails with ErrLockLost.
//
// Acquire on a handle that holds the lock returns the same grant, with the
// lease counted from this request.
func (h *LockHandle) Acquire(ctx context.Context, ttl time.Duration, wait bool) error {
	if err := h.usable(); err != nil {
		return err
	}
	sent := h.clock.Now()
	res, err := h.client.Acquire(ctx, &AcquireRequest{LockID: h.lockID, ClientID: h.clientID, TTL: ttl, Wait: wait})
	if err != nil {
		return err
	}
	if !res.Waited || h.clock.Now().Before(sent.Add(h.lease(ttl)/2)) {
		h.install(res.Lock, ttl, sent)
		return nil
	}
	renewSent := h.clock.Now()
	renewed, err := h.client.Renew(ctx, &RenewRequest{LockID: h.lockID, ClientID: h.clientID, Version: res.Lock.Version, TTL: ttl})
	switch {
	case err == nil:
		h.install(renewed.Lock, ttl, renewSent)
		return nil
	case !definiteLoss(err) && h.clock.Now().Before(sent.Add(h.lease(ttl))):
		// The lease counted from the send still runs; a renewer will
		// extend it.
		h.install(res.Lock, ttl, sent)
		return nil
	case !definiteLoss(err):
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		_, _ = h.client.Release(rctx, &ReleaseRequest{LockID: h.lockID, ClientID: h.clientID, Version: res.Lock.Version})
	}
	return fmt.Errorf("%w: %s was granted after its lease had run out locally, and renewing it failed: %w", ErrLockLost, h.lockID, err)
}

// cleanupTimeout bounds the release a handle sends on its own, after the
// caller's context may have ended.
const cleanupTimeout = 10 * time.Second

// install makes l, granted for ttl by a request sent at sent, the handle's
// grant. The same grant (same Version) keeps its Lost channel and gets the
// later of the two deadlines; a new grant replaces the old one, which is
// lost if it was not already.
func (h *LockHandle) install(l Lock, ttl time.Duration, sent time.Time) {
	deadline := sent.Add(h.lease(ttl))
	h.mu.Lock()
	defer h.mu.Unlock()
	if g := h.grant; g != nil && g.version == l.Version && g.cause == nil {
		g.lock, g.ttl = l, ttl
		if deadline.After(g.deadline) {
			g.deadline = deadline
			g.timer.Reset(g.deadline.Sub(h.clock.Now()))
		}
		return
	}
	if old := h.grant; old != nil {
		h.loseLocked(old, errors.New("replaced by a later grant"))
	}
	g := &grant{version: l.Version, lock: l, ttl: ttl, deadline: deadline, lost: make(chan struct{})}
	g.timer = h.clock.AfterFunc(deadline.Sub(h.clock.Now()), func() { h.expire(g) })
	h.grant = g
}

// expire runs when g's deadline timer fires: unless a renewal moved the
// deadline since, the lease is lost.
func (h *LockHandle) expire(g *grant) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.clock.Now().Before(g.deadline) {
		return // renewed meanwhile; the renewal re-armed the timer
	}
	h.loseLocked(g, errLeaseRanOut)
}

// loseLocked closes g's Lost channel with cause, once.
func (h *LockHandle) loseLocked(g *grant, cause error) {
	if g.cause != nil {
		return
	}
	g.cause = cause
	g.timer.Stop()
	close(g.lost)
}

// trusted reports whether g is the handle's grant and its lease still runs.
func (h *LockHandle) trusted(g *grant) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.trustedLocked(g)
}

func (h *LockHandle) trustedLocked(g *grant) bool {
	if g == nil || g.cause != nil || h.grant != g {
		return false
	}
	if !h.clock.Now().Before(g.deadline) {
		// The timer has not fired yet, but the deadline is past.
		h.loseLocked(g, errLeaseRanOut)
		return false
	}
	return true
}

// current returns the grant the handle trusts, or nil.
func (h *LockHandle) current() *grant {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.trustedLocked(h.grant) {
		return h.grant
	}
	return nil
}

// usable fails once the handle is closed.
func (h *LockHandle) usable() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return fmt.Errorf("raftlock: lock handle for %s is closed: %w", h.lockID, ErrClientClosed)
	}
	return nil
}

// definiteLoss reports whether a store's answer says the grant is gone.
func definiteLoss(err error) bool {
	switch CodeOf(err) {
	case backend.CodeNotFound, backend.CodeNotLockOwner, backend.CodeVersionMismatch:
		return true
	}
	return false
}

// Renew extends the lease to ttl from now, keeping the fencing token. It
// fails with ErrNotHeld when the handle holds no trusted lease (a lease
// that ran out locally is not renewed: acquire again). If the store says
// the grant is gone (ErrLockNotFound, ErrNotLockOwner,
// ErrVersionMismatch), the lease is lost and Lost closes; any other
// failure leaves the lease as it was, to be retried while it runs.
func (h *LockHandle) Renew(ctx context.Context, ttl time.Duration) error {
	if err := h.usable(); err != nil {
		return err
	}
	g := h.current()
	if g == nil {
		return h.notHeld()
	}
	return h.renew(ctx, g, ttl)
}

func (h *LockHandle) renew(ctx context.Context, g *grant, ttl time.Duration) error {
	sent := h.clock.Now()
	res, err := h.client.Renew(ctx, &RenewRequest{LockID: h.lockID, ClientID: h.clientID, Version: g.version, TTL: ttl})
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		if definiteLoss(err) {
			h.loseLocked(g, err)
		}
		return err
	}
	if g.cause != nil || h.grant != g {
		// The store renewed it, but the lease had already been given up
		// for lost: the holder has been told to stop relying on it.
		return fmt.Errorf("%w: %s: the renewal was confirmed after the lease was lost (%w)", ErrLockLost, h.lockID, g.cause)
	}
	g.lock, g.ttl = res.Lock, ttl
	if d := sent.Add(h.lease(ttl)); d.After(g.deadline) {
		g.deadline = d
		g.timer.Reset(d.Sub(h.clock.Now()))
	}
	return nil
}

// notHeld is ErrNotHeld, with the reason the last lease ended if there is
// one.
func (h *LockHandle) notHeld() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if g := h.grant; g != nil && g.cause != nil {
		return fmt.Errorf("%w: %s: %w", ErrNotHeld, h.lockID, g.cause)
	}
	return fmt.Errorf("%w: %s", ErrNotHeld, h.lockID)
}

// Release gives the lock back. The lease is no longer trusted from the
// moment Release is called, so Lost closes whatever the store answers. It
// fails with ErrNotHeld when the handle never held the lock or released it
// already; a lease that was lost is still released, in case the store
// still keeps it, and the store's answer is returned (ErrLockNotFound when
// it expired). After a failure that leaves the outcome unknown (the store
// could not be reached), Release may be called again.
func (h *LockHandle) Release(ctx context.Context) error {
	if err := h.usable(); err != nil {
		return err
	}
	h.mu.Lock()
	g := h.grant
	if g != nil {
		h.loseLocked(g, errReleased)
	}
	h.mu.Unlock()
	if g == nil {
		return fmt.Errorf("%w: %s", ErrNotHeld, h.lockID)
	}
	return h.release(ctx, g)
}

// release sends the Release of g; a definite answer forgets g.
func (h *LockHandle) release(ctx context.Context, g *grant) error {
	_, err := h.client.Release(ctx, &ReleaseRequest{LockID: h.lockID, ClientID: h.clientID, Version: g.version})
	if err == nil || definiteLoss(err) {
		h.mu.Lock()
		if h.grant == g {
			h.grant = nil
		}
		h.mu.Unlock()
	}
	return err
}

// IsHeld reports whether the handle holds the lock and its lease still
// runs on the local clock. It asks nothing of the store.
func (h *LockHandle) IsHeld() bool { return h.current() != nil }

// Lock returns a copy of the grant the handle holds, or nil.
func (h *LockHandle) Lock() *Lock {
	g := h.current()
	if g == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	l := g.lock
	l.Metadata = backend.CloneMetadata(l.Metadata)
	return &l
}

// Token is the fencing token (the grant's Version) to send with every
// write the lock protects, or 0 when the handle holds nothing.
func (h *LockHandle) Token() int64 {
	if g := h.current(); g != nil {
		return g.version
	}
	return 0
}

// Deadline is when the lease stops being trusted, on the handle's clock,
// or the zero time when the handle holds nothing.
func (h *LockHandle) Deadline() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if g := h.grant; h.trustedLocked(g) {
		return g.deadline
	}
	return time.Time{}
}

// RemainingLease is how long the lease may still be relied on: zero when
// the handle holds nothing.
func (h *LockHandle) RemainingLease() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if g := h.grant; h.trustedLocked(g) {
		return g.deadline.Sub(h.clock.Now())
	}
	return 0
}

// Lost returns a channel closed the moment the current lease can no longer
// be trusted: its local deadline passed, the store said it is gone, or it
// was released. A handle that holds nothing returns a closed channel. Each
// grant has its own channel, so take it after Acquire.
func (h *LockHandle) Lost() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if g := h.grant; g != nil {
		return g.lost
	}
	return closedChan
}

// Close releases the lock if the handle holds it (best effort: a lock
// that cannot be released expires), and makes every later call fail with
// ErrClientClosed. It returns the release's error, unless the store said
// there was nothing to release. The client is left open.
func (h *LockHandle) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	g := h.grant
	if g != nil {
		h.loseLocked(g, errReleased)
	}
	h.mu.Unlock()
	if g == nil {
		return nil
	}
	if err := h.release(ctx, g); err != nil && !definiteLoss(err) {
		return err
	}
	return nil
}
