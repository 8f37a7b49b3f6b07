package redisbackend

import (
	"context"
	"errors"
	"path"
	"sort"
	"sync"

	"github.com/raftlock/raftlock/backend"
	"github.com/redis/go-redis/v9"
)

// scanCount is the COUNT hint of each SCAN step.
const scanCount = 1000

// List returns a page of the prefix's locks in lock ID order. It SCANs the
// keyspace (every master of a cluster) for the prefix's owner and queue
// keys, describes each matching lock with the get script (which settles
// it first), then filters with backend.MatchFilter and pages with
// backend.Page. It is correct, not fast: it costs one script per lock ID
// the pattern matches, however small the page.
func (d *Driver) List(ctx context.Context, req *backend.ListRequest) (*backend.ListResult, error) {
	if err := d.enter(ctx, backend.ValidateList(req), nil); err != nil {
		return nil, err
	}
	defer d.leave()
	if req.Cursor != "" {
		if _, e := backend.DecodeCursor(req.Cursor); e != nil {
			return nil, e
		}
	}
	infos, err := d.describeAll(ctx, req.Filter.Pattern, req.IncludeWaiters)
	if err != nil {
		return nil, d.mapErr(ctx, err, "")
	}
	matches := infos[:0]
	for i := range infos {
		if backend.MatchFilter(&req.Filter, &infos[i]) {
			matches = append(matches, infos[i])
		}
	}
	return backend.Page(matches, req)
}

// describeAll describes every lock of the prefix whose ID matches pattern
// ("" for all), sorted by lock ID. Locks that turn out to be free by the
// time they are described are left out.
func (d *Driver) describeAll(ctx context.Context, pattern string, waiters bool) ([]backend.LockInfo, error) {
	ids, err := d.scanLockIDs(ctx, pattern)
	if err != nil {
		return nil, err
	}
	infos := make([]backend.LockInfo, 0, len(ids))
	const batch = 256
	for start := 0; start < len(ids); start += batch {
		chunk := ids[start:min(start+batch, len(ids))]
		cmds := make([]*redis.Cmd, len(chunk))
		_, err := d.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range chunk {
				cmds[i] = getScript.EvalSha(ctx, p, d.keys.lockKeys(id), id, boolArg(waiters))
			}
			return nil
		})
		if err != nil && !isNoScript(err) && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		for i, id := range chunk {
			v, err := cmds[i].Result()
			if isNoScript(err) {
				// The script cache was flushed: Run loads it again.
				v, err = getScript.Run(ctx, d.client, d.keys.lockKeys(id), id, boolArg(waiters)).Result()
			}
			info, err := d.describe(newReply(v, err), id)
			if backend.CodeOf(err) == backend.CodeNotFound {
				continue
			}
			if err != nil {
				return nil, err
			}
			infos = append(infos, *info)
		}
	}
	return infos, nil
}

func isNoScript(err error) bool { return redis.HasErrorPrefix(err, "NOSCRIPT") }

// scanLockIDs returns the sorted IDs of the prefix's locks that have an
// owner or a queue key, and whose ID matches pattern.
func (d *Driver) scanLockIDs(ctx context.Context, pattern string) ([]string, error) {
	var mu sync.Mutex
	seen := map[string]struct{}{}
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		it := c.Scan(ctx, 0, d.keys.scanPattern(), scanCount).Iterator()
		for it.Next(ctx) {
			id, ok := d.keys.lockIDOf(it.Val())
			if !ok {
				continue
			}
			if pattern != "" {
				if m, _ := path.Match(pattern, id); !m {
					continue
				}
			}
			mu.Lock()
			seen[id] = struct{}{}
			mu.Unlock()
		}
		return it.Err()
	}
	var err error
	switch c := d.client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	case *redis.Ring:
		err = c.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error { return scan(ctx, n) })
	default:
		err = scan(ctx, d.client)
	}
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}
