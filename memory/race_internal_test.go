package memory

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// The grant reaches a waiter whose context has just ended: its call must
// hand the grant on before it returns the error, so the grant is not
// orphaned. Holding the shard mutex while both happen forces that order.
func TestGiveUpAfterGrantHandsItOn(t *testing.T) {
	for _, next := range []string{"carol", ""} {
		t.Run("next="+next, func(t *testing.T) {
			clk := NewFakeClock(time.Unix(1000, 0))
			s := NewStore(WithClock(clk))
			defer s.Close()
			d := s.NewDriver()
			defer d.Close()
			bg := context.Background()
			if _, err := d.Acquire(bg, &backend.AcquireRequest{LockID: "x", ClientID: "alice", TTL: time.Hour}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(bg)
			defer cancel()
			ch := make(chan error, 1)
			go func() {
				_, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "x", ClientID: "bob", TTL: time.Hour, Wait: true})
				ch <- err
			}()
			sh := s.shardFor("x")
			for queued := false; !queued; time.Sleep(time.Millisecond) {
				sh.mu.Lock()
				queued = len(sh.locks["x"].queue) == 1
				sh.mu.Unlock()
			}
			if next != "" {
				if _, err := d.Enqueue(bg, &backend.EnqueueRequest{LockID: "x", ClientID: next, TTL: time.Hour}); err != nil {
					t.Fatal(err)
				}
			}

			sh.mu.Lock()
			cancel()
			if got := s.vacate(sh, sh.locks["x"], clk.Now()); got != "bob" {
				sh.mu.Unlock()
				t.Fatalf("vacate handed to %q, want bob", got)
			}
			sh.mu.Unlock()

			if err := <-ch; backend.CodeOf(err) != backend.CodeCanceled {
				t.Fatalf("bob's call returned %v, want CodeCanceled", err)
			}
			info, err := d.Get(bg, &backend.GetRequest{LockID: "x", IncludeWaiters: true})
			switch {
			case next == "" && backend.CodeOf(err) != backend.CodeNotFound:
				t.Fatalf("Get: %+v, %v; want the lock free", info, err)
			case next != "" && (err != nil || info.Owner != next || info.WaiterCount != 0):
				t.Fatalf("Get: %+v, %v; want %s holding, nobody waiting", info, err, next)
			}
		})
	}
}

// Free records of released locks are reused for the same ID and compacted
// once they outnumber held ones, so the table does not grow with every
// lock ID ever used.
func TestTableCompaction(t *testing.T) {
	s := NewStore()
	defer s.Close()
	d := s.NewDriver()
	defer d.Close()
	bg := context.Background()
	for i := range 20000 {
		id := "lock-" + strconv.Itoa(i)
		res, err := d.Acquire(bg, &backend.AcquireRequest{LockID: id, ClientID: "c", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Release(bg, &backend.ReleaseRequest{LockID: id, ClientID: "c", Version: res.Lock.Version}); err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		total += len(sh.locks)
		if sh.nfree != len(sh.locks) || len(sh.expiries) != 0 {
			t.Errorf("shard %d: %d records, %d counted free, %d in the expiry heap", i, len(sh.locks), sh.nfree, len(sh.expiries))
		}
		sh.mu.Unlock()
	}
	if limit := numShards * (2*minCompact + 2); total > limit {
		t.Fatalf("%d records left for 20000 released locks, want at most %d", total, limit)
	}
	st, err := d.Status(bg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Locks != 0 {
		t.Fatalf("Status counts %d locks after all were released", st.Locks)
	}
}
