package raftbackend

import (
	"context"
	"crypto/x509"
	"slices"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/raftpb"
)

// Operator calls change the cluster or end another client's grant, and
// name no client ID the identity binding could check. When the client API
// requires client certificates, they are admitted only from the nodes
// themselves (a certificate the nodes' CAs verify: nodes join through each
// other's API) and from the identities listed in Config.AdminIdentities.
// Clients should therefore get their certificates from a CA of their own
// (ClientCAFile): a client certificate signed by the nodes' CA is a node's.
//
// Without client certificates the API cannot tell callers apart, and
// anyone who reaches it may call these, as any other call; the security
// section of the package documentation says to use mutual TLS.

// adminMethod reports whether method is an operator call.
func adminMethod(method string) bool {
	switch method {
	case raftpb.RaftLock_Join_FullMethodName, raftpb.RaftLock_Leave_FullMethodName, raftpb.RaftLock_ForceRelease_FullMethodName:
		return true
	}
	return false
}

// adminCheck admits or refuses an operator call.
type adminCheck struct {
	identities []string              // Config.AdminIdentities
	nodeRoots  func() *x509.CertPool // the CAs that sign the nodes' certificates
}

// admit refuses an operator call whose caller is neither a node nor a
// listed administrator, with the identity binding's refusal.
func (a *adminCheck) admit(ctx context.Context, method string) *backend.Error {
	leaf, intermediates := peerChain(ctx)
	if leaf == nil {
		return &backend.Error{Code: backend.CodeInvalidArgument,
			Message: method + " is an operator call, and it came without a client certificate"}
	}
	identity := CertificateIdentity(leaf)
	if identity != "" && slices.Contains(a.identities, identity) {
		return nil
	}
	if roots := a.nodeRoots(); roots != nil {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err == nil {
			return nil // a node's certificate
		}
	}
	return &backend.Error{Code: backend.CodeInvalidArgument,
		Message: method + " is an operator call; certificate identity " + quote(identity) +
			" is neither a node's nor one of the store's administrators"}
}

// peerChain returns the verified client certificate of the call in ctx and
// the intermediates it came with; nil when there is none.
func peerChain(ctx context.Context) (*x509.Certificate, *x509.CertPool) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return nil, nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil, nil
	}
	chain := info.State.VerifiedChains[0]
	pool := x509.NewCertPool()
	for _, c := range chain[1:] {
		pool.AddCert(c)
	}
	return chain[0], pool
}
