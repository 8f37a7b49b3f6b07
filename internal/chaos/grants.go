package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/backend"
)

// maxHeld is how many locks a worker holds at once.
const maxHeld = 2

// holding is a grant a worker holds and relies on.
type holding struct {
	lockID  string
	version int64
	lease   *Lease
	until   int64 // when the worker means to let go
}

// releaseKey names a grant a worker sent a release for.
type releaseKey struct {
	lockID  string
	version int64
}

// worker is one workload client: it loops with its own random source,
// mixing acquires (trying, waiting, waiting with an early cancel), renewals,
// releases, reads and writes to the resource under the leases it holds.
type worker struct {
	caller
	rng  *rand.Rand
	held []*holding
	// unsure are grants this worker sent a release for without learning
	// whether it was applied. The release may still be applied at any
	// moment (a request can be delayed in the network), so an Acquire that
	// answers with one of these grants (the store saying "you already hold
	// it") gives no lease to rely on.
	unsure map[releaseKey]bool
}

func newWorker(w *Workload, i int, cl *raftlock.Client) *worker {
	return &worker{
		caller: caller{w: w, idx: i, id: w.hist.names[i], cl: cl},
		rng:    rand.New(rand.NewPCG(uint64(w.cfg.Seed), uint64(i)+1)),
		unsure: make(map[releaseKey]bool),
	}
}

func (k *worker) run(ctx context.Context) {
	think := int64(k.w.cfg.ThinkTime)
	for ctx.Err() == nil {
		k.tick(ctx)
		sleepCtx(ctx, time.Duration(k.rng.Int64N(2*think+1)))
	}
}

// tick does one thing.
func (k *worker) tick(ctx context.Context) {
	k.dropLapsed(ctx)
	r := k.rng.Float64()
	switch {
	case len(k.held) > 0 && r < 0.6:
		k.act(ctx, k.held[k.rng.IntN(len(k.held))])
	case len(k.held) < maxHeld && r < 0.88:
		k.take(ctx)
	default:
		k.read(ctx)
	}
}

// pickLock chooses a lock the worker does not hold: mostly a hot one.
func (k *worker) pickLock() string {
	for range 8 {
		var id string
		if len(k.w.cold) == 0 || k.rng.Float64() < 0.8 {
			id = k.w.hot[k.rng.IntN(len(k.w.hot))]
		} else {
			id = k.w.cold[k.rng.IntN(len(k.w.cold))]
		}
		if !k.holds(id) {
			return id
		}
	}
	return ""
}

func (k *worker) holds(lockID string) bool {
	return slices.ContainsFunc(k.held, func(h *holding) bool { return h.lockID == lockID })
}

// take acquires a lock: without waiting, waiting up to a random timeout,
// or waiting with a context cancelled after a random short while (which
// the store may have granted just before the cancel).
func (k *worker) take(ctx context.Context) {
	lockID := k.pickLock()
	if lockID == "" {
		return
	}
	ttl := k.w.cfg.TTL
	var o op
	switch r := k.rng.Float64(); {
	case r < 0.45:
		o = k.acquire(ctx, lockID, ttl, modeTry, 0)
	case r < 0.8:
		wait := time.Duration(k.rng.Int64N(int64(ttl/2)+1)) + ttl/40
		o = k.acquire(ctx, lockID, ttl, modeWait, wait)
	default:
		wctx, cancel := context.WithCancel(ctx)
		t := time.AfterFunc(time.Duration(k.rng.Int64N(int64(ttl/10)+1)), cancel)
		o = k.acquire(wctx, lockID, ttl, modeWaitCancel, ttl)
		t.Stop()
		cancel()
	}
	if o.outcome == outOK {
		k.granted(ctx, o)
	}
}

// granted takes on a grant the store acknowledged in o.
func (k *worker) granted(ctx context.Context, o op) {
	ttl := k.w.cfg.TTL
	if k.unsure[releaseKey{o.lockID, o.gotVersion}] {
		// A grant this worker may have released already: give it back
		// rather than rely on it.
		k.giveBack(ctx, o.lockID, o.gotVersion)
		return
	}
	lease := k.w.res.Grant(o.lockID, k.id, o.gotVersion, o.call, o.ret, k.w.deadline(o.call, ttl))
	ok, dl := k.w.res.Valid(lease)
	if !ok {
		// Granted out of the queue after the lease, counted from the
		// waiting call, had run out: nothing to rely on.
		k.w.res.End(lease, o.ret)
		k.giveBack(ctx, o.lockID, o.gotVersion)
		return
	}
	h := &holding{lockID: o.lockID, version: o.gotVersion, lease: lease, until: o.ret + k.holdFor()}
	k.held = append(k.held, h)
	if dl-k.w.hist.now() < int64(ttl)/2 && !k.renewHeld(ctx, h) {
		// Little of the lease was left (a grant out of the queue), and
		// renewing it did not extend it.
		return
	}
	k.write(h)
}

// holdFor is how long the worker means to keep a grant: mostly briefly
// (a few tens of milliseconds, so that the contended locks change hands
// often), sometimes for longer than the TTL, which takes renewals.
func (k *worker) holdFor() int64 {
	ttl := int64(k.w.cfg.TTL)
	if k.rng.Float64() < 0.04 {
		return ttl/2 + k.rng.Int64N(ttl)
	}
	return k.rng.Int64N(min(ttl/4, int64(50*time.Millisecond)) + 1)
}

// act does something with a held lock: write under it, renew it, or let
// it go (usually releasing it, sometimes abandoning it to expire).
func (k *worker) act(ctx context.Context, h *holding) {
	now := k.w.hist.now()
	_, dl := k.w.res.Valid(h.lease)
	switch {
	case now >= h.until && k.rng.Float64() < 0.01:
		k.drop(h)
		k.w.res.End(h.lease, now) // abandoned: the store expires it
	case now >= h.until:
		k.letGo(ctx, h)
	case dl-now < int64(k.w.cfg.TTL)/3 || k.rng.Float64() < 0.15:
		if k.renewHeld(ctx, h) {
			k.write(h)
		}
	default:
		k.write(h)
	}
}

// write writes to the resource under h's lease.
func (k *worker) write(h *holding) {
	_ = k.w.res.Write(h.lease) // ErrLeaseOver is not a finding; ErrStaleToken is recorded
}

// renewHeld renews h and reports whether the worker still holds it.
func (k *worker) renewHeld(ctx context.Context, h *holding) bool {
	ttl := k.w.cfg.TTL
	o := k.renew(ctx, h.lockID, h.version, ttl)
	switch o.outcome {
	case outOK:
		if k.w.res.Extend(h.lease, o.ret, k.w.deadline(o.call, ttl)) {
			return true
		}
		// Acknowledged after the local deadline: the lease had already
		// been given up locally. The grant is still the worker's in the
		// store, so give it back.
		k.drop(h)
		k.giveBack(ctx, h.lockID, h.version)
		return false
	case outFail:
		if lostCode(o.code) {
			// The store says the grant is gone; the model judges whether
			// it could be.
			k.drop(h)
			k.w.res.End(h.lease, o.call)
			return false
		}
	}
	return true // unknown: the lease runs on to its deadline
}

// lostCode lists the refusals that say a grant is gone.
func lostCode(code backend.Code) bool {
	return code == backend.CodeNotFound || code == backend.CodeNotLockOwner || code == backend.CodeVersionMismatch
}

// letGo releases h: the lease ends when the release is sent.
func (k *worker) letGo(ctx context.Context, h *holding) {
	k.drop(h)
	k.w.res.End(h.lease, k.w.hist.now())
	k.giveBack(ctx, h.lockID, h.version)
}

// giveBack releases a grant the worker does not rely on.
func (k *worker) giveBack(ctx context.Context, lockID string, version int64) {
	if o := k.release(ctx, lockID, version); o.outcome == outUnknown {
		k.unsure[releaseKey{lockID, version}] = true
	}
}

// drop forgets h.
func (k *worker) drop(h *holding) {
	k.held = slices.DeleteFunc(k.held, func(x *holding) bool { return x == h })
}

// dropLapsed lets go of the grants whose local lease ran out without a
// renewal: half of them are released, the others left to expire.
func (k *worker) dropLapsed(ctx context.Context) {
	for _, h := range slices.Clone(k.held) {
		if ok, _ := k.w.res.Valid(h.lease); ok {
			continue
		}
		k.drop(h)
		k.w.res.End(h.lease, k.w.hist.now())
		if k.rng.Float64() < 0.5 {
			k.giveBack(ctx, h.lockID, h.version)
		}
	}
}

// read reads a lock's state: mostly a hot one.
func (k *worker) read(ctx context.Context) {
	var id string
	switch r := k.rng.Float64(); {
	case r < 0.7 || len(k.w.cold) == 0 && len(k.w.anchors) == 0:
		id = k.w.hot[k.rng.IntN(len(k.w.hot))]
	case r < 0.95 && len(k.w.cold) > 0 || len(k.w.anchors) == 0:
		id = k.w.cold[k.rng.IntN(len(k.w.cold))]
	default:
		id = k.w.anchors[k.rng.IntN(len(k.w.anchors))].lockID
	}
	k.info(ctx, id)
}

// releaseAll releases every grant the worker holds, at the end of a run.
func (k *worker) releaseAll(ctx context.Context) {
	for _, h := range slices.Clone(k.held) {
		k.letGo(ctx, h)
	}
}

// anchor is a client that holds one lock for the whole run, renewing it
// well before its long TTL runs out, so that a grant the store forgets
// (after a crash, a failover, a snapshot) shows up.
type anchor struct {
	caller
	lockID string

	mu    sync.Mutex
	state anchorState
	lease *Lease
}

// anchorState is what an anchor holds, as CheckAnchors sees it.
type anchorState struct {
	holding  bool
	version  int64
	ack      int64
	deadline int64
	gen      uint64 // changes with every new grant and every loss
}

func (a *anchor) snapshot() anchorState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

func (a *anchor) run(ctx context.Context) {
	ttl, every := a.w.cfg.AnchorTTL, a.w.cfg.AnchorRenewEvery
	for ctx.Err() == nil {
		if !a.snapshot().holding {
			o := a.acquire(ctx, a.lockID, ttl, modeTry, 0)
			if o.outcome != outOK || !a.install(o) {
				sleepCtx(ctx, 200*time.Millisecond)
			}
			continue
		}
		if sleepCtx(ctx, every) {
			a.renewOnce(ctx)
		}
	}
}

// install takes on the grant acknowledged in o, and reports whether its
// lease runs.
func (a *anchor) install(o op) bool {
	dl := a.w.deadline(o.call, a.w.cfg.AnchorTTL)
	lease := a.w.res.Grant(a.lockID, a.id, o.gotVersion, o.call, o.ret, dl)
	if o.ret >= dl {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lease = lease
	a.state = anchorState{holding: true, version: o.gotVersion, ack: o.ret, deadline: dl, gen: a.state.gen + 1}
	return true
}

// lose ends the anchor's grant at at.
func (a *anchor) lose(at int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lease != nil {
		a.w.res.End(a.lease, at)
	}
	a.state = anchorState{gen: a.state.gen + 1}
}

// renewOnce renews the anchor's grant. A refusal that says the grant is
// gone while the lease ran for the whole renewal is a lost grant.
func (a *anchor) renewOnce(ctx context.Context) {
	ttl := a.w.cfg.AnchorTTL
	s := a.snapshot()
	if a.w.hist.now() >= s.deadline {
		a.lose(s.deadline) // it lapsed locally, during a fault; not a finding
		return
	}
	o := a.renew(ctx, a.lockID, s.version, ttl)
	switch o.outcome {
	case outOK:
		a.w.renewals.Add(1)
		a.mu.Lock()
		extended := a.w.res.Extend(a.lease, o.ret, a.w.deadline(o.call, ttl))
		if extended {
			_, a.state.deadline = a.w.res.Valid(a.lease)
		}
		a.mu.Unlock()
		if !extended {
			a.lose(s.deadline)
		}
	case outFail:
		if !lostCode(o.code) {
			return
		}
		if o.ret < s.deadline {
			a.w.lost(&LostGrant{LockID: a.lockID, ClientID: a.id, Version: s.version, Detail: fmt.Sprintf(
				"renewal at %v..%v refused (%s) while the lease, acknowledged at %v, ran until %v",
				time.Duration(o.call), time.Duration(o.ret), o.code, time.Duration(s.ack), time.Duration(s.deadline))})
		}
		a.lose(o.call)
	}
}

// release gives the anchor's lock back at the end of a run.
func (a *anchor) release(ctx context.Context) {
	s := a.snapshot()
	if !s.holding {
		return
	}
	a.lose(a.w.hist.now())
	a.caller.release(ctx, a.lockID, s.version)
}
