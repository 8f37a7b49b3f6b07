package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/memory"
)

func open(t *testing.T, rawURL string) *memory.Driver {
	t.Helper()
	d, err := backend.Open(context.Background(), rawURL, backend.OpenOptions{})
	if err != nil {
		t.Fatalf("Open(%q): %v", rawURL, err)
	}
	md, ok := d.(*memory.Driver)
	if !ok {
		t.Fatalf("Open(%q) gave a %T", rawURL, d)
	}
	return md
}

func TestURLPrivateStores(t *testing.T) {
	a, b := open(t, "mem://"), open(t, "MEM://")
	defer a.Close()
	defer b.Close()
	acquire(t, a, "x", "alice", time.Minute)
	acquire(t, b, "x", "bob", time.Minute) // another store
	if a.Store() == b.Store() {
		t.Fatal("two mem:// URLs share a store")
	}
	st := a.Store()
	a.Close()
	// The private store closed with its only driver.
	_, err := st.NewDriver().Get(context.Background(), &backend.GetRequest{LockID: "x"})
	wantCode(t, err, backend.CodeClosed)
}

func TestURLNamedStoreIsSharedAndCounted(t *testing.T) {
	a := open(t, "mem://shared-test")
	b := open(t, "mem://shared-test/")
	l := acquire(t, a, "x", "alice", time.Minute)
	if info := getInfo(t, b, "x"); info == nil || info.Version != l.Version {
		t.Fatalf("second driver of mem://shared-test sees %+v", info)
	}
	if st, _ := b.Status(context.Background()); st.NodeID != "shared-test" {
		t.Fatalf("Status.NodeID %q, want the store's name", st.NodeID)
	}
	a.Close()
	if info := getInfo(t, b, "x"); info == nil {
		t.Fatal("store closed while a driver was still open")
	}
	b.Close()
	// The last close dropped the store; the name now opens a fresh one.
	c := open(t, "mem://shared-test")
	defer c.Close()
	if info := getInfo(t, c, "x"); info != nil {
		t.Fatalf("reopened name still has %+v", info)
	}
}

func TestURLOptions(t *testing.T) {
	d := open(t, "mem://?max_locks=1&max_waiters=1&min_ttl=10ms&max_ttl=1h&default_wait_timeout=3s")
	defer d.Close()
	ctx := context.Background()
	if caps := d.Capabilities(); caps.MinTTL != 10*time.Millisecond || caps.MaxTTL != time.Hour {
		t.Fatalf("TTL range %v..%v", caps.MinTTL, caps.MaxTTL)
	}
	acquire(t, d, "x", "alice", time.Minute)
	_, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "y", ClientID: "alice", TTL: time.Minute})
	wantCode(t, err, backend.CodeResourceExhausted)
	enqueue(t, d, backend.EnqueueRequest{LockID: "x", ClientID: "bob"})
	_, err = d.Enqueue(ctx, &backend.EnqueueRequest{LockID: "x", ClientID: "carol", TTL: time.Minute})
	wantCode(t, err, backend.CodeWaitQueueFull)
	w := getInfo(t, d, "x").Waiters[0]
	if got := w.TimeoutAt.Sub(w.EnqueuedAt); got != 3*time.Second {
		t.Fatalf("Enqueue'd waiter's timeout %v after joining, want 3s", got)
	}
}

func TestURLNamedStoreOptionsMustAgree(t *testing.T) {
	a := open(t, "mem://agree?max_locks=5")
	defer a.Close()
	b := open(t, "mem://agree") // no options: joins as it is
	defer b.Close()
	c := open(t, "mem://agree?max_locks=5&max_ttl=24h") // same options
	defer c.Close()
	_, err := backend.Open(context.Background(), "mem://agree?max_locks=6", backend.OpenOptions{})
	wantCode(t, err, backend.CodeInvalidArgument)
	if a.Store() != b.Store() || a.Store() != c.Store() {
		t.Fatal("drivers of one name reach different stores")
	}
}

func TestURLErrors(t *testing.T) {
	for _, u := range []string{
		"mem://?nope=1",
		"mem://?max_locks=many",
		"mem://?max_locks=-1",
		"mem://?max_waiters=1.5",
		"mem://?min_ttl=5",
		"mem://?min_ttl=0s",
		"mem://?max_ttl=-1s",
		"mem://?min_ttl=1h&max_ttl=1m",
		"mem://?default_wait_timeout=25h",
		"mem://?default_wait_timeout=0s",
		"mem://?max_locks=1&max_locks=2",
		"mem://?max_locks=%zz",
		"mem://name/path",
		"mem://user@name",
		"mem:name",
		"mem://name#frag",
	} {
		t.Run(u, func(t *testing.T) {
			d, err := backend.Open(context.Background(), u, backend.OpenOptions{})
			if err == nil {
				d.Close()
			}
			wantCode(t, err, backend.CodeInvalidArgument)
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := backend.Open(ctx, "mem://", backend.OpenOptions{})
	wantCode(t, err, backend.CodeCanceled)
}
