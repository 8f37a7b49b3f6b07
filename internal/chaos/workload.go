package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftlock/raftlock"
)

// WorkloadConfig describes a workload. The zero values of the optional
// fields take the defaults given with them.
type WorkloadConfig struct {
	// StoreURL is the store every client opens: "raft://a,b,c", or, in
	// tests, "mem://NAME" or "raft+embed:///data/dir". The clients must
	// share one store, so a private "mem://" without a NAME is refused.
	StoreURL string
	// Clients is the number of concurrent clients, each with its own
	// *raftlock.Client and client ID (RunID/c00, RunID/c01, ...). The
	// suite runs 16 or more.
	Clients int
	// HotLocks are the few contended locks most operations go to
	// (RunID/hot/N).
	HotLocks int
	// ColdLocks are the many quiet locks, for throughput (RunID/cold/NNN).
	ColdLocks int
	// TTL is the grant TTL, short enough for leases to expire during
	// faults (2s, say).
	TTL time.Duration
	// Anchors is the number of anchor clients, each holding a lock of its
	// own (RunID/anchor/N) for the whole run, for the lost-grant check.
	Anchors int
	// Seed seeds the clients' choices.
	Seed int64
	// Logf receives progress and findings; nil discards them.
	Logf func(format string, args ...any)

	// AnchorTTL is the anchors' TTL, long enough to outlast a fault.
	// Default 30s.
	AnchorTTL time.Duration
	// AnchorRenewEvery is how often an anchor renews. Default AnchorTTL/10.
	AnchorRenewEvery time.Duration
	// RequestTimeout bounds each attempt of a request (the client retries
	// the retryable failures). Default 1s.
	RequestTimeout time.Duration
	// ThinkTime is a client's mean pause between two operations; it sets
	// the pace, and with it the size of the history to check. Default 2ms.
	ThinkTime time.Duration
	// SafetyMargin is the share of the TTL a holder keeps back from its
	// local deadline, in (0, 0.5]. Default 0.05.
	SafetyMargin float64
	// RunID prefixes every lock and client ID, so that runs on one store
	// do not meet. Default: random.
	RunID string
}

// Report counts what a workload did.
type Report struct {
	// Ops counts operations by kind: acquire (without waiting), wait,
	// wait_cancel (a wait whose context was cancelled early), renew,
	// release, info.
	Ops map[string]int
	// Outcomes counts operations by outcome: ok, fail (a definite
	// refusal), unknown.
	Outcomes map[string]int
	// Writes is how many writes the protected resource accepted.
	Writes int
	// WritesLeaseOver is how many writes were not made because the
	// holder's local lease had run out.
	WritesLeaseOver int
	// StaleWrites is how many writes the resource refused for a stale
	// token (each is also a violation).
	StaleWrites int
	// Grants is how many grants clients were acknowledged.
	Grants int
	// AnchorRenewals is how many anchor renewals succeeded.
	AnchorRenewals int
	// LostGrants is how many lost grants were found.
	LostGrants int
}

// String formats the counts on one line, for a log.
func (r Report) String() string {
	kv := func(m map[string]int) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s=%d", k, m[k])
		}
		return strings.Join(parts, " ")
	}
	return fmt.Sprintf("ops[%s] outcomes[%s] grants=%d writes=%d (lease over %d, stale %d) anchor renewals=%d lost grants=%d",
		kv(r.Ops), kv(r.Outcomes), r.Grants, r.Writes, r.WritesLeaseOver, r.StaleWrites, r.AnchorRenewals, r.LostGrants)
}

// Workload is a set of clients that take, hold, renew and release locks
// on one store, write to a protected resource while they hold them, and
// record every operation for the checkers.
type Workload struct {
	cfg        WorkloadConfig
	logf       func(string, ...any)
	hot, cold  []string
	checkerIdx int // the index of the client CheckAnchors reads with
	hist       *history
	res        *Resource
	anchors    []*anchor

	started  atomic.Bool
	renewals atomic.Int64

	// checkMu serialises anchor checks, and guards checker: the client
	// they read with, open while Run runs.
	checkMu sync.Mutex
	checker *raftlock.Client

	mu     sync.Mutex
	losses []*LostGrant
}

// cleanupTimeout bounds the end of a run: the final anchor check and the
// releases.
const cleanupTimeout = 15 * time.Second

// NewWorkload checks cfg and prepares a workload; Run starts it.
func NewWorkload(cfg WorkloadConfig) (*Workload, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	w := &Workload{cfg: cfg, logf: cfg.Logf}
	p := cfg.RunID + "/"
	for i := range cfg.HotLocks {
		w.hot = append(w.hot, fmt.Sprintf("%shot/%d", p, i))
	}
	for i := range cfg.ColdLocks {
		w.cold = append(w.cold, fmt.Sprintf("%scold/%03d", p, i))
	}
	var names []string
	for i := range cfg.Clients {
		names = append(names, fmt.Sprintf("%sc%02d", p, i))
	}
	for i := range cfg.Anchors {
		names = append(names, fmt.Sprintf("%sanchor%d", p, i))
	}
	w.checkerIdx = len(names)
	names = append(names, p+"checker")
	w.hist = newHistory(names)
	w.res = NewResource(w.hist.now)
	for i := range cfg.Anchors {
		idx := cfg.Clients + i
		w.anchors = append(w.anchors, &anchor{
			caller: caller{w: w, idx: idx, id: names[idx]},
			lockID: fmt.Sprintf("%sanchor/%d", p, i),
		})
	}
	return w, nil
}

func (c *WorkloadConfig) fill() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("chaos: workload: "+format, args...)
	}
	u, err := url.Parse(c.StoreURL)
	switch {
	case c.StoreURL == "" || err != nil:
		return bad("StoreURL %q is not a store URL", c.StoreURL)
	case strings.EqualFold(u.Scheme, "mem") && u.Host == "":
		return bad("%q opens a private store per client; name it (mem://NAME) so that the clients share it", c.StoreURL)
	case c.Clients < 1 || c.HotLocks < 1 || c.ColdLocks < 0 || c.Anchors < 0:
		return bad("want Clients >= 1, HotLocks >= 1, ColdLocks >= 0, Anchors >= 0")
	case c.Clients+c.Anchors+1 > maxClients:
		return bad("%d clients and anchors, more than %d", c.Clients+c.Anchors, maxClients-1)
	case c.TTL <= 0:
		return bad("TTL %v is not positive", c.TTL)
	case c.SafetyMargin < 0 || c.SafetyMargin > 0.5:
		return bad("SafetyMargin %v is outside (0, 0.5]", c.SafetyMargin)
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.AnchorTTL <= 0 {
		c.AnchorTTL = 30 * time.Second
	}
	if c.AnchorRenewEvery <= 0 {
		c.AnchorRenewEvery = c.AnchorTTL / 10
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = time.Second
	}
	if c.ThinkTime <= 0 {
		c.ThinkTime = 2 * time.Millisecond
	}
	if c.SafetyMargin == 0 {
		c.SafetyMargin = 0.05
	}
	if c.RunID == "" {
		var b [3]byte
		_, _ = rand.Read(b[:])
		c.RunID = "run-" + hex.EncodeToString(b[:])
	}
	return nil
}

// deadline is the local end of a lease of ttl whose request was sent at
// call.
func (w *Workload) deadline(call int64, ttl time.Duration) int64 {
	return call + int64(ttl) - int64(float64(ttl)*w.cfg.SafetyMargin)
}

// Run opens the clients and runs them until ctx ends. Then it stops them,
// releases what the workers hold (best effort, within cleanupTimeout),
// checks the anchors once more (after a CheckAnchors in progress, if any)
// and releases them, and closes every client, so that no goroutine of the
// workload outlives it. The last anchor check retries until the store
// answers, for as long as the anchors' local leases run (most of
// AnchorTTL): faults still being healed when ctx ends delay Run's return,
// they do not skip the check. Operations cut short by ctx are recorded
// with unknown outcomes. Run fails only when the clients cannot be
// opened; a workload runs once.
func (w *Workload) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("chaos: a workload runs once")
	}
	clients, err := w.open(ctx)
	if err != nil {
		return err
	}
	workers := make([]*worker, w.cfg.Clients)
	for i := range workers {
		workers[i] = newWorker(w, i, clients[i])
	}
	for i, a := range w.anchors {
		a.cl = clients[w.cfg.Clients+i]
	}
	w.checkMu.Lock()
	w.checker = clients[w.checkerIdx]
	w.checkMu.Unlock()
	w.logf("workload %s: %d clients, %d hot and %d cold locks, %d anchors, TTL %v, seed %d",
		w.cfg.RunID, w.cfg.Clients, w.cfg.HotLocks, w.cfg.ColdLocks, w.cfg.Anchors, w.cfg.TTL, w.cfg.Seed)

	var wg sync.WaitGroup
	for _, k := range workers {
		wg.Go(func() { k.run(ctx) })
	}
	for _, a := range w.anchors {
		wg.Go(func() { a.run(ctx) })
	}
	wg.Wait()

	// The end. ctx is over, so the releases and the last anchor check get
	// contexts of their own. The faults may still be healing: the check
	// retries until the store answers, which the anchors' leases bound
	// (they are no longer renewed), and only then are the anchors
	// released.
	base := context.WithoutCancel(ctx)
	rctx, cancel := context.WithTimeout(base, cleanupTimeout)
	defer cancel()
	for _, k := range workers {
		wg.Go(func() { k.releaseAll(rctx) })
	}
	actx, acancel := context.WithTimeout(base, w.cfg.AnchorTTL)
	defer acancel()
	w.checkMu.Lock()
	if errs := w.verifyAnchors(actx, w.checker); len(errs) > 0 {
		w.logf("final anchor check: %v", errors.Join(errs...))
	}
	w.checker = nil
	w.checkMu.Unlock()
	actx, acancel = context.WithTimeout(base, cleanupTimeout)
	defer acancel()
	for _, a := range w.anchors {
		wg.Go(func() { a.release(actx) })
	}
	wg.Wait()
	for _, c := range clients {
		_ = c.Close()
	}
	w.logf("workload %s: %v", w.cfg.RunID, w.Report())
	return nil
}

// open opens one client per worker, per anchor, and the checker's.
func (w *Workload) open(ctx context.Context) ([]*raftlock.Client, error) {
	n := w.checkerIdx + 1
	clients := make([]*raftlock.Client, 0, n)
	for range n {
		c, err := raftlock.NewRaftLockClientBuilder(nil).
			WithURL(w.cfg.StoreURL).
			WithTimeouts(10*time.Second, w.cfg.RequestTimeout).
			WithRetryOptions(4, 20*time.Millisecond, 400*time.Millisecond).
			WithMetrics(false).
			WithLeaseSafetyFactor(w.cfg.SafetyMargin).
			BuildClient(ctx)
		if err != nil {
			for _, c := range clients {
				_ = c.Close()
			}
			return nil, fmt.Errorf("chaos: opening client %d of %d on %s: %w", len(clients)+1, n, w.cfg.StoreURL, err)
		}
		clients = append(clients, c)
	}
	return clients, nil
}

// Start is the moment the history's times count from: an operation's
// call and return times, and the times in violations and lost grants, are
// durations since Start, read from the monotonic clock.
func (w *Workload) Start() time.Time { return w.hist.start }

// Report counts what the workload did so far.
func (w *Workload) Report() Report {
	r := Report{Ops: make(map[string]int), Outcomes: make(map[string]int)}
	for _, o := range w.hist.snapshot() {
		r.Ops[o.mode]++
		r.Outcomes[o.outcome.String()]++
	}
	r.Writes, r.WritesLeaseOver, r.StaleWrites, r.Grants = w.res.Counts()
	r.AnchorRenewals = int(w.renewals.Load())
	w.mu.Lock()
	r.LostGrants = len(w.losses)
	w.mu.Unlock()
	return r
}

// caller runs and records operations as one client.
type caller struct {
	w   *Workload
	idx int
	id  string
	cl  *raftlock.Client
}

// acquire runs and records one Acquire; mode is modeTry, modeWait or
// modeWaitCancel.
func (c *caller) acquire(ctx context.Context, lockID string, ttl time.Duration, mode string, waitTimeout time.Duration) op {
	req := &raftlock.AcquireRequest{LockID: lockID, ClientID: c.id, TTL: ttl, Wait: mode != modeTry, WaitTimeout: waitTimeout}
	o := op{client: c.idx, kind: opAcquire, mode: mode, lockID: lockID, wait: req.Wait, ttl: int64(ttl), call: c.w.hist.now()}
	res, err := c.cl.Acquire(ctx, req)
	o.ret = c.w.hist.now()
	o.outcome, o.code, o.attempts = classify(opAcquire, err)
	if err == nil {
		o.gotVersion = res.Version
	}
	c.w.hist.add(o)
	return o
}

// renew runs and records one Renew.
func (c *caller) renew(ctx context.Context, lockID string, version int64, ttl time.Duration) op {
	o := op{client: c.idx, kind: opRenew, mode: modeRenew, lockID: lockID, version: version, ttl: int64(ttl), call: c.w.hist.now()}
	res, err := c.cl.Renew(ctx, &raftlock.RenewRequest{LockID: lockID, ClientID: c.id, Version: version, TTL: ttl})
	o.ret = c.w.hist.now()
	o.outcome, o.code, o.attempts = classify(opRenew, err)
	if err == nil {
		o.gotVersion = res.Version
	}
	c.w.hist.add(o)
	return o
}

// release runs and records one Release.
func (c *caller) release(ctx context.Context, lockID string, version int64) op {
	o := op{client: c.idx, kind: opRelease, mode: modeRelease, lockID: lockID, version: version, call: c.w.hist.now()}
	_, err := c.cl.Release(ctx, &raftlock.ReleaseRequest{LockID: lockID, ClientID: c.id, Version: version})
	o.ret = c.w.hist.now()
	o.outcome, o.code, o.attempts = classify(opRelease, err)
	c.w.hist.add(o)
	return o
}

// info runs and records one GetLockInfo.
func (c *caller) info(ctx context.Context, lockID string) (*raftlock.LockInfo, op) {
	o := op{client: c.idx, kind: opInfo, mode: modeInfo, lockID: lockID, call: c.w.hist.now()}
	info, err := c.cl.GetLockInfo(ctx, &raftlock.GetLockInfoRequest{LockID: lockID})
	o.ret = c.w.hist.now()
	o.outcome, o.code, o.attempts = classify(opInfo, err)
	if err == nil {
		o.held = info.Held
		o.owner = ownerNone
		if info.Held {
			o.owner = c.w.hist.owner(info.Owner)
			o.gotVersion = info.Version
		}
	}
	c.w.hist.add(o)
	return info, o
}
