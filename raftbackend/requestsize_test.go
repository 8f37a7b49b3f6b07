package raftbackend

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/raftpb"
)

// TestOversizedRequestGetsTypedError sends requests over a node's request
// size limit through a raft:// driver: each fails with
// CodeResourceExhausted, applies nothing, and the node serves on.
func TestOversizedRequestGetsTypedError(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.MaxRequestBytes = 2048 })
	ctx := testCtx(t)
	d, err := Dial(ctx, c.endpoints(0))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// Valid metadata (under backend.MaxMetadataBytes), over the node's limit.
	big := map[string]string{"blob": strings.Repeat("x", 3000)}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"TryAcquire", func() error {
			_, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "big", ClientID: "c", TTL: time.Minute, Metadata: big})
			return err
		}},
		{"waiting Acquire", func() error {
			_, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "big", ClientID: "c", TTL: time.Minute, Metadata: big,
				Wait: true, WaitTimeout: time.Second})
			return err
		}},
		{"Enqueue", func() error {
			_, err := d.Enqueue(ctx, &backend.EnqueueRequest{LockID: "big", ClientID: "c", TTL: time.Minute, Metadata: big})
			return err
		}},
	} {
		err := tc.call()
		if !errors.Is(err, backend.ErrResourceExhausted) {
			t.Fatalf("%s over the limit: %v, want ErrResourceExhausted", tc.name, err)
		}
		var e *backend.Error
		if !errors.As(err, &e) || e.LockID != "big" || !strings.Contains(e.Message, "larger than max") {
			t.Errorf("%s: error %#v does not say what was too large", tc.name, e)
		}
	}
	if _, err := d.Get(ctx, &backend.GetRequest{LockID: "big"}); !errors.Is(err, backend.ErrLockNotFound) {
		t.Fatalf("after the refused requests: %v, want ErrLockNotFound", err)
	}
	if _, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "small", ClientID: "c", TTL: time.Minute,
		Metadata: map[string]string{"k": "v"}}); err != nil {
		t.Fatalf("a request under the limit: %v", err)
	}
	if st, err := d.Status(ctx); err != nil || st.Locks != 1 {
		t.Fatalf("status after the refused requests: %+v, %v", st, err)
	}
}

// The largest requests backend's validation lets through are far below
// the default limit, and near the size Config.MaxRequestBytes documents.
func TestLargestValidRequestFitsTheDefault(t *testing.T) {
	id := strings.Repeat("i", backend.MaxIDLength)
	md := make(map[string]string, backend.MaxMetadataEntries)
	per := backend.MaxMetadataBytes / backend.MaxMetadataEntries
	for i := range backend.MaxMetadataEntries {
		k := fmt.Sprintf("k%02d", i)
		md[k] = strings.Repeat("v", per-len(k))
	}
	caps := backend.Capabilities{MinTTL: DefaultMinTTL, MaxTTL: DefaultMaxTTL}
	acquire := &backend.AcquireRequest{LockID: id, ClientID: id, RequestID: id, TTL: DefaultMaxTTL, Wait: true,
		WaitTimeout: backend.MaxWaitTimeout, Priority: backend.MinPriority, Metadata: md}
	enqueue := &backend.EnqueueRequest{LockID: id, ClientID: id, RequestID: id, TTL: DefaultMaxTTL,
		WaitTimeout: backend.MaxWaitTimeout, Priority: backend.MinPriority, Metadata: md}
	if e := backend.ValidateAcquire(acquire, caps); e != nil {
		t.Fatal(e)
	}
	if e := backend.ValidateEnqueue(enqueue, caps); e != nil {
		t.Fatal(e)
	}
	for name, m := range map[string]proto.Message{
		"Acquire": &raftpb.AcquireCall{Call: &raftpb.AcquireCall_Request{Request: acquireRequestToPB(acquire)}},
		"Enqueue": enqueueRequestToPB(enqueue),
	} {
		n := proto.Size(m)
		t.Logf("largest valid %s: %d bytes", name, n)
		if n > 6<<10 {
			t.Errorf("the largest valid %s takes %d bytes; the documents say just over 5 KiB", name, n)
		}
	}
}
