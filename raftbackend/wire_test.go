package raftbackend

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/raftpb"
)

// viaWire marshals m and unmarshals it into a new message of its type, as
// the other end of a connection would see it.
func viaWire[M proto.Message](t *testing.T, m M) M {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	out := m.ProtoReflect().New().Interface().(M)
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	return out
}

// sameValue fails unless got and want are deeply equal, times compared
// with Equal (what comes back is in the local zone, without a monotonic
// reading).
func sameValue(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(normTimes(got), normTimes(want)) {
		t.Errorf("%s round trip:\n got  %+v\n want %+v", what, got, want)
	}
}

// normTimes returns v with every time.Time in it put in UTC, so that
// DeepEqual compares instants.
func normTimes(v any) any {
	rv := reflect.ValueOf(v)
	out := reflect.New(rv.Type()).Elem()
	out.Set(rv)
	normValue(out)
	return out.Interface()
}

func normValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			c := reflect.New(v.Elem().Type())
			c.Elem().Set(v.Elem())
			normValue(c.Elem())
			v.Set(c)
		}
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			v.Set(reflect.ValueOf(t.UTC()))
			return
		}
		for i := range v.NumField() {
			normValue(v.Field(i))
		}
	case reflect.Slice:
		if !v.IsNil() {
			c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
			reflect.Copy(c, v)
			for i := range c.Len() {
				normValue(c.Index(i))
			}
			v.Set(c)
		}
	}
}

var (
	wireT1 = time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.UTC)
	wireT2 = wireT1.Add(30 * time.Second)
	wireMD = map[string]string{"job": "nightly", "host": "h1"}
)

func TestWireTimes(t *testing.T) {
	if got := timeToPB(time.Time{}); got != 0 {
		t.Errorf("zero time travels as %d, want 0", got)
	}
	if got := timeFromPB(0); !got.IsZero() {
		t.Errorf("0 comes back as %v, want the zero time", got)
	}
	now := time.Now() // with a monotonic reading
	back := timeFromPB(timeToPB(now))
	if !back.Equal(now) {
		t.Errorf("%v came back as %v", now, back)
	}
	if strings.Contains(back.String(), "m=") {
		t.Errorf("time from the wire has a monotonic reading: %v", back)
	}
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := timeToPB(far); got != math.MaxInt64 {
		t.Errorf("year 9999 travels as %d, want the largest instant", got)
	}
	early := time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)
	if got := timeToPB(early); got != math.MinInt64 {
		t.Errorf("year 1 travels as %d, want the smallest instant", got)
	}
}

func TestWireLockAndInfo(t *testing.T) {
	l := backend.Lock{LockID: "a", Owner: "o", Version: 7, AcquiredAt: wireT1, ExpiresAt: wireT2, Metadata: wireMD}
	sameValue(t, "Lock", lockFromPB(viaWire(t, lockToPB(&l))), l)

	free := backend.Lock{LockID: "a"}
	got := lockFromPB(viaWire(t, lockToPB(&free)))
	if got.Metadata != nil || !got.AcquiredAt.IsZero() || !got.ExpiresAt.IsZero() {
		t.Errorf("free lock came back as %+v", got)
	}
	empty := backend.Lock{LockID: "a", Metadata: map[string]string{}}
	if got := lockFromPB(viaWire(t, lockToPB(&empty))); got.Metadata != nil {
		t.Errorf("empty metadata came back as %#v, want nil", got.Metadata)
	}

	info := backend.LockInfo{
		Lock: l, Held: true, WaiterCount: 2,
		Waiters: []backend.Waiter{
			{ClientID: "w1", Priority: 5, EnqueuedAt: wireT1, TimeoutAt: wireT2, Position: 0},
			{ClientID: "w2", Priority: -3, EnqueuedAt: wireT2, Position: 1},
		},
	}
	sameValue(t, "LockInfo", lockInfoFromPB(viaWire(t, lockInfoToPB(&info))), info)
	noWaiters := backend.LockInfo{Lock: l, Held: true, WaiterCount: 4}
	sameValue(t, "LockInfo without waiters", lockInfoFromPB(viaWire(t, lockInfoToPB(&noWaiters))), noWaiters)
}

func TestWireRequests(t *testing.T) {
	acq := &backend.AcquireRequest{
		LockID: "a", ClientID: "c", TTL: 1500 * time.Millisecond, Wait: true,
		WaitTimeout: time.Minute, Priority: -7, Metadata: wireMD, RequestID: "r1",
	}
	sameValue(t, "AcquireRequest", acquireRequestFromPB(viaWire(t, acquireRequestToPB(acq))), acq)
	// Out-of-range values travel unchanged, for the receiver's validation.
	neg := &backend.AcquireRequest{LockID: "a", ClientID: "c", TTL: -time.Second, WaitTimeout: -1, Priority: math.MinInt32}
	sameValue(t, "invalid AcquireRequest", acquireRequestFromPB(viaWire(t, acquireRequestToPB(neg))), neg)

	rel := &backend.ReleaseRequest{LockID: "a", ClientID: "c", Version: 9, RequestID: "r2"}
	sameValue(t, "ReleaseRequest", releaseRequestFromPB(viaWire(t, releaseRequestToPB(rel))), rel)
	ren := &backend.RenewRequest{LockID: "a", ClientID: "c", Version: 9, TTL: time.Hour, RequestID: "r3"}
	sameValue(t, "RenewRequest", renewRequestFromPB(viaWire(t, renewRequestToPB(ren))), ren)
	get := &backend.GetRequest{LockID: "a", IncludeWaiters: true, Stale: true}
	sameValue(t, "GetRequest", getRequestFromPB(viaWire(t, getRequestToPB(get))), get)
	enq := &backend.EnqueueRequest{
		LockID: "a", ClientID: "c", TTL: time.Second, WaitTimeout: time.Hour, Priority: 3, Metadata: wireMD, RequestID: "r4",
	}
	sameValue(t, "EnqueueRequest", enqueueRequestFromPB(viaWire(t, enqueueRequestToPB(enq))), enq)
	cw := &backend.CancelWaitRequest{LockID: "a", ClientID: "c", RequestID: "r5"}
	sameValue(t, "CancelWaitRequest", cancelWaitRequestFromPB(viaWire(t, cancelWaitRequestToPB(cw))), cw)

	list := &backend.ListRequest{
		Filter: backend.ListFilter{
			Pattern: "jobs/*", Owner: "o", OnlyHeld: true, OnlyContested: true,
			ExpiresBefore: wireT2, ExpiresAfter: wireT1, Metadata: wireMD,
		},
		Limit: 50, Cursor: "abc", Offset: 0, IncludeWaiters: true, Stale: true,
	}
	back, e := listRequestFromPB(viaWire(t, listRequestToPB(list)))
	if e != nil {
		t.Fatal(e)
	}
	sameValue(t, "ListRequest", back, list)
	zero, e := listRequestFromPB(&raftpb.GetLocksRequest{})
	if e != nil || !reflect.DeepEqual(*zero, backend.ListRequest{}) {
		t.Errorf("empty GetLocksRequest = %+v, %v; want the zero ListRequest", zero, e)
	}
}

func TestWireResults(t *testing.T) {
	l := backend.Lock{LockID: "a", Owner: "o", Version: 7, AcquiredAt: wireT1, ExpiresAt: wireT2, Metadata: wireMD}
	ar := &backend.AcquireResult{Lock: l, Waited: true, AlreadyHeld: true}
	sameValue(t, "AcquireResult", acquireResultFromPB(viaWire(t, acquireResultToPB(ar))), ar)
	rr := &backend.ReleaseResult{NextOwner: "w1"}
	sameValue(t, "ReleaseResult", releaseResultFromPB(viaWire(t, releaseResultToPB(rr))), rr)
	er := &backend.EnqueueResult{Granted: false, Position: 3}
	sameValue(t, "EnqueueResult", enqueueResultFromPB(viaWire(t, enqueueResultToPB(er))), er)
	eg := &backend.EnqueueResult{Granted: true, Lock: l}
	sameValue(t, "granted EnqueueResult", enqueueResultFromPB(viaWire(t, enqueueResultToPB(eg))), eg)

	lr := &backend.ListResult{
		Locks: []backend.LockInfo{
			{Lock: l, Held: true, WaiterCount: 1, Waiters: []backend.Waiter{{ClientID: "w", EnqueuedAt: wireT1}}},
			{Lock: backend.Lock{LockID: "b", Owner: "p", Version: 1, ExpiresAt: wireT2}, Held: true},
		},
		NextCursor: "next", Total: -1,
	}
	sameValue(t, "ListResult", listResultFromPB(viaWire(t, listResultToPB(lr))), lr)
	emptyPage := &backend.ListResult{Total: 0}
	sameValue(t, "empty ListResult", listResultFromPB(viaWire(t, listResultToPB(emptyPage))), emptyPage)
}

func TestWireAdmin(t *testing.T) {
	st := &backend.Status{
		Store: "raft", NodeID: "n1", Role: "leader", Leader: "h1:7001",
		Term: 3, CommitIndex: 100, AppliedIndex: 99,
		Peers: []backend.PeerStatus{
			{ID: "n1", Address: "h1:7000", Voter: true, MatchIndex: 100},
			{ID: "n2", Address: "h2:7000", Voter: false, MatchIndex: 97, LastContact: 40 * time.Millisecond},
		},
		Locks: 10, HeldLocks: 8, Waiters: 4, Details: map[string]string{"k": "v"},
	}
	sameValue(t, "Status", statusFromPB(viaWire(t, statusToPB(st))), st)
	h := &backend.Health{Serving: true, Message: "ok"}
	sameValue(t, "Health", healthFromPB(viaWire(t, healthToPB(h))), h)
	a := &backend.BackoffAdvice{InitialBackoff: 5 * time.Millisecond, MaxBackoff: time.Second, Multiplier: 1.5, JitterFactor: 0.25}
	sameValue(t, "BackoffAdvice", backoffAdviceFromPB(viaWire(t, backoffAdviceToPB(a))), a)
	caps := backend.Capabilities{
		FIFO: true, Priorities: true, ServerSideWait: true, Metadata: true, Replicated: true,
		MinTTL: time.Millisecond, MaxTTL: 24 * time.Hour, TTLGranularity: time.Second,
	}
	sameValue(t, "Capabilities", capabilitiesFromPB(viaWire(t, capabilitiesToPB(caps))), caps)
	ms := []Member{
		{ID: "n1", RaftAddress: "h1:7000", APIAddress: "h1:7001", Voter: true, Leader: true},
		{ID: "n2", RaftAddress: "h2:7000"},
	}
	sameValue(t, "Members", membersFromPB(viaWire(t, membersToPB(ms))), ms)
}

// Nil messages read as zero values: a malformed answer never panics.
func TestWireNilMessages(t *testing.T) {
	if got := lockFromPB(nil); !reflect.DeepEqual(got, backend.Lock{}) {
		t.Errorf("nil Lock = %+v", got)
	}
	if got := lockInfoFromPB(&raftpb.LockInfo{}); got.LockID != "" || got.Waiters != nil {
		t.Errorf("empty LockInfo = %+v", got)
	}
	if got := acquireResultFromPB(nil); got == nil || got.Lock.LockID != "" {
		t.Errorf("nil AcquireResponse = %+v", got)
	}
	if got := statusFromPB(nil); got == nil || got.Peers != nil {
		t.Errorf("nil Status = %+v", got)
	}
	if got := membersFromPB(nil); len(got) != 0 {
		t.Errorf("nil MembersResponse = %+v", got)
	}
	if got := listFilterFromPB(nil); !reflect.DeepEqual(got, backend.ListFilter{}) {
		t.Errorf("nil ListFilter = %+v", got)
	}
	if got := capabilitiesFromPB(nil); got != (backend.Capabilities{}) {
		t.Errorf("nil Capabilities = %+v", got)
	}
}
