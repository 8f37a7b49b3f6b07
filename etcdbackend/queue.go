package etcdbackend

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/raftlock/raftlock/backend"
)

// Enqueue puts the client's key under the lock without blocking, in the
// same transaction as an Acquire with Wait. A new waiter key is then kept
// by a goroutine of this driver (see wait) until the lock comes to it or
// its wait timeout passes, when it leaves the queue; the waiter also
// leaves the queue when this driver closes. A client that already has a
// key (holder or waiter) changes nothing: it gets its grant or position.
// Positions are exact: waiters are served in create-revision order.
func (d *Driver) Enqueue(ctx context.Context, req *backend.EnqueueRequest) (*backend.EnqueueResult, error) {
	if e := backend.ValidateEnqueue(req, capabilities); e != nil {
		return nil, e
	}
	cctx, end, err := d.begin(ctx, req.LockID)
	if err != nil {
		return nil, err
	}
	defer end()
	res, err := d.enqueue(cctx, req)
	if err != nil {
		return nil, d.callError(ctx, req.LockID, err)
	}
	return res, nil
}

func (d *Driver) enqueue(ctx context.Context, req *backend.EnqueueRequest) (*backend.EnqueueResult, error) {
	secs := ttlSeconds(req.TTL)
	waitTimeout := req.WaitTimeout
	if waitTimeout == 0 {
		waitTimeout = d.defaultWaitTimeout
	}
	at := now()
	rec := record{At: at.UnixNano(), WaitUntil: at.Add(waitTimeout).UnixNano(),
		Priority: req.Priority, Metadata: req.Metadata}
	rec.TTL, rec.GrantTTL = waitLease(secs)
	key, pfx := d.clientKey(req.LockID, req.ClientID), d.lockPrefix(req.LockID)
	holder := clientv3.OpGet(pfx, clientv3.WithFirstCreate()...)
	count := clientv3.OpGet(pfx, clientv3.WithPrefix(), clientv3.WithCountOnly())
	sent := time.Now() // the lease ends no earlier than its TTL from here
	resp, lease, err := d.putWithLease(ctx, req.LockID, rec.TTL, clientv3.Compare(clientv3.CreateRevision(key), "=", 0),
		func(id clientv3.LeaseID) []clientv3.Op {
			return []clientv3.Op{clientv3.OpPut(key, rec.encode(), clientv3.WithLease(id)), holder, count}
		},
		clientv3.OpGet(key), holder)
	if err != nil {
		return nil, err
	}

	if resp.Succeeded {
		rev := resp.Header.Revision
		if first := firstKV(resp, 1); first != nil && string(first.Key) == key {
			if rec.GrantTTL != 0 {
				if lease, err = d.fitLease(ctx, req.LockID, key, rev, rev, lease, &rec); err != nil {
					return nil, err
				}
			}
			d.carry(lease, secs, sent)
			return &backend.EnqueueResult{Granted: true, Lock: backend.Lock{
				LockID: req.LockID, Owner: req.ClientID, Version: rev, AcquiredAt: at,
				ExpiresAt: at.Add(time.Duration(secs) * time.Second), Metadata: backend.CloneMetadata(req.Metadata),
			}}, nil
		}
		if _, err := d.startWait(req.LockID, req.ClientID, rev, lease, time.Now().Add(waitTimeout), nil); err != nil {
			d.revoke(req.LockID, lease)
			return nil, err
		}
		// Every key but the holder and this one was created before it.
		n := resp.Responses[2].GetResponseRange().Count
		return &backend.EnqueueResult{Position: int(max(n-2, 0))}, nil
	}

	own, first := firstKV(resp, 0), firstKV(resp, 1)
	if first != nil && string(first.Key) == key {
		l, err := d.heldLock(ctx, req.LockID, req.ClientID, own)
		if err != nil {
			return nil, err
		}
		return &backend.EnqueueResult{Granted: true, Lock: l}, nil
	}
	// etcd filters by create revision after counting, so count the keys
	// themselves.
	ahead, err := d.cli.Get(ctx, pfx, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
		clientv3.WithMaxCreateRev(own.CreateRevision-1))
	if err != nil {
		return nil, err
	}
	return &backend.EnqueueResult{Position: max(len(ahead.Kvs)-1, 0)}, nil
}

// CancelWait deletes the client's waiter key, in a transaction guarded by
// the key's create revision and by the holder's key still existing, so
// that it can never delete the key of a holder (a waiter that became the
// holder meanwhile is not waiting: CodeNotWaiting). The waiter's lease is
// then revoked; a call blocked on that waiter fails with CodeCanceled.
func (d *Driver) CancelWait(ctx context.Context, req *backend.CancelWaitRequest) error {
	if e := backend.ValidateCancelWait(req); e != nil {
		return e
	}
	cctx, end, err := d.begin(ctx, req.LockID)
	if err != nil {
		return err
	}
	defer end()
	if err := d.cancelWait(cctx, req); err != nil {
		return d.callError(ctx, req.LockID, err)
	}
	return nil
}

func (d *Driver) cancelWait(ctx context.Context, req *backend.CancelWaitRequest) error {
	key, pfx := d.clientKey(req.LockID, req.ClientID), d.lockPrefix(req.LockID)
	notWaiting := &backend.Error{Code: backend.CodeNotWaiting, LockID: req.LockID, Message: "the client is not in the lock's queue"}
	// The guard fails only when the holder or the waiter changed between
	// the read and the transaction; a few rounds settle it.
	for range 8 {
		resp, err := d.cli.Txn(ctx).Then(clientv3.OpGet(key), clientv3.OpGet(pfx, clientv3.WithFirstCreate()...)).Commit()
		if err != nil {
			return err
		}
		own, first := firstKV(resp, 0), firstKV(resp, 1)
		if own == nil || first == nil || string(first.Key) == key {
			return notWaiting
		}
		del, err := d.cli.Txn(ctx).If(
			clientv3.Compare(clientv3.CreateRevision(key), "=", own.CreateRevision),
			clientv3.Compare(clientv3.CreateRevision(string(first.Key)), "=", first.CreateRevision),
		).Then(clientv3.OpDelete(key)).Commit()
		if err != nil {
			return err
		}
		if del.Succeeded {
			d.revoke(req.LockID, clientv3.LeaseID(own.Lease))
			return nil
		}
	}
	return &backend.Error{Code: backend.CodeUnavailable, LockID: req.LockID, Message: "the queue kept changing; try again"}
}
