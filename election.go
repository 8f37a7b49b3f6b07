package raftlock

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Callbacks are what an Election tells its owner. Each may be nil. They are
// called in the order the events happened, one at a time, from a goroutine
// of the Election's own, and never while it holds an internal lock, so a
// callback may call the Election's methods (Campaign after OnLost, say),
// except Close, which waits for the callbacks: start it in a goroutine of
// its own instead. While a callback runs, the ones after it wait.
type Callbacks struct {
	// OnElected is called when this candidate becomes leader, with the
	// fencing token of its term.
	OnElected func(token int64)
	// OnLost is called when a term of this candidate ends: with nil after
	// Resign or Close, else with an error wrapping ErrLockLost and the
	// cause (the lease ran out before a renewal was confirmed, or the store
	// said the grant is gone).
	OnLost func(err error)
	// OnNewLeader is called when the Election learns of a leader other
	// than the last one it knew of ("" for none): from its own campaign,
	// from Leader, and continuously while an Observe runs.
	OnNewLeader func(leaderID string)
}

// ElectionOption configures an Election: WithClientID, WithCallbacks,
// WithRenewInterval, WithObserveInterval, WithClock.
type ElectionOption interface{ applyElection(*electionConfig) }

type electionConfig struct {
	clock           Clock
	clientID        string
	callbacks       Callbacks
	renewInterval   time.Duration
	observeInterval time.Duration
}

type electionOption func(*electionConfig)

func (o electionOption) applyElection(c *electionConfig) { o(c) }

// WithClientID sets the candidate's client ID, the name other candidates
// see as leader; by default it is a new unique ID (NewClientID). Two
// candidates with one ID are one candidate to the store.
func WithClientID(id string) ElectionOption {
	return electionOption(func(c *electionConfig) { c.clientID = id })
}

// WithCallbacks sets the callbacks of the Election.
func WithCallbacks(cb Callbacks) ElectionOption {
	return electionOption(func(c *electionConfig) { c.callbacks = cb })
}

// WithRenewInterval sets how often a keep-alive renews the leader's lease
// (default a third of the TTL). It must be shorter than the TTL.
func WithRenewInterval(d time.Duration) ElectionOption {
	return electionOption(func(c *electionConfig) { c.renewInterval = d })
}

// WithObserveInterval sets how often Observe asks the store who leads
// (default a quarter of the TTL, between 50ms and 1s).
func WithObserveInterval(d time.Duration) ElectionOption {
	return electionOption(func(c *electionConfig) { c.observeInterval = d })
}

// Election elects one leader among candidates for a service in a domain
// ("billing" in "production"), through any store: the leader is the holder
// of one lock, its term is that lock's grant, and the term's fencing token
// is the grant's Version. Leadership is judged by the local clock, not by
// a flag: IsLeader turns false the moment the lease's local deadline
// passes, even if the store cannot be reached to say so.
//
// A candidate campaigns (TryAcquire, or Campaign to wait for its turn),
// then keeps its lease alive with StartKeepAlive while it leads. When the
// term ends (Resign, or the lease is lost), it may campaign again and start
// a new keep-alive. An Election is safe for concurrent use.
type Election struct {
	client  RaftLockClient
	service string
	domain  string
	ttl     time.Duration
	cfg     electionConfig
	h       *LockHandle
	events  *dispatcher

	mu      sync.Mutex
	closed  bool
	quit    chan struct{}  // closed by Close: ends observers
	renewer *AutoRenewer   // the running keep-alive, if any
	term    *grant         // the grant whose election was announced
	leader  string         // the last leader the Election learned of
	wg      sync.WaitGroup // term watchers and observers
}

// NewElection returns a candidate for service in domain, with a leader's
// lease of ttl. Service and domain must be non-empty, and service must not
// contain "/" (so that every pair names its own lock,
// "election/<service>/<domain>"); a bad argument or option fails with
// ErrInvalidArgument, and a TTL the store does not take with
// ErrInvalidTTL.
func NewElection(client RaftLockClient, service, domain string, ttl time.Duration, opts ...ElectionOption) (*Election, error) {
	switch {
	case client == nil:
		return nil, invalid("NewElection: nil client")
	case service == "" || domain == "":
		return nil, invalid("NewElection: empty service or domain")
	case strings.Contains(service, "/"):
		return nil, invalid("NewElection: service %q contains a slash", service)
	}
	cfg := electionConfig{renewInterval: ttl / 3, observeInterval: min(max(ttl/4, 50*time.Millisecond), time.Second)}
	for _, o := range opts {
		if o != nil {
			o.applyElection(&cfg)
		}
	}
	if cfg.observeInterval <= 0 {
		return nil, invalid("NewElection: observe interval %v is not positive", cfg.observeInterval)
	}
	h, err := NewLockHandle(client, "election/"+service+"/"+domain, cfg.clientID, WithClock(cfg.clock))
	if err != nil {
		return nil, err
	}
	cfg.clock = h.clock
	// Check the TTL and the interval now rather than at the first
	// StartKeepAlive.
	if _, err := NewAutoRenewer(h, cfg.renewInterval, ttl); err != nil {
		return nil, err
	}
	return &Election{
		client: client, service: service, domain: domain, ttl: ttl, cfg: cfg, h: h,
		events: newDispatcher(), quit: make(chan struct{}),
	}, nil
}

// ClientID is this candidate's client ID.
func (e *Election) ClientID() string { return e.h.clientID }

// LockID is the lock the election is held on.
func (e *Election) LockID() string { return e.h.lockID }

// TryAcquire makes this candidate leader if nobody is, and reports whether
// it leads now; a leader that tries again keeps its term. Another leader
// is (false, nil); a failure to reach the store is an error.
func (e *Election) TryAcquire(ctx context.Context) (bool, error) {
	if err := e.open(); err != nil {
		return false, err
	}
	err := e.h.Acquire(ctx, e.ttl, false)
	var le *Error
	switch {
	case err == nil:
		e.elected()
		return true, nil
	case errors.Is(err, ErrLockHeld):
		if errors.As(err, &le) && le.Owner != "" {
			e.noteLeader(le.Owner)
		}
		return false, nil
	}
	return false, err
}

// Campaign waits until this candidate leads, ctx ends, or the store's wait
// timeout passes (ErrTimeout: campaign again). On a store with server-side
// wait the candidate queues, and the lock comes to it as soon as the
// leader resigns or its lease runs out; elsewhere the client polls.
func (e *Election) Campaign(ctx context.Context) error {
	if err := e.open(); err != nil {
		return err
	}
	if err := e.h.Acquire(ctx, e.ttl, true); err != nil {
		return err
	}
	e.elected()
	return nil
}

// elected announces the handle's grant as a new term, unless it was.
func (e *Election) elected() {
	g := e.h.current()
	if g == nil {
		return // lost already; its watcher (if any) reports it
	}
	e.mu.Lock()
	if e.term == g || e.closed {
		e.mu.Unlock()
		return
	}
	e.term = g
	token := g.version
	e.wg.Add(1)
	e.mu.Unlock()
	if f := e.cfg.callbacks.OnElected; f != nil {
		e.events.post(func() { f(token) })
	}
	e.noteLeader(e.h.clientID)
	go e.watchTerm(g)
}

// watchTerm reports the end of term g.
func (e *Election) watchTerm(g *grant) {
	defer e.wg.Done()
	<-g.lost
	e.h.mu.Lock()
	cause := g.cause
	e.h.mu.Unlock()
	var err error
	if cause != errReleased {
		err = fmt.Errorf("%w: %s: %w", ErrLockLost, e.h.lockID, cause)
	}
	if f := e.cfg.callbacks.OnLost; f != nil {
		e.events.post(func() { f(err) })
	}
}

// noteLeader records id as the leader, calling OnNewLeader if it changed.
func (e *Election) noteLeader(id string) {
	e.mu.Lock()
	changed := e.leader != id
	e.leader = id
	e.mu.Unlock()
	if f := e.cfg.callbacks.OnNewLeader; changed && f != nil {
		e.events.post(func() { f(id) })
	}
}

// StartKeepAlive renews the leader's lease in the background until the term
// ends, StopKeepAlive or Resign is called, or ctx ends. It fails with
// ErrNotHeld when this candidate does not lead; a keep-alive already
// running is left as it is. After a term is lost, campaign again and start
// a new keep-alive.
func (e *Election) StartKeepAlive(ctx context.Context) error {
	if err := e.open(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.renewer; r != nil {
		select {
		case <-r.Done():
		default:
			return nil
		}
	}
	r, err := NewAutoRenewer(e.h, e.cfg.renewInterval, e.ttl)
	if err != nil {
		return err
	}
	if _, err := r.Start(ctx); err != nil {
		return err
	}
	e.renewer = r
	return nil
}

// StopKeepAlive stops the keep-alive, if one runs, and returns once no
// renewal is in flight (one under way is abandoned, never waited for). The
// candidate stays leader until its lease runs out: Resign to step down at
// once.
func (e *Election) StopKeepAlive() {
	e.mu.Lock()
	r := e.renewer
	e.renewer = nil
	e.mu.Unlock()
	if r != nil {
		r.Stop()
	}
}

// Resign stops the keep-alive and gives the leadership up, so that a
// waiting candidate takes over at once. A candidate that does not lead has
// nothing to resign and gets nil.
func (e *Election) Resign(ctx context.Context) error {
	e.StopKeepAlive()
	err := e.h.Release(ctx)
	if err == nil || errors.Is(err, ErrNotHeld) || definiteLoss(err) {
		return nil
	}
	return err
}

// IsLeader reports whether this candidate leads and its lease still runs
// on the local clock. It asks nothing of the store.
func (e *Election) IsLeader() bool { return e.h.IsHeld() }

// RemainingLease is how long this candidate may still act as leader: it
// counts down between renewals, and is zero when it does not lead.
func (e *Election) RemainingLease() time.Duration { return e.h.RemainingLease() }

// Token is the fencing token of the current term, or 0 when this candidate
// does not lead. Send it with every write only the leader may make.
func (e *Election) Token() int64 { return e.h.Token() }

// Lost returns a channel closed when the current term ends (a closed one
// when this candidate does not lead).
func (e *Election) Lost() <-chan struct{} { return e.h.Lost() }

// Leader asks the store who leads now: the leader's client ID, or "" when
// nobody does.
func (e *Election) Leader(ctx context.Context) (string, error) {
	if err := e.open(); err != nil {
		return "", err
	}
	info, err := e.client.GetLockInfo(ctx, &GetLockInfoRequest{LockID: e.h.lockID})
	var id string
	switch {
	case errors.Is(err, ErrLockNotFound):
	case err != nil:
		return "", err
	case info.Held:
		id = info.Owner
	}
	e.noteLeader(id)
	return id, nil
}

// Observe returns a channel that receives who leads (a client ID, or ""
// for nobody) at once and then each time that changes, asking the store
// every observe interval. A reader that falls behind gets the latest
// leader, not every step. The channel is closed when ctx ends or the
// Election closes.
func (e *Election) Observe(ctx context.Context) <-chan string {
	ch := make(chan string, 1)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		close(ch)
		return ch
	}
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		defer close(ch)
		last, first := "", true
		for {
			if id, err := e.Leader(ctx); err == nil && (first || id != last) {
				last, first = id, false
				select {
				case <-ch: // drop what the reader has not taken
				default:
				}
				ch <- id
			}
			if !e.sleep(ctx, e.cfg.observeInterval) {
				return
			}
		}
	}()
	return ch
}

// sleep waits d on the Election's clock; false if ctx ended or the
// Election closed first.
func (e *Election) sleep(ctx context.Context, d time.Duration) bool {
	fired := make(chan struct{})
	t := e.cfg.clock.AfterFunc(d, func() { close(fired) })
	defer t.Stop()
	select {
	case <-fired:
		return true
	case <-ctx.Done():
	case <-e.quit:
	}
	return false
}

// open fails once the Election is closed.
func (e *Election) open() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return fmt.Errorf("raftlock: election %s is closed: %w", e.h.lockID, ErrClientClosed)
	}
	return nil
}

// Close resigns if this candidate leads (best effort: a lease that cannot
// be given back runs out), stops the keep-alive and every Observe, and
// returns once the callbacks of what happened before have been called (so
// a callback must not call it, see Callbacks). The client is left open.
func (e *Election) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	close(e.quit)
	e.mu.Unlock()
	e.StopKeepAlive()
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	err := e.h.Close(ctx)
	e.wg.Wait()
	e.events.close()
	return err
}

// dispatcher calls functions one at a time, in the order they were
// posted, from a goroutine of its own.
type dispatcher struct {
	mu    sync.Mutex
	queue []func()
	wake  chan struct{}
	quit  chan struct{}
	done  chan struct{}
}

func newDispatcher() *dispatcher {
	d := &dispatcher{wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go d.run()
	return d
}

func (d *dispatcher) post(f func()) {
	d.mu.Lock()
	d.queue = append(d.queue, f)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		batch := d.queue
		d.queue = nil
		d.mu.Unlock()
		for _, f := range batch {
			f()
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-d.wake:
		case <-d.quit:
			d.mu.Lock()
			empty := len(d.queue) == 0
			d.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

// close lets the dispatcher call what was posted, then stop, and waits for
// that.
func (d *dispatcher) close() {
	select {
	case <-d.quit:
	default:
		close(d.quit)
	}
	<-d.done
}
