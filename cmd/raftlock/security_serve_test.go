//go:build unix

package main

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/testpki"
	"github.com/raftlock/raftlock/raftbackend"
)

// Three serve processes with mutual TLS on both listeners and client IDs
// bound to certificates: a client with its certificate works, a plaintext
// client does not, and another client cannot release its lock.
func TestServeMutualTLS(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	nodeCA, err := testpki.NewCA(dir, "nodes")
	if err != nil {
		t.Fatal(err)
	}
	node, err := nodeCA.Issue(testpki.Node("node"))
	if err != nil {
		t.Fatal(err)
	}
	clientCA, err := testpki.NewCA(dir, "clients")
	if err != nil {
		t.Fatal(err)
	}
	clientOpt := func(id string) raftbackend.RemoteOption {
		is, err := clientCA.Issue(testpki.Client(id))
		if err != nil {
			t.Fatal(err)
		}
		return raftbackend.RemoteTLSFiles(raftbackend.TLSFiles{CertFile: is.CertFile, KeyFile: is.KeyFile, CAFile: nodeCA.File})
	}

	c := newCluster(t, 3, "--tls-cert", node.CertFile, "--tls-key", node.KeyFile, "--tls-ca", nodeCA.File,
		"--tls-client-ca", clientCA.File, "--bind-client-ids")
	c.start(t)
	eps := c.endpoints()

	dialAs := func(id string) *raftbackend.RemoteDriver {
		opt := clientOpt(id)
		d := do(t, "dial as "+id, func(ctx context.Context) (*raftbackend.RemoteDriver, error) {
			return raftbackend.Dial(ctx, eps, opt)
		})
		t.Cleanup(func() { d.Close() })
		return d
	}
	alice, bob := dialAs("alice"), dialAs("bob")
	grant := do(t, "acquire", func(ctx context.Context) (*backend.AcquireResult, error) {
		return alice.Acquire(ctx, &backend.AcquireRequest{LockID: "tls/lock", ClientID: "alice/job1", TTL: time.Minute, RequestID: "tls-acquire"})
	})
	_, err = bob.Release(context.Background(), &backend.ReleaseRequest{LockID: "tls/lock", ClientID: "alice/job1", Version: grant.Lock.Version})
	if !errors.Is(err, backend.ErrInvalidArgument) {
		t.Fatalf("bob releases alice's lock: %v, want ErrInvalidArgument", err)
	}
	do(t, "release", func(ctx context.Context) (*backend.ReleaseResult, error) {
		return alice.Release(ctx, &backend.ReleaseRequest{LockID: "tls/lock", ClientID: "alice/job1", Version: grant.Lock.Version})
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if d, err := raftbackend.Dial(ctx, eps); err == nil {
		d.Close()
		t.Fatal("a plaintext client reached a node")
	}

	c.signal(t, syscall.SIGTERM)
	for _, p := range c.procs {
		if code := p.wait(t); code != 0 {
			t.Errorf("%s exited with %d after SIGTERM (%v), want 0", p.label, code, p.err)
		}
	}
}
