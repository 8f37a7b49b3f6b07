package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/memory"
)

func TestCapabilities(t *testing.T) {
	s, _ := newStore(t, memory.WithTTLRange(10*time.Millisecond, time.Hour))
	got := newDriver(t, s).Capabilities()
	want := backend.Capabilities{
		FIFO: true, Priorities: true, ServerSideWait: true, Metadata: true,
		MinTTL: 10 * time.Millisecond, MaxTTL: time.Hour,
	}
	if got != want {
		t.Fatalf("Capabilities() = %+v, want %+v", got, want)
	}
	if def := memory.NewStore().Capabilities(); def.MinTTL != memory.DefaultMinTTL || def.MaxTTL != memory.DefaultMaxTTL {
		t.Fatalf("default TTL range %v..%v, want %v..%v", def.MinTTL, def.MaxTTL, memory.DefaultMinTTL, memory.DefaultMaxTTL)
	}
}

func TestAcquireGetRelease(t *testing.T) {
	s, _ := newStore(t)
	a, b := newDriver(t, s), newDriver(t, s)

	l := acquire(t, a, "jobs/nightly", "alice", time.Minute)
	if l.LockID != "jobs/nightly" || l.Owner != "alice" || l.Version <= 0 {
		t.Fatalf("grant %+v: want the lock, the owner and a positive version", l)
	}
	if !l.AcquiredAt.Equal(epoch) || !l.ExpiresAt.Equal(epoch.Add(time.Minute)) {
		t.Fatalf("grant times %v..%v, want %v..%v", l.AcquiredAt, l.ExpiresAt, epoch, epoch.Add(time.Minute))
	}

	// Another driver (another process) sees it held.
	info := getInfo(t, b, "jobs/nightly")
	if info == nil || !info.Held || info.Owner != "alice" || info.Version != l.Version || info.WaiterCount != 0 {
		t.Fatalf("Get through another driver: %+v", info)
	}
	_, err := b.Acquire(context.Background(), &backend.AcquireRequest{LockID: "jobs/nightly", ClientID: "bob", TTL: time.Minute})
	wantCode(t, err, backend.CodeLockHeld)
	var e *backend.Error
	if errorsAs(err, &e); e.Owner != "alice" || e.LockID != "jobs/nightly" {
		t.Fatalf("LockHeld error details %+v: want Owner alice and the lock ID", e)
	}

	if res := release(t, a, l); res.NextOwner != "" {
		t.Fatalf("NextOwner %q with nobody waiting", res.NextOwner)
	}
	if info := getInfo(t, b, "jobs/nightly"); info != nil {
		t.Fatalf("Get after Release: %+v, want CodeNotFound", info)
	}
	l2 := acquire(t, b, "jobs/nightly", "bob", time.Minute)
	if l2.Version <= l.Version {
		t.Fatalf("version after release %d, want more than %d", l2.Version, l.Version)
	}
}

func TestReacquireByHolderReturnsSameGrant(t *testing.T) {
	s, clk := newStore(t)
	d := newDriver(t, s)
	l := acquire(t, d, "x", "alice", time.Minute)
	clk.Advance(10 * time.Second)
	res, err := d.Acquire(context.Background(), &backend.AcquireRequest{LockID: "x", ClientID: "alice", TTL: time.Hour, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Lock.Version != l.Version || !res.Lock.ExpiresAt.Equal(l.ExpiresAt) || !res.Lock.AcquiredAt.Equal(l.AcquiredAt) {
		t.Fatalf("re-acquire returned %+v, want the grant %+v unchanged", res.Lock, l)
	}
	// The grant predates this call, so the caller must not count a lease
	// from it: AlreadyHeld says so.
	if !res.AlreadyHeld || res.Waited {
		t.Fatal("re-acquire of an existing grant does not report AlreadyHeld (and only that)")
	}
}

func TestVersionsStrictlyIncrease(t *testing.T) {
	s, clk := newStore(t)
	d := newDriver(t, s)
	ids := []string{"a", "b", "c", "lock-1", "lock-2"}
	last := map[string]int64{}
	seen := map[int64]string{}
	check := func(l backend.Lock) {
		t.Helper()
		if l.Version <= last[l.LockID] {
			t.Fatalf("%s: version %d after %d", l.LockID, l.Version, last[l.LockID])
		}
		if other, dup := seen[l.Version]; dup {
			t.Fatalf("version %d issued to %s and %s", l.Version, other, l.LockID)
		}
		last[l.LockID], seen[l.Version] = l.Version, l.LockID
	}
	for round := range 50 {
		for _, id := range ids {
			l := acquire(t, d, id, "c"+id, time.Second)
			check(l)
			if round%2 == 0 {
				release(t, d, l)
			}
		}
		if round%2 == 1 {
			clk.Advance(time.Second) // expire them all
		}
	}
}

func TestReleaseAndRenewChecks(t *testing.T) {
	s, _ := newStore(t)
	d := newDriver(t, s)
	l := acquire(t, d, "x", "alice", time.Minute)
	ctx := context.Background()
	tests := []struct {
		name     string
		lockID   string
		clientID string
		version  int64
		want     backend.Code
	}{
		{"other owner", "x", "bob", l.Version, backend.CodeNotLockOwner},
		{"other owner, other version", "x", "bob", l.Version + 1, backend.CodeNotLockOwner},
		{"stale version", "x", "alice", l.Version + 1, backend.CodeVersionMismatch},
		{"free lock", "y", "alice", l.Version, backend.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run("Release/"+tt.name, func(t *testing.T) {
			_, err := d.Release(ctx, &backend.ReleaseRequest{LockID: tt.lockID, ClientID: tt.clientID, Version: tt.version})
			wantCode(t, err, tt.want)
		})
		t.Run("Renew/"+tt.name, func(t *testing.T) {
			_, err := d.Renew(ctx, &backend.RenewRequest{LockID: tt.lockID, ClientID: tt.clientID, Version: tt.version, TTL: time.Hour})
			wantCode(t, err, tt.want)
		})
	}
	info := getInfo(t, d, "x")
	if info.Owner != "alice" || info.Version != l.Version || !info.ExpiresAt.Equal(l.ExpiresAt) {
		t.Fatalf("refused calls changed the lock: %+v, was %+v", info.Lock, l)
	}
	release(t, d, l)
	_, err := d.Release(ctx, &backend.ReleaseRequest{LockID: "x", ClientID: "alice", Version: l.Version})
	wantCode(t, err, backend.CodeNotFound)
}

func TestRenewKeepsVersionAndMovesExpiry(t *testing.T) {
	s, clk := newStore(t)
	d := newDriver(t, s)
	l := acquire(t, d, "x", "alice", 10*time.Second)
	clk.Advance(8 * time.Second)
	r, err := d.Renew(context.Background(), &backend.RenewRequest{LockID: "x", ClientID: "alice", Version: l.Version, TTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != l.Version || !r.ExpiresAt.Equal(epoch.Add(18*time.Second)) || !r.AcquiredAt.Equal(l.AcquiredAt) {
		t.Fatalf("Renew returned %+v: want version %d, acquired %v, expiry %v", r, l.Version, l.AcquiredAt, epoch.Add(18*time.Second))
	}
	// Past the first expiry, the lock lives on.
	clk.Advance(9 * time.Second)
	if info := getInfo(t, d, "x"); info == nil || info.Version != l.Version {
		t.Fatalf("renewed lock gone at its old expiry: %+v", info)
	}
	// A renewal may also shorten the lease; the lock then expires on time.
	if _, err := d.Renew(context.Background(), &backend.RenewRequest{LockID: "x", ClientID: "alice", Version: l.Version, TTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if info := getInfo(t, d, "x"); info != nil {
		t.Fatalf("lock renewed for 1s still there after 1s: %+v", info)
	}
}

func TestMetadataIsCopied(t *testing.T) {
	s, _ := newStore(t)
	d := newDriver(t, s)
	md := map[string]string{"host": "a", "pid": "1"}
	res, err := d.Acquire(context.Background(), &backend.AcquireRequest{LockID: "x", ClientID: "alice", TTL: time.Minute, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	md["host"] = "changed after the call"
	res.Lock.Metadata["pid"] = "changed through the result"
	info := getInfo(t, d, "x")
	if info.Metadata["host"] != "a" || info.Metadata["pid"] != "1" || len(info.Metadata) != 2 {
		t.Fatalf("store's metadata changed through caller maps: %v", info.Metadata)
	}
	info.Metadata["host"] = "changed through Get"
	list, err := d.List(context.Background(), &backend.ListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := list.Locks[0].Metadata["host"]; got != "a" {
		t.Fatalf("store's metadata changed through Get's map: host=%q", got)
	}
	// No metadata stays nil rather than an empty map.
	if l := acquire(t, d, "y", "alice", time.Minute); l.Metadata != nil {
		t.Fatalf("grant without metadata has %v", l.Metadata)
	}
}

func TestContextDoneBeforeCall(t *testing.T) {
	s, _ := newStore(t)
	d := newDriver(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "x", ClientID: "alice", TTL: time.Minute})
	wantCode(t, err, backend.CodeCanceled)
	if getInfo(t, d, "x") != nil {
		t.Fatal("Acquire with a cancelled context took the lock")
	}
}
