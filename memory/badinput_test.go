package memory_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/memory"
)

// TestBadInput sends every kind of malformed request to every method and
// checks that each fails with its typed error and leaves the store exactly
// as it was.
func TestBadInput(t *testing.T) {
	s, _ := newStore(t, memory.WithTTLRange(time.Second, time.Hour))
	d := newDriver(t, s)
	ctx := context.Background()
	held := acquire(t, d, "held", "alice", time.Minute)
	enqueue(t, d, backend.EnqueueRequest{LockID: "held", ClientID: "carol", WaitTimeout: time.Hour})
	acquireAsync(t, ctx, d, &backend.AcquireRequest{LockID: "held", ClientID: "bob", TTL: time.Minute})

	long := strings.Repeat("x", backend.MaxIDLength+1)
	tooMany := map[string]string{}
	for i := range backend.MaxMetadataEntries + 1 {
		tooMany["k"+strconv.Itoa(i)] = "v"
	}
	big := map[string]string{"k": strings.Repeat("v", backend.MaxMetadataBytes)}
	acq := func(edit func(*backend.AcquireRequest)) *backend.AcquireRequest {
		// Bob's Acquire with Wait on the held lock: if validation were
		// skipped it would block or change the queue.
		r := &backend.AcquireRequest{LockID: "held", ClientID: "dave", TTL: time.Minute, Wait: true}
		edit(r)
		return r
	}
	rel := func(edit func(*backend.ReleaseRequest)) *backend.ReleaseRequest {
		r := &backend.ReleaseRequest{LockID: "held", ClientID: "alice", Version: held.Version}
		edit(r)
		return r
	}
	ren := func(edit func(*backend.RenewRequest)) *backend.RenewRequest {
		r := &backend.RenewRequest{LockID: "held", ClientID: "alice", Version: held.Version, TTL: time.Minute}
		edit(r)
		return r
	}
	enq := func(edit func(*backend.EnqueueRequest)) *backend.EnqueueRequest {
		r := &backend.EnqueueRequest{LockID: "held", ClientID: "dave", TTL: time.Minute}
		edit(r)
		return r
	}
	lst := func(edit func(*backend.ListRequest)) *backend.ListRequest {
		r := &backend.ListRequest{}
		edit(r)
		return r
	}
	call := func(f func() (any, error)) func() error {
		return func() error { _, err := f(); return err }
	}
	acquireCall := func(r *backend.AcquireRequest) func() error {
		return call(func() (any, error) { return d.Acquire(ctx, r) })
	}
	releaseCall := func(r *backend.ReleaseRequest) func() error {
		return call(func() (any, error) { return d.Release(ctx, r) })
	}
	renewCall := func(r *backend.RenewRequest) func() error {
		return call(func() (any, error) { return d.Renew(ctx, r) })
	}
	enqueueCall := func(r *backend.EnqueueRequest) func() error {
		return call(func() (any, error) { return d.Enqueue(ctx, r) })
	}
	listCall := func(r *backend.ListRequest) func() error {
		return call(func() (any, error) { return d.List(ctx, r) })
	}
	getCall := func(r *backend.GetRequest) func() error {
		return call(func() (any, error) { return d.Get(ctx, r) })
	}
	invalid, invalidTTL := backend.ErrInvalidArgument, backend.ErrInvalidTTL

	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"Acquire/nil", acquireCall(nil), invalid},
		{"Acquire/empty lock ID", acquireCall(acq(func(r *backend.AcquireRequest) { r.LockID = "" })), invalid},
		{"Acquire/long lock ID", acquireCall(acq(func(r *backend.AcquireRequest) { r.LockID = long })), invalid},
		{"Acquire/lock ID not UTF-8", acquireCall(acq(func(r *backend.AcquireRequest) { r.LockID = "a\xffb" })), invalid},
		{"Acquire/lock ID with NUL", acquireCall(acq(func(r *backend.AcquireRequest) { r.LockID = "a\x00b" })), invalid},
		{"Acquire/empty client ID", acquireCall(acq(func(r *backend.AcquireRequest) { r.ClientID = "" })), invalid},
		{"Acquire/long client ID", acquireCall(acq(func(r *backend.AcquireRequest) { r.ClientID = long })), invalid},
		{"Acquire/long request ID", acquireCall(acq(func(r *backend.AcquireRequest) { r.RequestID = long })), invalid},
		{"Acquire/zero TTL", acquireCall(acq(func(r *backend.AcquireRequest) { r.TTL = 0 })), invalidTTL},
		{"Acquire/negative TTL", acquireCall(acq(func(r *backend.AcquireRequest) { r.TTL = -time.Second })), invalidTTL},
		{"Acquire/TTL below min", acquireCall(acq(func(r *backend.AcquireRequest) { r.TTL = time.Second - 1 })), invalidTTL},
		{"Acquire/TTL above max", acquireCall(acq(func(r *backend.AcquireRequest) { r.TTL = time.Hour + 1 })), invalidTTL},
		{"Acquire/zero TTL by holder", acquireCall(acq(func(r *backend.AcquireRequest) { r.ClientID, r.TTL = "alice", 0 })), invalidTTL},
		{"Acquire/negative wait timeout", acquireCall(acq(func(r *backend.AcquireRequest) { r.WaitTimeout = -1 })), invalid},
		{"Acquire/huge wait timeout", acquireCall(acq(func(r *backend.AcquireRequest) { r.WaitTimeout = backend.MaxWaitTimeout + 1 })), invalid},
		{"Acquire/priority too high", acquireCall(acq(func(r *backend.AcquireRequest) { r.Priority = backend.MaxPriority + 1 })), invalid},
		{"Acquire/priority too low", acquireCall(acq(func(r *backend.AcquireRequest) { r.Priority = backend.MinPriority - 1 })), invalid},
		{"Acquire/too many metadata entries", acquireCall(acq(func(r *backend.AcquireRequest) { r.Metadata = tooMany })), invalid},
		{"Acquire/metadata too big", acquireCall(acq(func(r *backend.AcquireRequest) { r.Metadata = big })), invalid},
		{"Acquire/metadata empty key", acquireCall(acq(func(r *backend.AcquireRequest) { r.Metadata = map[string]string{"": "v"} })), invalid},
		{"Acquire/metadata long key", acquireCall(acq(func(r *backend.AcquireRequest) { r.Metadata = map[string]string{long: "v"} })), invalid},
		{"Acquire/metadata not UTF-8", acquireCall(acq(func(r *backend.AcquireRequest) { r.Metadata = map[string]string{"k": "\xff"} })), invalid},

		{"Release/nil", releaseCall(nil), invalid},
		{"Release/empty lock ID", releaseCall(rel(func(r *backend.ReleaseRequest) { r.LockID = "" })), invalid},
		{"Release/empty client ID", releaseCall(rel(func(r *backend.ReleaseRequest) { r.ClientID = "" })), invalid},
		{"Release/zero version", releaseCall(rel(func(r *backend.ReleaseRequest) { r.Version = 0 })), invalid},
		{"Release/negative version", releaseCall(rel(func(r *backend.ReleaseRequest) { r.Version = -held.Version })), invalid},
		{"Release/long request ID", releaseCall(rel(func(r *backend.ReleaseRequest) { r.RequestID = long })), invalid},

		{"Renew/nil", renewCall(nil), invalid},
		{"Renew/empty client ID", renewCall(ren(func(r *backend.RenewRequest) { r.ClientID = "" })), invalid},
		{"Renew/zero version", renewCall(ren(func(r *backend.RenewRequest) { r.Version = 0 })), invalid},
		{"Renew/zero TTL", renewCall(ren(func(r *backend.RenewRequest) { r.TTL = 0 })), invalidTTL},
		{"Renew/TTL above max", renewCall(ren(func(r *backend.RenewRequest) { r.TTL = time.Hour + 1 })), invalidTTL},

		{"Get/nil", getCall(nil), invalid},
		{"Get/empty lock ID", getCall(&backend.GetRequest{}), invalid},
		{"Get/lock ID with NUL", getCall(&backend.GetRequest{LockID: "\x00"}), invalid},

		{"List/nil", listCall(nil), invalid},
		{"List/negative limit", listCall(lst(func(r *backend.ListRequest) { r.Limit = -1 })), invalid},
		{"List/limit too big", listCall(lst(func(r *backend.ListRequest) { r.Limit = backend.MaxPageSize + 1 })), invalid},
		{"List/negative offset", listCall(lst(func(r *backend.ListRequest) { r.Offset = -1 })), invalid},
		{"List/cursor and offset", listCall(lst(func(r *backend.ListRequest) { r.Offset, r.Cursor = 1, backend.EncodeCursor("a") })), invalid},
		{"List/malformed cursor", listCall(lst(func(r *backend.ListRequest) { r.Cursor = "!!not base64!!" })), invalid},
		{"List/long cursor", listCall(lst(func(r *backend.ListRequest) { r.Cursor = strings.Repeat("a", backend.MaxCursorLength+1) })), invalid},
		{"List/bad pattern", listCall(lst(func(r *backend.ListRequest) { r.Filter.Pattern = "[" })), invalid},
		{"List/bad owner", listCall(lst(func(r *backend.ListRequest) { r.Filter.Owner = "a\x00" })), invalid},
		{"List/metadata filter too big", listCall(lst(func(r *backend.ListRequest) { r.Filter.Metadata = tooMany })), invalid},
		{"List/empty expiry window", listCall(lst(func(r *backend.ListRequest) {
			r.Filter.ExpiresAfter, r.Filter.ExpiresBefore = epoch.Add(time.Hour), epoch
		})), invalid},

		{"Enqueue/nil", enqueueCall(nil), invalid},
		{"Enqueue/empty client ID", enqueueCall(enq(func(r *backend.EnqueueRequest) { r.ClientID = "" })), invalid},
		{"Enqueue/zero TTL", enqueueCall(enq(func(r *backend.EnqueueRequest) { r.TTL = 0 })), invalidTTL},
		{"Enqueue/TTL below min", enqueueCall(enq(func(r *backend.EnqueueRequest) { r.TTL = time.Millisecond })), invalidTTL},
		{"Enqueue/negative wait timeout", enqueueCall(enq(func(r *backend.EnqueueRequest) { r.WaitTimeout = -1 })), invalid},
		{"Enqueue/priority too high", enqueueCall(enq(func(r *backend.EnqueueRequest) { r.Priority = backend.MaxPriority + 1 })), invalid},
		{"Enqueue/metadata too big", enqueueCall(enq(func(r *backend.EnqueueRequest) { r.Metadata = big })), invalid},

		{"CancelWait/nil", func() error { return d.CancelWait(ctx, nil) }, invalid},
		{"CancelWait/empty client ID", func() error { return d.CancelWait(ctx, &backend.CancelWaitRequest{LockID: "held"}) }, invalid},
		{"CancelWait/long lock ID", func() error { return d.CancelWait(ctx, &backend.CancelWaitRequest{LockID: long, ClientID: "carol"}) }, invalid},

		{"BackoffAdvice/empty lock ID", call(func() (any, error) { return d.BackoffAdvice(ctx, "") }), invalid},
	}

	before := snapshot(t, d)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			var e *backend.Error
			if !errors.As(err, &e) {
				t.Fatalf("%v is not a *backend.Error", err)
			}
			if after := snapshot(t, d); !reflect.DeepEqual(after, before) {
				t.Fatalf("state changed:\n got %+v\nwant %+v", after, before)
			}
		})
	}
}

// storeState is everything a client can see of a store.
type storeState struct {
	Locks  []backend.LockInfo
	Status backend.Status
}

func snapshot(t *testing.T, d *memory.Driver) storeState {
	t.Helper()
	ctx := context.Background()
	list, err := d.List(ctx, &backend.ListRequest{IncludeWaiters: true, Limit: backend.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return storeState{Locks: list.Locks, Status: *st}
}
