package memory_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

func lockIDs(infos []backend.LockInfo) []string {
	ids := make([]string, len(infos))
	for i, in := range infos {
		ids[i] = in.LockID
	}
	return ids
}

func TestListFilters(t *testing.T) {
	s, clk := newStore(t)
	d := newDriver(t, s)
	ctx := context.Background()
	for _, l := range []struct {
		id, owner string
		ttl       time.Duration
		md        map[string]string
	}{
		{"jobs/b", "alice", time.Minute, map[string]string{"env": "prod"}},
		{"jobs/a", "bob", time.Hour, map[string]string{"env": "dev"}},
		{"shards/1", "alice", 10 * time.Minute, nil},
		{"shards/2", "carol", 2 * time.Hour, map[string]string{"env": "prod", "zone": "eu"}},
	} {
		if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: l.id, ClientID: l.owner, TTL: l.ttl, Metadata: l.md}); err != nil {
			t.Fatal(err)
		}
	}
	enqueue(t, d, backend.EnqueueRequest{LockID: "shards/1", ClientID: "dave", WaitTimeout: time.Hour})
	clk.Advance(time.Second)

	tests := []struct {
		name   string
		filter backend.ListFilter
		want   []string
	}{
		{"all", backend.ListFilter{}, []string{"jobs/a", "jobs/b", "shards/1", "shards/2"}},
		{"pattern", backend.ListFilter{Pattern: "jobs/*"}, []string{"jobs/a", "jobs/b"}},
		{"owner", backend.ListFilter{Owner: "alice"}, []string{"jobs/b", "shards/1"}},
		{"held", backend.ListFilter{OnlyHeld: true}, []string{"jobs/a", "jobs/b", "shards/1", "shards/2"}},
		{"contested", backend.ListFilter{OnlyContested: true}, []string{"shards/1"}},
		{"expires before", backend.ListFilter{ExpiresBefore: epoch.Add(30 * time.Minute)}, []string{"jobs/b", "shards/1"}},
		{"expires after", backend.ListFilter{ExpiresAfter: epoch.Add(30 * time.Minute)}, []string{"jobs/a", "shards/2"}},
		{"metadata", backend.ListFilter{Metadata: map[string]string{"env": "prod"}}, []string{"jobs/b", "shards/2"}},
		{"metadata pair", backend.ListFilter{Metadata: map[string]string{"env": "prod", "zone": "eu"}}, []string{"shards/2"}},
		{"combined", backend.ListFilter{Pattern: "shards/*", Owner: "alice", OnlyContested: true}, []string{"shards/1"}},
		{"none", backend.ListFilter{Owner: "nobody"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := d.List(ctx, &backend.ListRequest{Filter: tt.filter})
			if err != nil {
				t.Fatal(err)
			}
			if got := lockIDs(res.Locks); !slices.Equal(got, tt.want) {
				t.Fatalf("List = %v, want %v", got, tt.want)
			}
			if res.Total != len(tt.want) || res.NextCursor != "" {
				t.Fatalf("Total %d, NextCursor %q; want %d, none", res.Total, res.NextCursor, len(tt.want))
			}
		})
	}

	// Waiters are filled only when asked for; WaiterCount always.
	res, err := d.List(ctx, &backend.ListRequest{Filter: backend.ListFilter{Pattern: "shards/1"}})
	if err != nil {
		t.Fatal(err)
	}
	if in := res.Locks[0]; in.WaiterCount != 1 || in.Waiters != nil || !in.Held || in.Owner != "alice" {
		t.Fatalf("without waiters: %+v", in)
	}
	res, err = d.List(ctx, &backend.ListRequest{Filter: backend.ListFilter{Pattern: "shards/1"}, IncludeWaiters: true})
	if err != nil {
		t.Fatal(err)
	}
	if w := res.Locks[0].Waiters; len(w) != 1 || w[0].ClientID != "dave" || w[0].Position != 0 {
		t.Fatalf("with waiters: %+v", w)
	}

	// Expired locks are not listed.
	clk.Advance(time.Minute)
	res, err = d.List(ctx, &backend.ListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := lockIDs(res.Locks); !slices.Equal(got, []string{"jobs/a", "shards/1", "shards/2"}) {
		t.Fatalf("after jobs/b expired: %v", got)
	}
}

func TestListPagination(t *testing.T) {
	s, _ := newStore(t)
	d := newDriver(t, s)
	ctx := context.Background()
	var all []string
	for i := range 25 {
		id := string(rune('a'+i)) + "-lock"
		all = append(all, id)
		acquire(t, d, id, "c", time.Hour)
	}
	slices.Sort(all)

	t.Run("cursor", func(t *testing.T) {
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("cursor does not end")
			}
			res, err := d.List(ctx, &backend.ListRequest{Limit: 7, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			if want := min(pages, 1) + 25; res.Total != want {
				t.Fatalf("page %d: Total %d, want %d", pages, res.Total, want)
			}
			got = append(got, lockIDs(res.Locks)...)
			// A lock that appears between pages, before the cursor, is not
			// returned; the ones after it still are.
			if pages == 0 {
				acquire(t, d, "a-0", "c", time.Hour)
			}
			if cursor = res.NextCursor; cursor == "" {
				break
			}
		}
		if !slices.Equal(got, all) {
			t.Fatalf("pages gave %v, want %v", got, all)
		}
	})
	t.Run("offset", func(t *testing.T) {
		res, err := d.List(ctx, &backend.ListRequest{Limit: 5, Offset: 24})
		if err != nil {
			t.Fatal(err)
		}
		// 26 locks now, with a-0 first.
		if got := lockIDs(res.Locks); !slices.Equal(got, all[23:]) || res.Total != 26 {
			t.Fatalf("offset page %v (total %d), want %v (26)", got, res.Total, all[23:])
		}
		res, err = d.List(ctx, &backend.ListRequest{Offset: 100})
		if err != nil || len(res.Locks) != 0 {
			t.Fatalf("offset past the end: %v, %v", res, err)
		}
	})
	t.Run("default page size", func(t *testing.T) {
		for i := range backend.DefaultPageSize {
			acquire(t, d, "z-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "c", time.Hour)
		}
		res, err := d.List(ctx, &backend.ListRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Locks) != backend.DefaultPageSize || res.NextCursor == "" {
			t.Fatalf("default page: %d locks, cursor %q", len(res.Locks), res.NextCursor)
		}
	})
}
