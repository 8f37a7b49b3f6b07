package redisbackend

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/redis/go-redis/v9"
)

// A driver made with NewDriver leaves the caller's client open; one made
// by Open closes its own.
func TestCloseOwnsOnlyItsClient(t *testing.T) {
	ctx := ctxT(t)
	c := rawClient(t)
	d, err := NewDriver(c, WithPrefix(uniquePrefix("newdriver")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "l", ClientID: "c", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Errorf("the caller's client after the driver's Close: %v", err)
	}
	_, err = d.Get(ctx, &backend.GetRequest{LockID: "l"})
	wantCode(t, err, backend.CodeClosed, "Get after Close")

	o := openDriver(t, uniquePrefix("open"), Options{})
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := o.Client().Ping(ctx).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("Open's client after Close: %v, want redis.ErrClosed", err)
	}
}

// Close wakes every blocked call with CodeClosed, and they leave their
// queues before Close returns.
func TestCloseWakesEveryWaiter(t *testing.T) {
	ctx := ctxT(t)
	prefix := uniquePrefix("closewake")
	holder, w := openDriver(t, prefix, Options{}), openDriver(t, prefix, Options{})
	if _, err := holder.Acquire(ctx, &backend.AcquireRequest{LockID: "l", ClientID: "h", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 3)
	for _, id := range []string{"w1", "w2", "w3"} {
		go func() {
			_, err := w.Acquire(ctx, &backend.AcquireRequest{LockID: "l", ClientID: id, TTL: time.Minute, Wait: true})
			errs <- err
		}()
	}
	waitFor(t, func() bool {
		info, err := holder.Get(ctx, &backend.GetRequest{LockID: "l"})
		return err == nil && info.WaiterCount == 3
	})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := holder.Get(ctx, &backend.GetRequest{LockID: "l"})
	if err != nil || info.WaiterCount != 0 {
		t.Errorf("after Close the queue is %+v, %v; want empty", info, err)
	}
	for range 3 {
		wantCode(t, <-errs, backend.CodeClosed, "blocked Acquire when its driver closed")
	}
}

// A call whose ctx is already done fails with ContextError and changes
// nothing; a nil request is refused, never a panic.
func TestBadCalls(t *testing.T) {
	d := openDriver(t, uniquePrefix("bad"), Options{})
	done, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := d.Acquire(done, &backend.AcquireRequest{LockID: "l", ClientID: "c", TTL: time.Second})
	wantCode(t, err, backend.CodeCanceled, "Acquire with a cancelled ctx")
	ctx := ctxT(t)
	_, err = d.Get(ctx, &backend.GetRequest{LockID: "l"})
	wantCode(t, err, backend.CodeNotFound, "Get after a cancelled Acquire")
	_, err = d.BackoffAdvice(ctx, "")
	wantCode(t, err, backend.CodeInvalidArgument, "BackoffAdvice of an empty lock ID")
	_, err = d.List(ctx, &backend.ListRequest{Cursor: "!!"})
	wantCode(t, err, backend.CodeInvalidArgument, "List with a cursor it did not issue")
}

func TestAdmin(t *testing.T) {
	ctx := ctxT(t)
	prefix := uniquePrefix("admin")
	d, w := openDriver(t, prefix, Options{}), openDriver(t, prefix, Options{})
	if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "a", ClientID: "c", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Enqueue(ctx, &backend.EnqueueRequest{LockID: "a", ClientID: "w", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	st, err := d.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Store != "redis" || st.Role != "master" || st.Details["redis_version"] == "" ||
		st.Locks != 1 || st.HeldLocks != 1 || st.Waiters != 1 {
		t.Errorf("Status = %+v", st)
	}
	h, err := d.Health(ctx)
	if err != nil || !h.Serving {
		t.Errorf("Health = %+v, %v", h, err)
	}
	a, err := d.BackoffAdvice(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	free, err := d.BackoffAdvice(ctx, "free")
	if err != nil {
		t.Fatal(err)
	}
	if a.InitialBackoff <= free.InitialBackoff {
		t.Errorf("advice for a contested lock %+v is not above a free one's %+v", a, free)
	}
}

// The poll floor is the smallest backoff the driver advises.
func TestMinPollIsTheSmallestAdvice(t *testing.T) {
	if got := backend.AdviseBackoff(0).InitialBackoff; minPoll != got {
		t.Fatalf("minPoll %v, smallest advice %v", minPoll, got)
	}
}
