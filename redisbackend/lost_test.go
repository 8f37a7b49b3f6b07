package redisbackend

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t *testing.T, err error, want backend.Code, what string) {
	t.Helper()
	var e *backend.Error
	if !errors.As(err, &e) || e.Code != want {
		t.Errorf("%s: got %v (code %v), want code %v", what, err, backend.CodeOf(err), want)
	}
}

// The store loses the lock behind the holder's back (an operator DELs the
// owner key). The holder's next Renew and Release fail with the typed
// error, a new grant gets a greater version, and the stale version cannot
// touch it. The fencing counter is a separate key that survives.
func TestLockDeletedBehindTheHoldersBack(t *testing.T) {
	ctx := ctxT(t)
	prefix := uniquePrefix("lost")
	a, b := openDriver(t, prefix, Options{}), openDriver(t, prefix, Options{})
	raw := rawClient(t)
	const id = "jobs/nightly"

	ga, err := a.Acquire(ctx, &backend.AcquireRequest{LockID: id, ClientID: "a", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := raw.Del(ctx, a.keys.ownerKey(id)).Result(); err != nil || n != 1 {
		t.Fatalf("DEL owner key = %d, %v; want 1 key deleted", n, err)
	}
	fence, err := raw.Get(ctx, a.keys.fenceKey(id)).Result()
	if err != nil || fence != strconv.FormatInt(ga.Lock.Version, 10) {
		t.Fatalf("fencing counter after the DEL = %q, %v; want %d", fence, err, ga.Lock.Version)
	}

	_, err = a.Renew(ctx, &backend.RenewRequest{LockID: id, ClientID: "a", Version: ga.Lock.Version, TTL: time.Minute})
	wantCode(t, err, backend.CodeNotFound, "Renew of a deleted grant")
	_, err = a.Release(ctx, &backend.ReleaseRequest{LockID: id, ClientID: "a", Version: ga.Lock.Version})
	wantCode(t, err, backend.CodeNotFound, "Release of a deleted grant")

	gb, err := b.Acquire(ctx, &backend.AcquireRequest{LockID: id, ClientID: "b", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if gb.Lock.Version <= ga.Lock.Version {
		t.Fatalf("grant after the DEL has version %d, not above the lost %d", gb.Lock.Version, ga.Lock.Version)
	}
	_, err = a.Renew(ctx, &backend.RenewRequest{LockID: id, ClientID: "a", Version: ga.Lock.Version, TTL: time.Minute})
	wantCode(t, err, backend.CodeNotLockOwner, "stale Renew after another client's grant")
	_, err = a.Release(ctx, &backend.ReleaseRequest{LockID: id, ClientID: "a", Version: ga.Lock.Version})
	wantCode(t, err, backend.CodeNotLockOwner, "stale Release after another client's grant")
	// The holder's own client ID with the stale version is refused too.
	_, err = b.Release(ctx, &backend.ReleaseRequest{LockID: id, ClientID: "b", Version: ga.Lock.Version})
	wantCode(t, err, backend.CodeVersionMismatch, "Release at the lost version by the new holder's ID")

	info, err := b.Get(ctx, &backend.GetRequest{LockID: id})
	if err != nil || info.Owner != "b" || info.Version != gb.Lock.Version {
		t.Fatalf("Get = %+v, %v; want held by b at %d", info, err, gb.Lock.Version)
	}

	// Deleting every key but the counter (as a careless FLUSH of the
	// prefix's lock keys would) still cannot make a version repeat.
	if _, err := raw.Del(ctx, a.keys.ownerKey(id)).Result(); err != nil {
		t.Fatal(err)
	}
	gc, err := a.Acquire(ctx, &backend.AcquireRequest{LockID: id, ClientID: "a", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if gc.Lock.Version <= gb.Lock.Version {
		t.Fatalf("third grant has version %d, not above %d", gc.Lock.Version, gb.Lock.Version)
	}
	if ttl, err := raw.PTTL(ctx, a.keys.fenceKey(id)).Result(); err != nil || ttl != -1 {
		t.Fatalf("fencing counter PTTL = %v, %v; want no expiry", ttl, err)
	}
}

// The scripts survive SCRIPT FLUSH (as after a Redis restart): EVALSHA
// fails with NOSCRIPT and the driver sends the script again.
func TestScriptFlush(t *testing.T) {
	ctx := ctxT(t)
	d := openDriver(t, uniquePrefix("flush"), Options{})
	raw := rawClient(t)
	for i := range 3 {
		if err := raw.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		g, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "l" + strconv.Itoa(i), ClientID: "c", TTL: time.Minute})
		if err != nil {
			t.Fatalf("Acquire after SCRIPT FLUSH: %v", err)
		}
		if err := raw.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		res, err := d.List(ctx, &backend.ListRequest{})
		if err != nil || len(res.Locks) != i+1 {
			t.Fatalf("List after SCRIPT FLUSH: %v, %v", res, err)
		}
		if err := raw.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Renew(ctx, &backend.RenewRequest{LockID: g.Lock.LockID, ClientID: "c", Version: g.Lock.Version, TTL: time.Minute}); err != nil {
			t.Fatalf("Renew after SCRIPT FLUSH: %v", err)
		}
	}
}

// A waiter whose process died (its entry is never renewed) drops out of
// the queue once its lease lapses: the next grant skips it, and the queue
// is not blocked.
func TestDeadWaiterIsSkipped(t *testing.T) {
	ctx := ctxT(t)
	prefix := uniquePrefix("dead")
	holder := openDriver(t, prefix, Options{})
	dead := openDriver(t, prefix, Options{WaiterLease: 100 * time.Millisecond})
	live := openDriver(t, prefix, Options{})
	const id = "l"

	g, err := holder.Acquire(ctx, &backend.AcquireRequest{LockID: id, ClientID: "holder", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// The dead client joins the queue as a blocked Acquire would, then
	// never runs another script: its heartbeat stops, as in a crash.
	r := dead.acquire(ctx, &backend.AcquireRequest{LockID: id, ClientID: "dead", TTL: time.Minute, Wait: true}, modeWait, dead.cfg.waiterLease)
	if r.err != nil || r.status() != "queued" {
		t.Fatalf("dead waiter's join: %v %q", r.err, r.status())
	}
	ready := make(chan struct{})
	var got *backend.AcquireResult
	var gerr error
	go func() {
		defer close(ready)
		got, gerr = live.Acquire(ctx, &backend.AcquireRequest{LockID: id, ClientID: "live", TTL: time.Minute, Wait: true})
	}()
	waitFor(t, func() bool {
		info, err := holder.Get(ctx, &backend.GetRequest{LockID: id, IncludeWaiters: true})
		return err == nil && info.WaiterCount == 2
	})
	time.Sleep(150 * time.Millisecond) // the dead entry lapses
	res, err := holder.Release(ctx, &backend.ReleaseRequest{LockID: id, ClientID: "holder", Version: g.Lock.Version})
	if err != nil {
		t.Fatal(err)
	}
	if res.NextOwner != "live" {
		t.Fatalf("Release handed the lock to %q, want the live waiter", res.NextOwner)
	}
	<-ready
	if gerr != nil || !got.Waited || got.Lock.Owner != "live" {
		t.Fatalf("live waiter's Acquire = %+v, %v", got, gerr)
	}
}

// A lease that runs out while nobody looks still goes to the head waiter,
// and the waiter learns of it without any message: it checks when the
// holder's lease could end (PTTL).
func TestExpiryHandsOffWithoutRelease(t *testing.T) {
	ctx := ctxT(t)
	prefix := uniquePrefix("expiry")
	holder, w := openDriver(t, prefix, Options{}), openDriver(t, prefix, Options{})
	ttl := 150 * time.Millisecond
	sent := time.Now()
	g, err := holder.Acquire(ctx, &backend.AcquireRequest{LockID: "l", ClientID: "h", TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.Acquire(ctx, &backend.AcquireRequest{LockID: "l", ClientID: "w", TTL: time.Minute, Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(sent)
	if took < ttl {
		t.Fatalf("waiter granted %v after the holder's Acquire with TTL %v", took, ttl)
	}
	if took > ttl+time.Second {
		t.Errorf("waiter granted %v after a lease of %v: it did not wake when the lease ended", took, ttl)
	}
	if !res.Waited || res.Lock.Version <= g.Lock.Version {
		t.Fatalf("waiter's grant %+v", res)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	limit := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(limit) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
