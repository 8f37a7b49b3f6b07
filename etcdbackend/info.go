package etcdbackend

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/raftlock/raftlock/backend"
)

// Get reads every key of the lock in one range read sorted by create
// revision: the first is the holder, the others the waiters in grant
// order. The expiry comes from the holder's lease (one more call); etcd
// counts it in whole seconds, so it is within a second of the truth.
func (d *Driver) Get(ctx context.Context, req *backend.GetRequest) (*backend.LockInfo, error) {
	if e := backend.ValidateGet(req); e != nil {
		return nil, e
	}
	cctx, end, err := d.begin(ctx, req.LockID)
	if err != nil {
		return nil, err
	}
	defer end()
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend)}
	if req.Stale {
		opts = append(opts, clientv3.WithSerializable())
	}
	resp, err := d.cli.Get(cctx, d.lockPrefix(req.LockID), opts...)
	if err != nil {
		return nil, d.callError(ctx, req.LockID, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, &backend.Error{Code: backend.CodeNotFound, LockID: req.LockID, Message: "nobody holds or waits for the lock"}
	}
	info, lease, err := d.infoOf(req.LockID, resp.Kvs, req.IncludeWaiters)
	if err != nil {
		return nil, err
	}
	if info.ExpiresAt, err = d.leaseExpiry(cctx, lease); err != nil {
		return nil, d.callError(ctx, req.LockID, err)
	}
	return &info, nil
}

// infoOf describes a lock from its keys, sorted by create revision, and
// returns the holder's lease, from which the caller fills in ExpiresAt.
func (d *Driver) infoOf(lockID string, kvs []*mvccpb.KeyValue, waiters bool) (backend.LockInfo, clientv3.LeaseID, error) {
	holder := kvs[0]
	_, owner, _ := d.splitKey(holder.Key)
	r, err := decodeRecord(lockID, holder)
	if err != nil {
		return backend.LockInfo{}, 0, err
	}
	info := backend.LockInfo{Lock: lockOf(lockID, owner, holder, r), Held: true, WaiterCount: len(kvs) - 1}
	if waiters && len(kvs) > 1 {
		info.Waiters = make([]backend.Waiter, 0, len(kvs)-1)
		for i, kv := range kvs[1:] {
			_, client, _ := d.splitKey(kv.Key)
			wr, err := decodeRecord(lockID, kv)
			if err != nil {
				return backend.LockInfo{}, 0, err
			}
			info.Waiters = append(info.Waiters, backend.Waiter{
				ClientID:   client,
				Priority:   wr.Priority,
				EnqueuedAt: unixTime(wr.At),
				TimeoutAt:  unixTime(wr.WaitUntil),
				Position:   i,
			})
		}
	}
	return info, clientv3.LeaseID(holder.Lease), nil
}

// List reads every key under the literal start of the filter's pattern in
// one range read, groups them by lock, filters with backend.MatchFilter
// and pages with backend.Page, so it reads a filter and pages as every
// store does. Expiries come from the holders' leases, read for the page
// only, or for every candidate when the filter asks about expiry.
func (d *Driver) List(ctx context.Context, req *backend.ListRequest) (*backend.ListResult, error) {
	if e := backend.ValidateList(req); e != nil {
		return nil, e
	}
	cctx, end, err := d.begin(ctx, "")
	if err != nil {
		return nil, err
	}
	defer end()
	res, err := d.list(cctx, req)
	if err != nil {
		return nil, d.callError(ctx, "", err)
	}
	return res, nil
}

func (d *Driver) list(ctx context.Context, req *backend.ListRequest) (*backend.ListResult, error) {
	f := req.Filter
	start := f.Pattern
	if i := strings.IndexAny(start, `*?[\`); i >= 0 {
		start = start[:i]
	}
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if req.Stale {
		opts = append(opts, clientv3.WithSerializable())
	}
	resp, err := d.cli.Get(ctx, d.prefix+start, opts...)
	if err != nil {
		return nil, err
	}

	// Keys come sorted by key, hence grouped by lock ID in lock ID order.
	var all []backend.LockInfo
	leases := map[string]clientv3.LeaseID{}
	for i := 0; i < len(resp.Kvs); {
		lockID, _, ok := d.splitKey(resp.Kvs[i].Key)
		j := i + 1
		for j < len(resp.Kvs) {
			if id, _, ok := d.splitKey(resp.Kvs[j].Key); !ok || id != lockID {
				break
			}
			j++
		}
		if ok {
			kvs := resp.Kvs[i:j]
			sort.Slice(kvs, func(a, b int) bool { return kvs[a].CreateRevision < kvs[b].CreateRevision })
			info, lease, err := d.infoOf(lockID, kvs, req.IncludeWaiters)
			if err != nil {
				return nil, err
			}
			all = append(all, info)
			leases[lockID] = lease
		}
		i = j
	}

	byExpiry := !f.ExpiresBefore.IsZero() || !f.ExpiresAfter.IsZero()
	if byExpiry {
		// The expiry needs the leases: read them for the locks that pass
		// the rest of the filter only.
		rest := f
		rest.ExpiresBefore, rest.ExpiresAfter = time.Time{}, time.Time{}
		all = matching(&rest, all)
		if err := d.fillExpiries(ctx, all, leases); err != nil {
			return nil, err
		}
	}
	page, err := backend.Page(matching(&f, all), req)
	if err != nil {
		return nil, err
	}
	if !byExpiry {
		if err := d.fillExpiries(ctx, page.Locks, leases); err != nil {
			return nil, err
		}
	}
	return page, nil
}

func matching(f *backend.ListFilter, infos []backend.LockInfo) []backend.LockInfo {
	out := infos[:0:0]
	for i := range infos {
		if backend.MatchFilter(f, &infos[i]) {
			out = append(out, infos[i])
		}
	}
	return out
}

// listReaders bounds the lease reads one List makes at once.
const listReaders = 16

// fillExpiries sets ExpiresAt of each lock from its holder's lease.
func (d *Driver) fillExpiries(ctx context.Context, infos []backend.LockInfo, leases map[string]clientv3.LeaseID) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, listReaders)
	)
	for i := range infos {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			exp, err := d.leaseExpiry(ctx, leases[infos[i].LockID])
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				return
			}
			infos[i].ExpiresAt = exp
		})
	}
	wg.Wait()
	return first
}
