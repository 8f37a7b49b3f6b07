package raftbackend

import (
	"context"
	"crypto/x509"
	"strconv"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/raftlock/raftlock/backend"
)

// IdentitySeparator joins a certificate identity and a name of the
// holder's choosing into a client ID that Config.BindClientIDs accepts
// from that certificate: "alice/job1" belongs to identity "alice". A slash
// because URI identities (SPIFFE IDs) already read as paths.
const IdentitySeparator = "/"

// CertificateIdentity is the identity Config.BindClientIDs reads from a
// client certificate: its first URI SAN ("spiffe://example.org/billing"),
// else its first DNS SAN ("billing.example.org"), else its Subject common
// name; "" when it has none of them (or cert is nil). IP SANs do not count:
// an address says where a client runs, not who it is.
func CertificateIdentity(cert *x509.Certificate) string {
	switch {
	case cert == nil:
		return ""
	case len(cert.URIs) > 0 && cert.URIs[0] != nil:
		return cert.URIs[0].String()
	case len(cert.DNSNames) > 0:
		return cert.DNSNames[0]
	}
	return cert.Subject.CommonName
}

// ClientIDBelongsTo reports whether clientID may be used by the holder of
// a certificate with identity: it is the identity itself, or the identity,
// IdentitySeparator and more ("alice" and "alice/job1" belong to "alice";
// "alice2" and "bob/alice" do not). No client ID belongs to the empty
// identity.
func ClientIDBelongsTo(clientID, identity string) bool {
	if identity == "" {
		return false
	}
	rest, ok := strings.CutPrefix(clientID, identity)
	return ok && (rest == "" || strings.HasPrefix(rest, IdentitySeparator))
}

// peerIdentity returns the identity of the verified client certificate of
// the call in ctx, and whether there is one. A certificate that the server
// did not verify (the API asks for none) does not count.
func peerIdentity(ctx context.Context) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return "", false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return "", false
	}
	return CertificateIdentity(info.State.VerifiedChains[0][0]), true
}

// checkClientID is the identity binding: a request with clientID, about
// lockID, from a caller whose certificate has identity (verified says
// there is a certificate at all) passes only if the client ID belongs to
// the identity. The refusal is CodeInvalidArgument: the request can never
// succeed as sent, whatever the lock's state, and the same answer for a
// lock that exists and one that does not tells the caller nothing about
// other clients' locks. (The gRPC status says PermissionDenied; see
// bindingStatus.)
func checkClientID(lockID, clientID, identity string, verified bool) *backend.Error {
	switch {
	case !verified:
		return &backend.Error{Code: backend.CodeInvalidArgument, LockID: lockID,
			Message: "this store binds client IDs to client certificates, and the call came without one"}
	case identity == "":
		return &backend.Error{Code: backend.CodeInvalidArgument, LockID: lockID,
			Message: "the client certificate names no identity (no URI or DNS SAN, no common name)"}
	case !ClientIDBelongsTo(clientID, identity):
		return &backend.Error{Code: backend.CodeInvalidArgument, LockID: lockID,
			Message: "client ID " + quote(clientID) + " does not belong to the client certificate's identity " +
				quote(identity) + ": use " + quote(identity) + " or " + quote(identity+IdentitySeparator+"...")}
	}
	return nil
}

// quote quotes an ID for a message, cut short if long.
func quote(s string) string {
	const limit = 80
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "..."
	}
	return strconv.Quote(s)
}
