package etcdbackend

import (
	"context"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/raftlock/raftlock/backend"
)

// Acquire takes the lock in one transaction. Every grant gets a lease of
// its own, taken from the driver's stock of leases granted ahead of need
// (or granted first, one round trip, when the stock is empty), so that the
// transaction can attach it to the key it creates (see putWithLease):
//
//	without Wait:  if no key under <lock> NUL exists
//	               then put <lock> NUL <client> with the lease
//	               else get the client's key and the holder's key
//	with Wait:     if the client's key does not exist
//	               then put it with the lease, and get the holder's key
//	               else get the client's key and the holder's key
//
// A put creates the key at the transaction's revision, which is therefore
// the grant's Version. With Wait, a new key that is not the first in
// creation order is a waiter; the driver then watches the key just ahead
// of it (see wait) until the lock comes to it. A client that already has a
// key gets its grant back (AlreadyHeld), or, queued and waiting, keeps its
// place. A lease the transaction did not use goes back to the stock.
func (d *Driver) Acquire(ctx context.Context, req *backend.AcquireRequest) (*backend.AcquireResult, error) {
	if e := backend.ValidateAcquire(req, capabilities); e != nil {
		return nil, e
	}
	cctx, end, err := d.begin(ctx, req.LockID)
	if err != nil {
		return nil, err
	}
	defer end()
	res, err := d.acquire(cctx, req)
	if err != nil {
		return nil, d.callError(ctx, req.LockID, err)
	}
	return res, nil
}

func (d *Driver) acquire(ctx context.Context, req *backend.AcquireRequest) (*backend.AcquireResult, error) {
	secs := ttlSeconds(req.TTL)
	rec := record{TTL: secs, At: now().UnixNano(), Priority: req.Priority, Metadata: req.Metadata}
	if req.Wait {
		rec.TTL, rec.GrantTTL = waitLease(secs)
		if req.WaitTimeout > 0 {
			rec.WaitUntil = now().Add(req.WaitTimeout).UnixNano()
		}
	}
	key, pfx := d.clientKey(req.LockID, req.ClientID), d.lockPrefix(req.LockID)
	cond := clientv3.Compare(clientv3.CreateRevision(pfx).WithPrefix(), "=", 0)
	if req.Wait {
		cond = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	}
	holder := clientv3.OpGet(pfx, clientv3.WithFirstCreate()...)
	// A waiter's place (the key just ahead of it) comes with the
	// transaction that queues it: the two keys created last.
	lastTwo := clientv3.OpGet(pfx, clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortDescend), clientv3.WithLimit(2))
	sent := time.Now() // the lease ends no earlier than its TTL from here
	resp, lease, err := d.putWithLease(ctx, req.LockID, rec.TTL, cond,
		func(id clientv3.LeaseID) []clientv3.Op {
			ops := []clientv3.Op{clientv3.OpPut(key, rec.encode(), clientv3.WithLease(id)), holder}
			if req.Wait {
				ops = append(ops, lastTwo)
			}
			return ops
		},
		clientv3.OpGet(key), holder)
	if err != nil {
		return nil, err
	}
	if resp.Succeeded {
		first := firstKV(resp, 1)
		granted := backend.Lock{
			LockID:     req.LockID,
			Owner:      req.ClientID,
			Version:    resp.Header.Revision,
			AcquiredAt: unixTime(rec.At),
			ExpiresAt:  now().Add(time.Duration(secs) * time.Second),
			Metadata:   backend.CloneMetadata(req.Metadata),
		}
		if first != nil && string(first.Key) == key {
			if rec.GrantTTL != 0 {
				if lease, err = d.fitLease(ctx, req.LockID, key, resp.Header.Revision, resp.Header.Revision, lease, &rec); err != nil {
					return nil, err
				}
			}
			d.carry(lease, secs, sent)
			return &backend.AcquireResult{Lock: granted}, nil
		}
		w, err := d.startWait(req.LockID, req.ClientID, resp.Header.Revision, lease, time.Time{}, queued(resp))
		if err != nil {
			d.revoke(req.LockID, lease)
			return nil, err
		}
		return d.await(ctx, w, req.WaitTimeout)
	}

	own, first := firstKV(resp, 0), firstKV(resp, 1)
	switch {
	case own != nil && first != nil && string(first.Key) == key:
		l, err := d.heldLock(ctx, req.LockID, req.ClientID, own)
		if err != nil {
			return nil, err
		}
		return &backend.AcquireResult{Lock: l, AlreadyHeld: true}, nil
	case own != nil && req.Wait:
		// Queued already (by Enqueue, or a call that is still waiting):
		// wait in the place the client has.
		w, err := d.startWait(req.LockID, req.ClientID, own.CreateRevision, clientv3.LeaseID(own.Lease), time.Time{}, nil)
		if err != nil {
			return nil, err
		}
		return d.await(ctx, w, req.WaitTimeout)
	}
	return nil, d.heldError(req.LockID, first)
}

// queued is the place of a key the transaction resp just queued, from the
// holder's key and the two keys created last that it read.
func queued(resp *clientv3.TxnResponse) *place {
	if len(resp.Responses) < 3 {
		return nil
	}
	last := resp.Responses[2].GetResponseRange()
	if last == nil || len(last.Kvs) < 2 {
		return nil
	}
	return &place{rev: resp.Header.Revision, own: last.Kvs[0], pred: last.Kvs[1], first: firstKV(resp, 1)}
}

// heldError is CodeLockHeld naming the holder whose key is first.
func (d *Driver) heldError(lockID string, first *mvccpb.KeyValue) *backend.Error {
	e := &backend.Error{Code: backend.CodeLockHeld, LockID: lockID}
	if first != nil {
		_, e.Owner, _ = d.splitKey(first.Key)
	}
	return e
}

// heldLock describes the grant a holder's key stands for, with its expiry
// read from the lease.
func (d *Driver) heldLock(ctx context.Context, lockID, clientID string, kv *mvccpb.KeyValue) (backend.Lock, error) {
	r, err := decodeRecord(lockID, kv)
	if err != nil {
		return backend.Lock{}, err
	}
	l := lockOf(lockID, clientID, kv, r)
	exp, err := d.leaseExpiry(ctx, clientv3.LeaseID(kv.Lease))
	if err != nil {
		return backend.Lock{}, err
	}
	l.ExpiresAt = exp
	return l, nil
}

// leaseExpiry estimates when a lease ends from the seconds etcd says it has
// left. etcd truncates them, so the estimate is early by less than a
// second; the TTLGranularity of the capabilities says so. A lease that is
// gone ends now.
func (d *Driver) leaseExpiry(ctx context.Context, id clientv3.LeaseID) (time.Time, error) {
	if id == clientv3.NoLease {
		return time.Time{}, nil
	}
	resp, err := d.cli.TimeToLive(ctx, id)
	t := now()
	switch {
	case isLeaseGone(err):
		return t, nil
	case err != nil:
		return time.Time{}, err
	case resp.TTL <= 0:
		return t, nil
	}
	return t.Add(time.Duration(resp.TTL) * time.Second), nil
}

// firstKV returns the first key of the i-th response of a transaction, nil
// if it has none.
func firstKV(resp *clientv3.TxnResponse, i int) *mvccpb.KeyValue {
	if i >= len(resp.Responses) {
		return nil
	}
	r := resp.Responses[i].GetResponseRange()
	if r == nil || len(r.Kvs) == 0 {
		return nil
	}
	return r.Kvs[0]
}

// waitLeaseFloor is the shortest lease a waiter key gets. A waiter's lease
// must be kept alive for as long as it waits, through the etcd client's
// keep-alive stream (a renewal about every third of the TTL, no more often
// than every half second); a one-second lease would end at the first
// hiccup of a loaded cluster and drop the waiter from the queue. A waiter
// whose grant has a shorter TTL waits on a lease of this length and moves
// to a lease of its own TTL when the lock comes to it (see fitLease).
const waitLeaseFloor = 5 // seconds

// waitLease returns the lease length of a waiter key for a grant of secs,
// and the GrantTTL to record (0 when the two agree).
func waitLease(secs int64) (lease, grant int64) {
	if secs >= waitLeaseFloor {
		return secs, 0
	}
	return waitLeaseFloor, secs
}

// fitLease moves a key that just came to hold the lock from its waiting
// lease to a fresh lease of the grant's TTL (r.GrantTTL), so that the grant
// lasts its TTL from now, no more: a new lease, then a transaction guarded
// by the key's create and mod revisions that puts the key with it (keeping
// its create revision, hence the Version), then the old lease is revoked.
// r is updated to the record written. It fails with CodeCanceled when the
// key changed or went in between. When it fails it revokes the old lease
// too, so that the grant nobody will learn of ends at once.
func (d *Driver) fitLease(ctx context.Context, lockID, key string, rev, modRev int64, old clientv3.LeaseID, r *record) (clientv3.LeaseID, error) {
	lease, err := d.cli.Grant(ctx, r.GrantTTL)
	if err != nil {
		d.revoke(lockID, old)
		return 0, err
	}
	next := *r
	next.TTL, next.GrantTTL = r.GrantTTL, 0
	resp, err := d.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.CreateRevision(key), "=", rev),
		clientv3.Compare(clientv3.ModRevision(key), "=", modRev),
	).Then(clientv3.OpPut(key, next.encode(), clientv3.WithLease(lease.ID))).Commit()
	switch {
	case err != nil:
		d.revoke(lockID, lease.ID) // the key goes too if the put was applied
		d.revoke(lockID, old)
		return 0, err
	case !resp.Succeeded:
		d.revoke(lockID, lease.ID)
		d.revoke(lockID, old)
		return 0, &backend.Error{Code: backend.CodeCanceled, LockID: lockID,
			Message: "the waiter's key changed as the lock came to it"}
	}
	d.revoke(lockID, old)
	*r = next
	return lease.ID, nil
}

// putWithLease commits a transaction that, on its Then branch, puts a key
// with a lease of secs seconds: if cond then then(lease) else els. The
// lease comes from the driver's stock when it has one (see leases.go), and
// a stocked lease is kept alive alongside the transaction, so that the key
// lasts TTL from this request either way. It returns the lease, which the
// key now carries when the transaction succeeded. A lease the transaction
// did not use goes back to the stock; a transaction whose outcome is
// unknown, or whose lease could not be kept alive, is undone by revoking
// the lease.
func (d *Driver) putWithLease(ctx context.Context, lockID string, secs int64, cond clientv3.Cmp,
	then func(clientv3.LeaseID) []clientv3.Op, els ...clientv3.Op) (*clientv3.TxnResponse, clientv3.LeaseID, error) {
	start := time.Now() // the lease ends no earlier than secs from here
	lease, stocked, err := d.takeLease(ctx, secs)
	if err != nil {
		return nil, clientv3.NoLease, err
	}
	var kept <-chan error
	if stocked {
		kept = d.keepAliveAsync(ctx, lease)
	}
	resp, err := d.cli.Txn(ctx).If(cond).Then(then(lease)...).Else(els...).Commit()
	var keepErr error
	if kept != nil {
		keepErr = <-kept
	}
	switch {
	case err != nil:
		// The put may have been applied; revoking the lease undoes it.
		d.revoke(lockID, lease)
		return nil, clientv3.NoLease, leaseLapsed(lockID, err)
	case !resp.Succeeded && keepErr == nil:
		d.returnLease(secs, lease, start)
	case !resp.Succeeded:
		d.revokeLater(lockID, lease)
	case keepErr != nil:
		// The key was put, but its lease may end before TTL has passed
		// from the request: undo the put.
		d.revoke(lockID, lease)
		return nil, clientv3.NoLease, leaseLapsed(lockID, keepErr)
	}
	return resp, lease, nil
}

// leaseLapsed maps the failure of a transaction whose lease ran out before
// it was applied (a store too slow for the TTL) onto CodeUnavailable: the
// same request may well succeed on a less loaded store.
func leaseLapsed(lockID string, err error) error {
	if !isLeaseGone(err) {
		return err
	}
	return &backend.Error{Code: backend.CodeUnavailable, LockID: lockID, RetryAfter: unavailableRetryAfter, Err: err,
		Message: "the grant's lease ran out before etcd applied the request"}
}
