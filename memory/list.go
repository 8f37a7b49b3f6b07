package memory

import (
	"context"
	"slices"
	"strings"

	"github.com/raftlock/raftlock/backend"
)

// List returns one page of the locks that match req.Filter, ordered by lock
// ID, paginated with backend.Page (cursor or offset). Total is exact.
//
// Each shard is read under its own mutex, one after another, so a page is
// not a snapshot of the whole store at one instant; the cursor still never
// returns a lock twice nor skips one that exists throughout.
func (d *Driver) List(ctx context.Context, req *backend.ListRequest) (*backend.ListResult, error) {
	if err := d.admit(ctx, backend.ValidateList(req), nil); err != nil {
		return nil, err
	}
	if req.Cursor != "" {
		// Check the cursor before gathering, so a malformed one costs
		// nothing.
		if _, e := backend.DecodeCursor(req.Cursor); e != nil {
			return nil, e
		}
	}
	var matches []backend.LockInfo
	err := d.store.eachHeld(func(ls *lockState) {
		info := ls.info(false)
		if !backend.MatchFilter(&req.Filter, &info) {
			return
		}
		if req.IncludeWaiters {
			info.Waiters = ls.waiters()
		}
		matches = append(matches, info)
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(matches, func(a, b backend.LockInfo) int { return strings.Compare(a.LockID, b.LockID) })
	res, err := backend.Page(matches, req)
	if err != nil {
		return nil, err
	}
	// The metadata maps are still the store's (never changed in place, so
	// safe to read after the shard mutex is let go); give the caller copies
	// of those on the page only.
	for i := range res.Locks {
		res.Locks[i].Metadata = backend.CloneMetadata(res.Locks[i].Metadata)
	}
	return res, nil
}
