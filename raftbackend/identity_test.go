package raftbackend

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/raftpb"
	"github.com/raftlock/raftlock/internal/testpki"
)

func TestCertificateIdentity(t *testing.T) {
	uri, _ := url.Parse("spiffe://example.org/billing")
	for _, tc := range []struct {
		name string
		cert *x509.Certificate
		want string
	}{
		{"nil", nil, ""},
		{"URI first", &x509.Certificate{URIs: []*url.URL{uri}, DNSNames: []string{"b.example.org"}, Subject: pkix.Name{CommonName: "cn"}}, "spiffe://example.org/billing"},
		{"then DNS", &x509.Certificate{DNSNames: []string{"b.example.org", "x"}, Subject: pkix.Name{CommonName: "cn"}}, "b.example.org"},
		{"then CN", &x509.Certificate{Subject: pkix.Name{CommonName: "cn"}}, "cn"},
		{"nothing", &x509.Certificate{}, ""},
	} {
		if got := CertificateIdentity(tc.cert); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestClientIDBelongsTo(t *testing.T) {
	for _, tc := range []struct {
		clientID, identity string
		want               bool
	}{
		{"alice", "alice", true},
		{"alice/job1", "alice", true},
		{"alice/", "alice", true},
		{"alice/a/b", "alice", true},
		{"alice2", "alice", false},
		{"alic", "alice", false},
		{"bob/alice", "alice", false},
		{"", "alice", false},
		{"alice", "", false},
		{"", "", false},
		{"spiffe://example.org/billing/w1", "spiffe://example.org/billing", true},
		{"spiffe://example.org/billing2", "spiffe://example.org/billing", false},
	} {
		if got := ClientIDBelongsTo(tc.clientID, tc.identity); got != tc.want {
			t.Errorf("ClientIDBelongsTo(%q, %q) = %v, want %v", tc.clientID, tc.identity, got, tc.want)
		}
	}
}

// wantUnbound checks that err is the identity binding's refusal.
func wantUnbound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, backend.ErrInvalidArgument) || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("%s: err = %v, want the identity binding's refusal", what, err)
	}
}

// With BindClientIDs, a client's certificate decides which client IDs it
// may use: bob cannot release, renew, wait as or cancel the wait of
// alice, even knowing her client ID and version, and every refusal
// changes nothing.
func TestBindClientIDs(t *testing.T) {
	p := newTestPKI(t)
	c := startSecureCluster(t, p, 3, func(c *Config) { c.BindClientIDs = true })
	eps := c.endpoints(c.follower()) // start at a follower: redirects keep the binding
	ctx := testCtx(t)
	alice := dialTestWith(t, eps, p.client(p.clientCA, "alice"))
	bob := dialTestWith(t, eps, p.client(p.clientCA, "bob"))

	grant, err := alice.Acquire(ctx, &backend.AcquireRequest{LockID: "bound", ClientID: "alice/job1", TTL: time.Minute, RequestID: "a-1"})
	if err != nil {
		t.Fatal(err)
	}
	v := grant.Lock.Version

	_, err = bob.Release(ctx, &backend.ReleaseRequest{LockID: "bound", ClientID: "alice/job1", Version: v})
	wantUnbound(t, "bob releases alice's lock", err)
	_, err = bob.Renew(ctx, &backend.RenewRequest{LockID: "bound", ClientID: "alice/job1", Version: v, TTL: time.Hour})
	wantUnbound(t, "bob renews alice's lock", err)
	_, err = bob.Acquire(ctx, &backend.AcquireRequest{LockID: "other", ClientID: "alice/x", TTL: time.Minute})
	wantUnbound(t, "bob acquires as alice/x", err)
	_, err = bob.Acquire(ctx, &backend.AcquireRequest{LockID: "bound", ClientID: "alice/x", TTL: time.Minute, Wait: true, WaitTimeout: time.Second})
	wantUnbound(t, "bob waits as alice/x", err)
	_, err = bob.Enqueue(ctx, &backend.EnqueueRequest{LockID: "bound", ClientID: "alice", TTL: time.Minute})
	wantUnbound(t, "bob enqueues as alice", err)
	_, err = bob.Acquire(ctx, &backend.AcquireRequest{LockID: "bound", ClientID: "alice2", TTL: time.Minute})
	wantUnbound(t, "bob acquires as alice2", err)

	// Alice queues behind herself as another holder; bob cannot cancel it.
	if _, err := alice.Enqueue(ctx, &backend.EnqueueRequest{LockID: "bound", ClientID: "alice/job2", TTL: time.Minute, WaitTimeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	err = bob.CancelWait(ctx, &backend.CancelWaitRequest{LockID: "bound", ClientID: "alice/job2"})
	wantUnbound(t, "bob cancels alice's wait", err)

	info, err := bob.Get(ctx, &backend.GetRequest{LockID: "bound", IncludeWaiters: true})
	if err != nil {
		t.Fatal(err) // reads are not bound
	}
	if info.Owner != "alice/job1" || info.Version != v || !info.ExpiresAt.Equal(grant.Lock.ExpiresAt) ||
		len(info.Waiters) != 1 || info.Waiters[0].ClientID != "alice/job2" {
		t.Fatalf("after bob's attempts: %+v, want alice/job1's grant %d unchanged with alice/job2 waiting", info, v)
	}

	// Bob's own IDs work, and so do alice's for alice.
	if _, err := bob.Acquire(ctx, &backend.AcquireRequest{LockID: "bobs", ClientID: "bob", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Release(ctx, &backend.ReleaseRequest{LockID: "bound", ClientID: "alice/job1", Version: v}); err != nil {
		t.Fatal(err)
	}

	// Generic gRPC clients see PermissionDenied.
	is := p.issue(p.clientCA, testpki.Client("mallory"))
	r, err := newTLSReloader(TLSFiles{CertFile: is.CertFile, KeyFile: is.KeyFile, CAFile: p.nodeCA.File}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(dialTarget(c.nodes[c.leader()].APIAddress()),
		grpc.WithTransportCredentials(credentials.NewTLS(r.clientConfig())))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	_, err = raftpb.NewRaftLockClient(cc).Release(ctx, &raftpb.ReleaseRequest{LockId: "bobs", ClientId: "bob", Version: 1})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("raw gRPC release as another: %v, want PermissionDenied", err)
	}
}

// An application that embeds a node uses client IDs under its node's
// certificate identity, on the leader and on a follower, whose calls the
// leader checks against the follower's certificate when it forwards them.
func TestBindClientIDsEmbedded(t *testing.T) {
	p := newTestPKI(t)
	c := startSecureCluster(t, p, 3, func(c *Config) { c.BindClientIDs = true })
	ctx := testCtx(t)
	for _, i := range []int{c.leader(), c.follower()} {
		n := c.nodes[i]
		d := n.NewDriver()
		defer d.Close()
		own := n.ID() + "/app"
		lock := "embedded/" + n.ID()
		res, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: lock, ClientID: own, TTL: time.Minute, RequestID: own + "-1"})
		if err != nil {
			t.Fatalf("%s acquires as %s: %v", n.ID(), own, err)
		}
		_, err = d.Release(ctx, &backend.ReleaseRequest{LockID: lock, ClientID: "alice/job1", Version: res.Lock.Version})
		wantUnbound(t, n.ID()+" releases as alice", err)
		if _, err := d.Release(ctx, &backend.ReleaseRequest{LockID: lock, ClientID: own, Version: res.Lock.Version}); err != nil {
			t.Fatal(err)
		}
	}
}

// The guard reads the client ID of every request that carries one, and
// refuses calls that come without a verified certificate.
func TestGuardAdmit(t *testing.T) {
	g := &apiGuard{bind: true}
	ctx := context.Background()
	for _, msg := range []any{
		&raftpb.AcquireCall{Call: &raftpb.AcquireCall_Request{Request: &raftpb.AcquireRequest{LockId: "l", ClientId: "c"}}},
		&raftpb.AcquireRequest{LockId: "l", ClientId: "c"},
		&raftpb.ReleaseRequest{LockId: "l", ClientId: "c"},
		&raftpb.RenewRequest{LockId: "l", ClientId: "c"},
		&raftpb.EnqueueWaiterRequest{LockId: "l", ClientId: "c"},
		&raftpb.CancelWaitRequest{LockId: "l", ClientId: "c"},
	} {
		err := g.admit(ctx, msg)
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "without one") {
			t.Errorf("%T without a certificate: %v", msg, err)
		}
	}
	for _, msg := range []any{
		&raftpb.GetLockInfoRequest{LockId: "l"},
		&raftpb.GetLocksRequest{},
		&raftpb.GetStatusRequest{},
		&raftpb.AcquireCall{Call: &raftpb.AcquireCall_Cancel{Cancel: &raftpb.AcquireCancel{}}},
	} {
		if err := g.admit(ctx, msg); err != nil {
			t.Errorf("%T names no client and must pass: %v", msg, err)
		}
	}
	for method, want := range map[string]bool{
		raftpb.RaftLock_Release_FullMethodName:         true,
		raftpb.RaftLock_Acquire_FullMethodName:         true,
		raftpb.RaftLock_GetCapabilities_FullMethodName: false,
		raftpb.RaftLock_Health_FullMethodName:          false,
		"/grpc.health.v1.Health/Check":                 false,
	} {
		if got := guarded(method); got != want {
			t.Errorf("guarded(%s) = %v, want %v", method, got, want)
		}
	}
}
