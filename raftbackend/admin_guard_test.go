package raftbackend

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// Under mutual TLS, operator calls come only from the nodes and from the
// listed administrators: a client cannot force-release another's lock or
// change the membership, whatever client IDs are bound.
func TestOperatorCallsNeedAnAdministrator(t *testing.T) {
	p := newTestPKI(t)
	c := startSecureCluster(t, p, 3, func(c *Config) { c.AdminIdentities = []string{"ops"} })
	eps := c.endpoints(c.follower())
	ctx := testCtx(t)
	alice := dialTestWith(t, eps, p.client(p.clientCA, "alice"))
	ops := dialTestWith(t, eps, p.client(p.clientCA, "ops"))

	grant, err := alice.Acquire(ctx, &backend.AcquireRequest{LockID: "ops-test", ClientID: "alice", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_, err = alice.ForceRelease(ctx, "ops-test")
	wantNotAdmin(t, "a client force-releases", err)
	wantNotAdmin(t, "a client removes a node", alice.Leave(ctx, c.nodes[c.follower()].ID()))
	wantNotAdmin(t, "a client adds a node", alice.Join(ctx, "intruder", "127.0.0.1:1", "127.0.0.1:2"))
	if members, err := alice.Members(ctx); err != nil || len(members) != 3 {
		t.Fatalf("members after the refusals: %v, %v; want the 3 nodes", members, err)
	}

	ended, err := ops.ForceRelease(ctx, "ops-test")
	if err != nil {
		t.Fatalf("the administrator's ForceRelease: %v", err)
	}
	if ended.Version != grant.Lock.Version {
		t.Fatalf("ForceRelease ended version %d, want %d", ended.Version, grant.Lock.Version)
	}

	// A node's certificate (signed by the nodes' CA) is trusted as a node.
	node := dialTestWith(t, eps, p.client(p.nodeCA, "n9"))
	if _, err := node.ForceRelease(ctx, "ops-test"); backend.CodeOf(err) != backend.CodeNotFound {
		t.Fatalf("a node's ForceRelease of a free lock: %v, want not found (admitted)", err)
	}
}

// wantNotAdmin checks that err is the refusal of an operator call.
func wantNotAdmin(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, backend.ErrInvalidArgument) || !strings.Contains(err.Error(), "operator call") {
		t.Fatalf("%s: err = %v, want the refusal of an operator call", what, err)
	}
}

func TestAdminCheckWithoutCertificate(t *testing.T) {
	a := &adminCheck{identities: []string{"ops"}, nodeRoots: func() *x509.CertPool { return nil }}
	if e := a.admit(testCtx(t), "/raftlock.v1.RaftLock/Leave"); e == nil || e.Code != backend.CodeInvalidArgument {
		t.Fatalf("an operator call without a certificate: %v", e)
	}
}
