package raftbackend

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/raftpb"
)

func force(lock string, version int64, requestID string) command {
	return command{kind: cmdForceRelease, lockID: lock, version: version, requestID: requestID}
}

func TestFSMForceReleaseHandsOn(t *testing.T) {
	h := newFSMHarness(t)
	g := h.one(1*sec, acq("a", "c1", 100*sec)).lock
	h.one(1*sec, queueAcq("a", "w1"))
	fr := force("a", g.Version, "f1")
	r := h.one(2*sec, fr)
	if r.err != nil || r.lock.Owner != "c1" || r.lock.Version != g.Version || r.next != "w1" {
		t.Fatalf("force release answered %+v", r)
	}
	l := h.f.locks["a"]
	if l.owner != "w1" || l.version != int64(h.index) || l.version <= g.Version {
		t.Fatalf("after the force release the lock is %+v; want w1 at a greater version", l)
	}
	if len(h.events) != 1 || h.events[0].kind != evGranted || h.events[0].clientID != "w1" {
		t.Fatalf("events %+v", h.events)
	}
	// The former holder is treated as after an expiry.
	wantCode(t, h.one(3*sec, command{kind: cmdRelease, lockID: "a", clientID: "c1", version: g.Version}), backend.CodeNotLockOwner)
	wantCode(t, h.one(3*sec, command{kind: cmdRenew, lockID: "a", clientID: "c1", version: g.Version, ttl: sec}), backend.CodeNotLockOwner)

	// The same request again: the first answer, and w1 keeps the lock.
	if again := h.one(3*sec, fr); again.err != nil || again.lock.Version != g.Version || again.next != "w1" {
		t.Fatalf("the repeat answered %+v", again)
	}
	if h.f.locks["a"].owner != "w1" {
		t.Fatal("the repeat ended a second grant")
	}

	// With nobody waiting the lock becomes free.
	if r := h.one(4*sec, force("a", l.version, "f2")); r.err != nil || r.lock.Owner != "w1" || r.next != "" {
		t.Fatalf("second force release: %+v", r)
	}
	if h.f.locks["a"] != nil {
		t.Fatal("the lock is still held")
	}
	wantCode(t, h.one(5*sec, command{kind: cmdRenew, lockID: "a", clientID: "w1", version: l.version, ttl: sec}), backend.CodeNotFound)
	wantCode(t, h.one(5*sec, force("a", l.version, "f3")), backend.CodeNotFound)
}

func TestFSMForceReleaseNeedsTheVersionItRead(t *testing.T) {
	h := newFSMHarness(t)
	g1 := h.one(1*sec, acq("a", "c1", 100*sec)).lock
	h.one(2*sec, command{kind: cmdRelease, lockID: "a", clientID: "c1", version: g1.Version})
	h.one(3*sec, acq("a", "c2", 100*sec))
	before := h.f.view()
	wantCode(t, h.one(4*sec, force("a", g1.Version, "")), backend.CodeVersionMismatch)
	wantCode(t, h.one(4*sec, force("a", 0, "")), backend.CodeInvalidArgument)
	wantCode(t, h.one(4*sec, force("", g1.Version, "")), backend.CodeInvalidArgument)
	if after := h.f.view(); after != before {
		t.Fatalf("refused force releases changed the state:\n%s", after)
	}
}

// A grant made in an entry cannot be ended by the same entry: its
// successor would get the same version.
func TestFSMForceReleaseSparesGrantsOfItsOwnEntry(t *testing.T) {
	h := newFSMHarness(t)
	g := h.one(1*sec, acq("a", "c1", 100*sec)).lock
	h.one(1*sec, queueAcq("a", "w1"))
	h.one(1*sec, queueAcq("a", "w2"))
	next := int64(h.index + 1)
	res := h.apply(2*sec,
		command{kind: cmdRelease, lockID: "a", clientID: "c1", version: g.Version},
		force("a", next, ""))
	wantCode(t, res[1], backend.CodeVersionMismatch)
	if l := h.f.locks["a"]; l.owner != "w1" || l.version != next || len(l.queue) != 1 {
		t.Fatalf("lock %+v", l)
	}
}

// TestForceReleaseOverGRPCFromFollower ends a stuck holder's grant through
// a raft:// driver whose first endpoint is a follower, while another
// client waits for the lock.
func TestForceReleaseOverGRPCFromFollower(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-node cluster in -short mode")
	}
	c := startCluster(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eps := c.endpoints(c.follower())
	dial := func() *RemoteDriver {
		d, err := Dial(ctx, eps)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	holder, waiter, admin := dial(), dial(), dial()
	const lockID = "force/stuck"

	g, err := holder.Acquire(ctx, &backend.AcquireRequest{LockID: lockID, ClientID: "holder", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		res *backend.AcquireResult
		err error
	}
	got := make(chan answer, 1)
	go func() {
		r, err := waiter.Acquire(ctx, &backend.AcquireRequest{LockID: lockID, ClientID: "waiter", TTL: time.Minute,
			Wait: true, WaitTimeout: 30 * time.Second})
		got <- answer{r, err}
	}()
	waitUntil(t, "the waiter to queue", func() bool {
		info, err := admin.Get(ctx, &backend.GetRequest{LockID: lockID})
		return err == nil && info.WaiterCount == 1
	})

	ended, err := admin.ForceRelease(ctx, lockID)
	if err != nil {
		t.Fatal(err)
	}
	if ended.Owner != "holder" || ended.Version != g.Lock.Version {
		t.Fatalf("ended %+v, want the holder's grant at version %d", ended, g.Lock.Version)
	}
	w := <-got
	if w.err != nil {
		t.Fatalf("the waiter: %v", w.err)
	}
	if !w.res.Waited || w.res.Lock.Version <= g.Lock.Version {
		t.Fatalf("the waiter got %+v; want a grant out of the queue above version %d", w.res, g.Lock.Version)
	}
	if admin.LeaderAddress() != c.nodes[c.leader()].APIAddress() {
		t.Errorf("the driver did not follow the redirect to the leader")
	}

	// The former holder's calls fail as after an expiry.
	_, err = holder.Renew(ctx, &backend.RenewRequest{LockID: lockID, ClientID: "holder", Version: g.Lock.Version, TTL: time.Minute})
	if !errors.Is(err, backend.ErrNotLockOwner) {
		t.Fatalf("the former holder's Renew: %v, want ErrNotLockOwner", err)
	}
	_, err = holder.Release(ctx, &backend.ReleaseRequest{LockID: lockID, ClientID: "holder", Version: g.Lock.Version})
	if !errors.Is(err, backend.ErrNotLockOwner) {
		t.Fatalf("the former holder's Release: %v, want ErrNotLockOwner", err)
	}

	// Nobody waits now: the lock becomes free.
	ended, err = admin.ForceRelease(ctx, lockID)
	if err != nil || ended.Owner != "waiter" || ended.Version != w.res.Lock.Version {
		t.Fatalf("second force release: %+v, %v", ended, err)
	}
	_, err = waiter.Renew(ctx, &backend.RenewRequest{LockID: lockID, ClientID: "waiter", Version: w.res.Lock.Version, TTL: time.Minute})
	if !errors.Is(err, backend.ErrLockNotFound) {
		t.Fatalf("Renew after the lock went free: %v, want ErrLockNotFound", err)
	}
	for _, id := range []string{lockID, "force/never-held"} {
		if _, err := admin.ForceRelease(ctx, id); !errors.Is(err, backend.ErrLockNotFound) {
			t.Fatalf("force release of free %s: %v, want ErrLockNotFound", id, err)
		}
	}
	if _, err := admin.ForceRelease(ctx, ""); !errors.Is(err, backend.ErrInvalidArgument) {
		t.Fatalf("force release of an empty ID: %v, want ErrInvalidArgument", err)
	}

	// A follower's node refuses; its embedded driver forwards to the leader.
	f := c.nodes[c.follower()]
	g2, err := holder.Acquire(ctx, &backend.AcquireRequest{LockID: lockID, ClientID: "holder", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ForceRelease(ctx, lockID); backend.CodeOf(err) != backend.CodeNotLeader {
		t.Fatalf("a follower's ForceRelease: %v, want CodeNotLeader", err)
	}
	ed := f.NewDriver()
	defer ed.Close()
	if ended, err := ed.ForceRelease(ctx, lockID); err != nil || ended.Version != g2.Lock.Version {
		t.Fatalf("through the follower's embedded driver: %+v, %v", ended, err)
	}

	// Every node holds the same table.
	c.waitConverged()
	want := c.nodes[0].fsm.view()
	for i, n := range c.nodes {
		if got := n.fsm.view(); got != want {
			t.Fatalf("node %d:\n%s\nnode 0:\n%s", i, got, want)
		}
	}
}

// A ForceRelease sent again with its RequestID, as RemoteDriver sends it to
// the next node when an answer is lost, gets the first answer and leaves
// the next grant alone.
func TestForceReleaseResentIsAppliedOnce(t *testing.T) {
	c := startCluster(t, 1, nil)
	n := c.nodes[0]
	ctx := testCtx(t)
	d := n.NewDriver()
	defer d.Close()
	g, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "l", ClientID: "holder", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Enqueue(ctx, &backend.EnqueueRequest{LockID: "l", ClientID: "w1", TTL: time.Minute, WaitTimeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	cl := raftpb.NewRaftLockClient(rawConn(t, n.APIAddress()))
	req := &raftpb.ForceReleaseRequest{LockId: "l", RequestId: "op-1"}
	for i := range 2 {
		l, err := cl.ForceRelease(ctx, req)
		if err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
		if l.GetOwner() != "holder" || l.GetVersion() != g.Lock.Version {
			t.Fatalf("attempt %d answered %v; want the holder's grant", i+1, l)
		}
	}
	info, err := d.Get(ctx, &backend.GetRequest{LockID: "l"})
	if err != nil || info.Owner != "w1" {
		t.Fatalf("after the resend: %+v, %v; want w1 to keep the lock", info, err)
	}
	_, err = cl.ForceRelease(ctx, &raftpb.ForceReleaseRequest{LockId: "l", RequestId: "bad\x00id"})
	if code := backend.CodeOf(errorFromStatus(ctx, "l", err)); code != backend.CodeInvalidArgument {
		t.Fatalf("a malformed request ID: %v", err)
	}
}

// A server whose node cannot force a release says so.
func TestForceReleaseNotSupportedByOtherNodes(t *testing.T) {
	srv, _ := startMemServer(t)
	ctx := testCtx(t)
	cl := raftpb.NewRaftLockClient(rawConn(t, srv.addr))
	_, err := cl.ForceRelease(ctx, &raftpb.ForceReleaseRequest{LockId: "l"})
	if code := backend.CodeOf(errorFromStatus(ctx, "l", err)); code != backend.CodeNotSupported {
		t.Fatalf("err = %v, want CodeNotSupported", err)
	}
}
