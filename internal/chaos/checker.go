package chaos

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/backend"
)

// Violation is one breach of a promise found by a checker.
type Violation struct {
	// Kind names the check: token-order, token-reuse, lease-overlap or
	// stale-write (see Resource).
	Kind   string
	LockID string
	Detail string
}

// String formats the violation for a test's log.
func (v Violation) String() string {
	return fmt.Sprintf("%s on %s: %s", v.Kind, v.LockID, v.Detail)
}

// LostGrant is an acknowledged grant that the store no longer knew while
// its holder's local lease ran: a read showed another holder, another
// version or a free lock, or a renewal was refused as not found, not the
// owner or another version.
type LostGrant struct {
	LockID   string
	ClientID string
	Version  int64
	Detail   string
}

// Error describes the lost grant.
func (e *LostGrant) Error() string {
	return fmt.Sprintf("chaos: lost grant: %s held %s at version %d: %s", e.ClientID, e.LockID, e.Version, e.Detail)
}

// CheckFencing returns the violations the protected resource found (see
// Resource). Call it after Run returns, when every lease has ended; called
// during a run, it judges the leases still running up to now.
func (w *Workload) CheckFencing() []Violation { return w.res.Check() }

// CheckLinearizable checks the history recorded so far against the lock
// model (see lockState), one lock ID per partition, the partitions in
// parallel. Call it after Run returns.
//
// timeout bounds the whole check (0 for none). The search is exponential
// in the worst case: when it runs out of time the verdict is
// porcupine.Unknown, which means no violation was found in the time, not
// that there is none. At the workload's default pace a minute's history,
// faults included, checks in well under a second; the search grows with
// the number of operations in flight at once on one lock.
//
// When the verdict is Illegal, the illegal lock IDs are logged and, if
// htmlPath is not empty, porcupine's visualisation of the history (every
// partition, with the longest linearizable prefixes found) is written
// there. Nothing is written for Ok or Unknown: an Unknown search's partial
// linearizations are not evidence of anything. err is not nil only when
// the visualisation could not be written.
func (w *Workload) CheckLinearizable(timeout time.Duration, htmlPath string) (verdict porcupine.CheckResult, err error) {
	return checkLinearizable(w.hist.snapshot(), w.hist.names, timeout, htmlPath, w.logf)
}

func checkLinearizable(ops []op, names []string, timeout time.Duration, htmlPath string, logf func(string, ...any)) (porcupine.CheckResult, error) {
	model := lockModel(names)
	pops := porcupineOps(ops)
	started := time.Now()
	verdict, info := porcupine.CheckOperationsVerbose(model, pops, timeout)
	logf("linearizability: %s, %d operations on %d locks, checked in %v", verdict, len(pops), len(partitionByLock(pops)), time.Since(started).Round(time.Millisecond))
	if verdict != porcupine.Illegal {
		return verdict, nil
	}
	logf("linearizability: illegal histories on %s", strings.Join(illegalLocks(pops, info), ", "))
	if htmlPath == "" {
		return verdict, nil
	}
	if err := porcupine.VisualizePath(model, info, htmlPath); err != nil {
		return verdict, fmt.Errorf("chaos: writing the visualisation: %w", err)
	}
	logf("linearizability: visualisation written to %s", htmlPath)
	return verdict, nil
}

// illegalLocks names the partitions that no linearization covers.
func illegalLocks(pops []porcupine.Operation, info porcupine.LinearizationInfo) []string {
	parts := partitionByLock(pops)
	partials := info.PartialLinearizations()
	var out []string
	for i, p := range parts {
		whole := false
		if i < len(partials) {
			for _, seq := range partials[i] {
				if len(seq) == len(p) {
					whole = true
					break
				}
			}
		}
		if !whole && len(p) > 0 {
			out = append(out, p[0].Input.(modelInput).lockID)
		}
	}
	return out
}

// CheckAnchors is the lost-grant check. Each anchor client holds a lock of
// its own for the whole run and renews it; CheckAnchors reads each lock an
// anchor holds, retrying until the store answers or ctx ends, and reports
// a LostGrant when the store does not show the anchor holding it at the
// acknowledged version although the anchor's local lease ran for the
// whole read. It returns every LostGrant found since the run started
// (by the anchors' own renewals too, and by earlier calls), joined with an
// error for each anchor it could not check before ctx ended; nil when all
// is well.
//
// It may be called at any moment while Run runs, from any goroutine (for
// example by the nemesis after each restart). Run makes the same check
// once more when its context ends, retrying while the faults heal, before
// it releases the anchors; a call after Run returns reads nothing and
// reports what the whole run found, that last check included. An anchor
// whose lease lapsed (it could not renew during a fault) is not checked:
// the store owes it nothing.
func (w *Workload) CheckAnchors(ctx context.Context) error {
	w.checkMu.Lock()
	defer w.checkMu.Unlock()
	var unchecked []error
	if w.checker != nil {
		unchecked = w.verifyAnchors(ctx, w.checker)
	}
	return w.anchorErrors(unchecked)
}

// anchorErrors joins the lost grants found so far with errs.
func (w *Workload) anchorErrors(errs []error) error {
	w.mu.Lock()
	all := make([]error, 0, len(w.losses)+len(errs))
	for _, l := range w.losses {
		all = append(all, l)
	}
	w.mu.Unlock()
	return errors.Join(append(all, errs...)...)
}

// lost records a lost grant.
func (w *Workload) lost(l *LostGrant) {
	w.logf("LOST GRANT: %v", l)
	w.mu.Lock()
	w.losses = append(w.losses, l)
	w.mu.Unlock()
}

// verifyAnchors reads every held anchor lock through cl. w.checkMu is held.
func (w *Workload) verifyAnchors(ctx context.Context, cl *raftlock.Client) []error {
	var unchecked []error
	for _, a := range w.anchors {
		if err := w.verifyAnchor(ctx, cl, a); err != nil {
			unchecked = append(unchecked, err)
		}
	}
	return unchecked
}

// verifyAnchor reads a's lock until the store answers while a's lease
// runs, and records a LostGrant if the answer is wrong. It returns an
// error only when ctx ended first; a lease that lapses first leaves
// nothing to check.
func (w *Workload) verifyAnchor(ctx context.Context, cl *raftlock.Client, a *anchor) error {
	for {
		snap := a.snapshot()
		if !snap.holding {
			return nil // nothing acknowledged to check
		}
		if w.hist.now() >= snap.deadline {
			// The lease lapsed before the store answered (the anchor could
			// not renew it during a fault, or no longer renews it at the
			// end of the run): nothing the store must still show.
			w.logf("anchor check: %s's lease on %s lapsed before the store answered; not checked", a.id, a.lockID)
			return nil
		}
		c := caller{w: w, idx: w.checkerIdx, id: w.hist.names[w.checkerIdx], cl: cl}
		info, o := c.info(ctx, a.lockID)
		now := a.snapshot()
		// Conclusive only if the same grant's lease ran for the whole
		// read: held since before the call, and its deadline as of the
		// call (deadlines only move later while one grant lasts) after
		// the return.
		valid := now.gen == snap.gen && now.holding && snap.deadline > o.ret
		switch {
		case o.outcome == outUnknown:
		case !valid:
		case o.outcome == outFail && o.code == backend.CodeNotFound:
			w.lost(&LostGrant{LockID: a.lockID, ClientID: a.id, Version: snap.version, Detail: fmt.Sprintf(
				"GetLockInfo at %v..%v found the lock free; the lease, acknowledged at %v, ran until %v",
				time.Duration(o.call), time.Duration(o.ret), time.Duration(snap.ack), time.Duration(snap.deadline))})
			return nil
		case o.outcome == outFail:
			return fmt.Errorf("chaos: checking %s: %s", a.lockID, o.code)
		case !info.Held || info.Owner != a.id || info.Version != snap.version:
			w.lost(&LostGrant{LockID: a.lockID, ClientID: a.id, Version: snap.version, Detail: fmt.Sprintf(
				"GetLockInfo at %v..%v found it held=%v by %q at version %d; the lease, acknowledged at %v, ran until %v",
				time.Duration(o.call), time.Duration(o.ret), info.Held, info.Owner, info.Version,
				time.Duration(snap.ack), time.Duration(snap.deadline))})
			return nil
		default:
			return nil
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return fmt.Errorf("chaos: %s not checked: %w", a.lockID, ctx.Err())
		}
	}
}

// sleepCtx waits d or until ctx ends, and reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
