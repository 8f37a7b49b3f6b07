package etcdbackend

import (
	"context"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/raftlock/raftlock/backend"
)

// ownerGuard is the condition of every owner-only mutation: the client's
// key exists at the grant's Version (its create revision), and no key under
// the lock was created before it, so that key holds the lock. A key that
// was deleted and created again has a new create revision, so a handle
// kept from an earlier grant never matches a later one, even of the same
// client (etcd issue #22082). Keys are only ever created at revisions
// above every existing one, so a key that holds the lock keeps holding it
// until it is deleted.
func (d *Driver) ownerGuard(lockID, key string, version int64) []clientv3.Cmp {
	return []clientv3.Cmp{
		clientv3.Compare(clientv3.CreateRevision(key), "=", version),
		clientv3.Compare(clientv3.CreateRevision(d.lockPrefix(lockID)).WithPrefix(), ">", version-1),
	}
}

// ownerError explains why the owner guard failed, from the client's key
// and the holder's key read in the same transaction.
func (d *Driver) ownerError(lockID, key string, own, first *mvccpb.KeyValue) *backend.Error {
	e := &backend.Error{LockID: lockID}
	switch {
	case first == nil:
		e.Code, e.Message = backend.CodeNotFound, "nobody holds the lock"
	case own == nil || string(first.Key) != key:
		e.Code, e.Message = backend.CodeNotLockOwner, "the lock is held by another client"
		_, e.Owner, _ = d.splitKey(first.Key)
	default:
		e.Code = backend.CodeVersionMismatch
		e.Message = "the client holds the lock at another version"
	}
	return e
}

// Release deletes the holder's key in one transaction guarded by
// ownerGuard; the waiter key created next, if any, holds the lock from the
// same revision on, and its driver learns of it from its watch. The
// grant's lease then goes back to the stock if this driver made the grant,
// or is revoked in the background (see leases.go).
func (d *Driver) Release(ctx context.Context, req *backend.ReleaseRequest) (*backend.ReleaseResult, error) {
	if e := backend.ValidateRelease(req); e != nil {
		return nil, e
	}
	cctx, end, err := d.begin(ctx, req.LockID)
	if err != nil {
		return nil, err
	}
	defer end()
	key := d.clientKey(req.LockID, req.ClientID)
	holder := clientv3.OpGet(d.lockPrefix(req.LockID), clientv3.WithFirstCreate()...)
	resp, err := d.cli.Txn(cctx).If(d.ownerGuard(req.LockID, key, req.Version)...).
		Then(clientv3.OpDelete(key, clientv3.WithPrevKV()), holder).
		Else(clientv3.OpGet(key), holder).
		Commit()
	if err != nil {
		return nil, d.callError(ctx, req.LockID, err)
	}
	if !resp.Succeeded {
		return nil, d.ownerError(req.LockID, key, firstKV(resp, 0), firstKV(resp, 1))
	}
	if del := resp.Responses[0].GetResponseDeleteRange(); del != nil && len(del.PrevKvs) > 0 {
		// Off the caller's path: the key is gone already, so the lease
		// carries nothing.
		d.released(req.LockID, clientv3.LeaseID(del.PrevKvs[0].Lease))
	}
	res := &backend.ReleaseResult{}
	if next := firstKV(resp, 1); next != nil {
		_, res.NextOwner, _ = d.splitKey(next.Key)
	}
	return res, nil
}

// Renew sets the grant's expiry to now + TTL and keeps its Version.
//
// When the TTL is the one the grant's lease was made with, one keep-alive
// of that lease does it, after a transaction that checks the owner guard
// and reads the key. If the grant is released between the two calls and
// its lease reused, the keep-alive makes the later grant last longer than
// asked, never shorter (see leases.go).
//
// etcd cannot change a lease's length, so a Renew with another TTL grants
// a new lease and moves the key to it in a transaction guarded by the
// owner guard and the key's mod revision and lease (a put keeps the key's
// create revision, hence the Version), then revokes the old lease.
func (d *Driver) Renew(ctx context.Context, req *backend.RenewRequest) (*backend.Lock, error) {
	if e := backend.ValidateRenew(req, capabilities); e != nil {
		return nil, e
	}
	cctx, end, err := d.begin(ctx, req.LockID)
	if err != nil {
		return nil, err
	}
	defer end()
	l, err := d.renew(cctx, req)
	if err != nil {
		return nil, d.callError(ctx, req.LockID, err)
	}
	return l, nil
}

func (d *Driver) renew(ctx context.Context, req *backend.RenewRequest) (*backend.Lock, error) {
	key := d.clientKey(req.LockID, req.ClientID)
	guard := d.ownerGuard(req.LockID, key, req.Version)
	resp, err := d.cli.Txn(ctx).If(guard...).
		Then(clientv3.OpGet(key)).
		Else(clientv3.OpGet(key), clientv3.OpGet(d.lockPrefix(req.LockID), clientv3.WithFirstCreate()...)).
		Commit()
	if err != nil {
		return nil, err
	}
	if !resp.Succeeded {
		return nil, d.ownerError(req.LockID, key, firstKV(resp, 0), firstKV(resp, 1))
	}
	kv := firstKV(resp, 0)
	r, err := decodeRecord(req.LockID, kv)
	if err != nil {
		return nil, err
	}
	secs := ttlSeconds(req.TTL)
	l := lockOf(req.LockID, req.ClientID, kv, r)
	if r.TTL == secs {
		sent := time.Now()
		ttl, err := d.keeper.keepAlive(ctx, clientv3.LeaseID(kv.Lease))
		switch {
		case isLeaseGone(err):
			return nil, &backend.Error{Code: backend.CodeNotFound, LockID: req.LockID, Message: "the grant expired"}
		case err != nil:
			return nil, err
		}
		d.kept(clientv3.LeaseID(kv.Lease), sent)
		l.ExpiresAt = now().Add(time.Duration(ttl) * time.Second)
		return &l, nil
	}

	sent := time.Now()
	lease, err := d.cli.Grant(ctx, secs)
	if err != nil {
		return nil, err
	}
	r.TTL = secs
	resp, err = d.cli.Txn(ctx).If(append(guard,
		clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision),
		clientv3.Compare(clientv3.LeaseValue(key), "=", kv.Lease))...).
		Then(clientv3.OpPut(key, r.encode(), clientv3.WithLease(lease.ID))).
		Else(clientv3.OpGet(key), clientv3.OpGet(d.lockPrefix(req.LockID), clientv3.WithFirstCreate()...)).
		Commit()
	switch {
	case err != nil:
		d.revoke(req.LockID, lease.ID) // the put may have been applied: the key then goes too
		return nil, err
	case !resp.Succeeded:
		d.revoke(req.LockID, lease.ID)
		own, first := firstKV(resp, 0), firstKV(resp, 1)
		if own != nil && first != nil && string(first.Key) == key && own.CreateRevision == req.Version {
			// Still the holder, but another call of this client renewed
			// or moved the key in between: the caller may try again.
			return nil, &backend.Error{Code: backend.CodeUnavailable, LockID: req.LockID,
				Message: "a concurrent renewal of the same grant changed its lease; try again"}
		}
		return nil, d.ownerError(req.LockID, key, own, first)
	}
	d.forget(clientv3.LeaseID(kv.Lease))
	d.revoke(req.LockID, clientv3.LeaseID(kv.Lease))
	d.carry(lease.ID, secs, sent)
	l.ExpiresAt = now().Add(time.Duration(secs) * time.Second)
	return &l, nil
}
