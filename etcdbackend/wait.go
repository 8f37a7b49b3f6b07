package etcdbackend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/raftlock/raftlock/backend"
)

// A waiter is a key like any other under the lock, with a lease of the
// length its grant will have; it holds the lock once every key created
// before it is gone. Its driver keeps the lease alive while it waits (so a
// waiter whose process dies leaves the queue when its lease runs out) and
// watches the deletion of the key created just before its own, as etcd's
// concurrency.Mutex does: a release or an expiry wakes the next waiter
// only, never the whole queue.
//
// Where the watch starts matters for hand-off speed. etcd delivers at once
// the events of a watcher that starts past its current revision (a
// "synced" watcher); one that starts at or below it is caught up by a loop
// that runs every 100ms. concurrency.Mutex starts its watch at the revision
// of its last read, which is already current, so every hand-off waits for
// that loop. A wait here starts its watch at the server's current revision
// (no start revision: always synced) and closes the gap between its read
// and the watch's creation with a second read, made only when the watch
// was created at a later revision than the read, that is, when something
// was written in between.

// waitKey names one waiter key: a client's place in a lock's queue.
type waitKey struct {
	lockID, clientID string
	rev              int64 // the key's create revision
}

// wait is a goroutine of the driver that keeps one waiter key's lease
// alive and watches its predecessor until the key holds the lock, the key
// is gone, or the wait is given up. Blocked Acquires of its client wait on
// done; a wait started by Enqueue runs with no call waiting on it, until
// its wait timeout.
type wait struct {
	d      *Driver
	key    waitKey
	etcd   string // the waiter key
	cancel context.CancelFunc
	done   chan struct{}

	start *place // where the key stood when it was queued; nil: unknown

	// Set before done is closed.
	lease clientv3.LeaseID // the key's lease (when granted: the grant's)
	lock  backend.Lock     // the grant, when err is nil
	secs  int64            // the grant's lease length, when err is nil
	kept  time.Time        // the grant's lease ends no earlier than secs after this
	err   *backend.Error
}

// startWait returns the wait of the waiter key (lockID, clientID, rev),
// starting it unless this driver runs it already. A wait with a deadline
// gives up by itself then. start is the key's place as the transaction
// that queued it read it, if known.
func (d *Driver) startWait(lockID, clientID string, rev int64, lease clientv3.LeaseID, deadline time.Time, start *place) (*wait, error) {
	k := waitKey{lockID: lockID, clientID: clientID, rev: rev}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, closedError(lockID)
	}
	if w := d.waits[k]; w != nil {
		return w, nil
	}
	ctx, cancel := context.WithCancel(d.life)
	if !deadline.IsZero() {
		ctx, cancel = context.WithDeadline(d.life, deadline)
	}
	w := &wait{
		d: d, key: k, etcd: d.clientKey(lockID, clientID),
		cancel: cancel, done: make(chan struct{}), lease: lease, start: start,
	}
	d.waits[k] = w
	d.calls.Add(1)
	go w.run(ctx)
	return w, nil
}

// abandon gives the wait up and returns once its goroutine has ended.
func (w *wait) abandon() {
	w.cancel()
	<-w.done
}

func (w *wait) run(ctx context.Context) {
	defer w.d.calls.Done()
	lock, err := w.loop(ctx)
	w.cancel()
	if err != nil {
		// Given up, or the key is gone: leave nothing behind. If the lock
		// came to the key just as the wait ended, this releases it and
		// hands it on, so no grant is orphaned.
		w.d.revoke(w.key.lockID, w.lease)
		w.err = w.failure(err)
	} else {
		w.lock = lock
	}
	w.d.mu.Lock()
	if w.d.waits[w.key] == w {
		delete(w.d.waits, w.key)
	}
	w.d.mu.Unlock()
	close(w.done)
}

// failure turns the error that ended a wait into what its callers report.
func (w *wait) failure(err error) *backend.Error {
	var be *backend.Error
	switch {
	case errors.As(err, &be):
		return be
	case w.d.life.Err() != nil:
		return closedError(w.key.lockID)
	case errors.Is(err, context.DeadlineExceeded):
		return &backend.Error{Code: backend.CodeTimeout, LockID: w.key.lockID, Err: err,
			Message: "the enqueued waiter's wait timeout passed"}
	case errors.Is(err, context.Canceled):
		return &backend.Error{Code: backend.CodeCanceled, LockID: w.key.lockID, Err: err,
			Message: "another call of the same client gave the wait up"}
	}
	return etcdError(w.key.lockID, err)
}

func (w *wait) removed() *backend.Error {
	return &backend.Error{Code: backend.CodeCanceled, LockID: w.key.lockID,
		Message: "the waiter left the queue: CancelWait removed it, or its lease ran out"}
}

// place is where a waiter key stands, as read at revision rev.
type place struct {
	rev   int64
	own   *mvccpb.KeyValue // the waiter key; nil when gone
	pred  *mvccpb.KeyValue // the key created just before it; nil when none
	first *mvccpb.KeyValue // the holder's key: the first created
}

// next reports whether the key ahead of the waiter holds the lock, so that
// its deletion makes the waiter the holder: keys are only ever created at
// revisions above every existing one, so none can come between.
func (p place) next() bool {
	return p.pred != nil && p.first != nil && string(p.pred.Key) == string(p.first.Key) &&
		p.pred.CreateRevision == p.first.CreateRevision
}

func (w *wait) gone(p place) bool {
	return p.own == nil || p.own.CreateRevision != w.key.rev
}

// moved reports whether q differs from p in what the wait watches.
func (w *wait) moved(p, q place) bool {
	return w.gone(q) || q.pred == nil || string(q.pred.Key) != string(p.pred.Key) ||
		q.pred.CreateRevision != p.pred.CreateRevision
}

// locate reads the waiter key, its predecessor and the holder's key in one
// read that reflects at least revision after.
//
// The read is first served by the etcd member alone (serializable), which
// skips the round of consensus a linearizable read costs: what a waiter
// needs is any consistent view no older than what it has seen, and the
// member that sent it an event or a response has applied that revision.
// Such a view is enough to decide: if the waiter key is there and no key
// is older, it holds the lock (and keeps holding it until its key goes);
// if a predecessor is there, the watch that follows (or the read after
// it) sees its deletion. A member that lags behind after (another member
// answered) is asked again, linearizably.
func (w *wait) locate(ctx context.Context, after int64) (place, error) {
	p, err := w.read(ctx, clientv3.WithSerializable())
	if err != nil || p.rev >= after {
		return p, err
	}
	return w.read(ctx)
}

func (w *wait) read(ctx context.Context, opts ...clientv3.OpOption) (place, error) {
	pfx := w.d.lockPrefix(w.key.lockID)
	resp, err := w.d.cli.Txn(ctx).Then(
		clientv3.OpGet(w.etcd, opts...),
		clientv3.OpGet(pfx, append(opts, append(clientv3.WithLastCreate(), clientv3.WithMaxCreateRev(w.key.rev-1))...)...),
		clientv3.OpGet(pfx, append(opts, clientv3.WithFirstCreate()...)...),
	).Commit()
	if err != nil {
		return place{}, err
	}
	return place{rev: resp.Header.Revision, own: firstKV(resp, 0), pred: firstKV(resp, 1), first: firstKV(resp, 2)}, nil
}

func (w *wait) loop(ctx context.Context) (backend.Lock, error) {
	// The client's keep-alive stream renews the lease about every third of
	// its TTL (no more often than every half second) for as long as the
	// wait runs, over one stream per client whatever the number of waits.
	kctx, stopKeepAlive := context.WithCancel(ctx)
	defer stopKeepAlive()
	keepAlive, err := w.d.cli.KeepAlive(kctx, w.lease)
	if err != nil {
		return backend.Lock{}, err
	}
	var backoff time.Duration
	var p place
	if w.start != nil {
		p = *w.start
	} else {
		p, err = w.locate(ctx, w.key.rev)
	}
	for {
		if err != nil {
			if ctx.Err() != nil {
				return backend.Lock{}, ctx.Err()
			}
			// etcd is unreachable or has no leader: try again, keeping the
			// lease alive meanwhile.
			backoff = min(max(2*backoff, 50*time.Millisecond), time.Second)
			w.d.logger.Debug("etcd: wait interrupted; retrying", "lock", w.key.lockID, "err", err, "backoff", backoff)
			retry := time.NewTimer(backoff)
			select {
			case <-retry.C:
			case <-ctx.Done():
				retry.Stop()
				return backend.Lock{}, ctx.Err()
			}
			p, err = w.locate(ctx, w.key.rev)
			continue
		}
		backoff = 0
		switch {
		case w.gone(p):
			return backend.Lock{}, w.removed()
		case p.pred == nil:
			return w.granted(ctx, p.own)
		}
		p, err = w.watch(ctx, p, keepAlive)
	}
}

// watch waits for the deletion of the waiter's predecessor (or of the
// waiter key itself) and returns the new place. One watch covers both
// keys: the range between them, deletions only; the deletions of other
// keys in that range are skipped. When the predecessor held the lock, its
// deletion makes the waiter the holder, and the new place needs no read:
// the hand-off costs the releaser's transaction and the event.
func (w *wait) watch(ctx context.Context, at place, keepAlive <-chan *clientv3.LeaseKeepAliveResponse) (place, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pred := string(at.pred.Key)
	lo, hi := pred, w.etcd
	if hi < lo {
		lo, hi = hi, lo
	}
	events := w.d.cli.Watch(clientv3.WithRequireLeader(wctx), lo,
		clientv3.WithRange(hi+sep), clientv3.WithFilterPut(), clientv3.WithCreatedNotify())
	for {
		select {
		case resp, ok := <-events:
			switch {
			case !ok:
				return at, watchEnded(ctx, nil)
			case resp.Canceled || resp.Err() != nil:
				return at, watchEnded(ctx, resp.Err())
			case resp.Created:
				if resp.Header.Revision <= at.rev {
					continue // nothing was written since the read: every deletion will be seen
				}
				q, err := w.locate(ctx, resp.Header.Revision)
				if err != nil || w.moved(at, q) {
					return q, err
				}
				at = q // still in place as of a revision the watch covers
				continue
			}
			predGone := false
			for _, ev := range resp.Events {
				switch k := string(ev.Kv.Key); {
				case ev.Type != mvccpb.DELETE:
				case k == w.etcd:
					return w.locate(ctx, ev.Kv.ModRevision)
				case k == pred:
					predGone = true
				}
			}
			switch {
			case predGone && at.next():
				return place{rev: resp.Header.Revision, own: at.own, first: at.own}, nil
			case predGone:
				return w.locate(ctx, resp.Header.Revision)
			}
		case _, ok := <-keepAlive:
			if !ok {
				// The lease is gone (its waiter key with it, which the
				// watch reports) or the client closed.
				keepAlive = nil
			}
		case <-ctx.Done():
			return at, ctx.Err()
		}
	}
}

func watchEnded(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return err
	}
	return errors.New("etcd watch ended")
}

// granted completes a wait whose key now holds the lock. The lease has
// been kept alive while the key waited, since before the client sent its
// request, so it has most of its length left; a keep-alive sent now, in
// the background, makes it run a full TTL from just after the grant. For
// a grant shorter than its waiting lease, fitLease moves the key to a
// lease of its own TTL first.
func (w *wait) granted(ctx context.Context, own *mvccpb.KeyValue) (backend.Lock, error) {
	w.lease = clientv3.LeaseID(own.Lease)
	r, err := decodeRecord(w.key.lockID, own)
	if err != nil {
		return backend.Lock{}, err
	}
	w.kept = time.Now()
	if r.GrantTTL != 0 && r.GrantTTL != r.TTL {
		lease, err := w.d.fitLease(ctx, w.key.lockID, w.etcd, own.CreateRevision, own.ModRevision, w.lease, r)
		if err != nil {
			return backend.Lock{}, err
		}
		w.lease = lease
	} else {
		w.d.keepAliveLater(w.key.lockID, w.lease)
	}
	w.secs = r.TTL
	l := lockOf(w.key.lockID, w.key.clientID, own, r)
	l.ExpiresAt = now().Add(time.Duration(r.TTL) * time.Second)
	return l, nil
}

// await blocks an Acquire on w until the lock comes to it, the wait
// timeout passes, or ctx ends (the caller gave up or the driver closed). A
// call that gives up takes its waiter out of the queue before it returns,
// releasing the lock if it came at that very moment.
func (d *Driver) await(ctx context.Context, w *wait, timeout time.Duration) (*backend.AcquireResult, error) {
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	var cause error
	select {
	case <-w.done:
		if w.err != nil {
			return nil, w.err
		}
		d.carry(w.lease, w.secs, w.kept)
		return &backend.AcquireResult{Lock: w.lock, Waited: true}, nil
	case <-ctx.Done():
		cause = ctx.Err()
	case <-expired:
		cause = &backend.Error{Code: backend.CodeTimeout, LockID: w.key.lockID,
			Message: fmt.Sprintf("not granted within the wait timeout of %v", timeout)}
	}
	w.abandon()
	if w.err == nil {
		d.revoke(w.key.lockID, w.lease)
	}
	return nil, cause
}
