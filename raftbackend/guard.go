package raftbackend

import (
	"context"
	"fmt"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/raftpb"
)

// apiGuard admits the calls of the client API, as gRPC interceptors, before
// any handler sees them: first the per-client rate limit, then the
// identity binding. A refused call changes nothing.
//
// Only the RaftLock service is guarded, and not its GetCapabilities and
// Health calls: a client sends GetCapabilities once when it connects and
// health probes must answer even for a client over its rate. The
// grpc.health.v1 and reflection services on the same server pass too.
type apiGuard struct {
	bind    bool         // Config.BindClientIDs
	limiter *rateLimiter // nil: no rate limit
	admin   *adminCheck  // nil: operator calls are not restricted
}

// serverOptions installs the guard. Chained interceptors add to those of
// other options rather than replace them.
func (g *apiGuard) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(g.unary),
		grpc.ChainStreamInterceptor(g.stream),
	}
}

// guarded reports whether the guard checks calls of method.
func guarded(method string) bool {
	switch method {
	case raftpb.RaftLock_GetCapabilities_FullMethodName, raftpb.RaftLock_Health_FullMethodName:
		return false
	}
	return strings.HasPrefix(method, "/"+raftpb.RaftLock_ServiceDesc.ServiceName+"/")
}

func (g *apiGuard) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if guarded(info.FullMethod) {
		if err := g.admit(ctx, req); err != nil {
			return nil, err
		}
		if g.admin != nil && adminMethod(info.FullMethod) {
			if e := g.admin.admit(ctx, info.FullMethod); e != nil {
				return nil, bindingStatus(e)
			}
		}
	}
	return handler(ctx, req)
}

func (g *apiGuard) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	switch {
	case !guarded(info.FullMethod):
		return handler(srv, ss)
	case info.FullMethod == raftpb.RaftLock_Calls_FullMethodName:
		// Many calls share the stream, and one refused call must not end
		// the others: the handler admits each (callStream.admit) with the
		// guard it finds in the stream's context.
		return handler(srv, &contextStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), guardKey{}, g)})
	}
	return handler(srv, &guardedStream{ServerStream: ss, guard: g})
}

// guardKey is the context key of the guard of a Calls stream.
type guardKey struct{}

// guardOf returns the guard the interceptor left in a Calls stream's
// context, or nil when the server has none.
func guardOf(ctx context.Context) *apiGuard {
	g, _ := ctx.Value(guardKey{}).(*apiGuard)
	return g
}

// contextStream is a server stream with a context of the interceptor's.
type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context implements grpc.ServerStream.
func (s *contextStream) Context() context.Context { return s.ctx }

// guardedStream admits a stream by its first message, which carries the
// request (the Acquire stream's AcquireCall). If the guard refuses it, the
// handler's first Recv fails with the refusal, which the handler returns.
type guardedStream struct {
	grpc.ServerStream
	guard    *apiGuard
	admitted bool
}

// RecvMsg implements grpc.ServerStream.
func (s *guardedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if s.admitted {
		return nil
	}
	if err := s.guard.admit(s.Context(), m); err != nil {
		return err
	}
	s.admitted = true
	return nil
}

// admit applies the rate limit and the identity binding to one request.
func (g *apiGuard) admit(ctx context.Context, msg any) error {
	lockID, clientID, hasClient := requestIDs(msg)
	identity, verified := peerIdentity(ctx)
	if g.limiter != nil {
		key, who := rateKey(ctx, identity, verified, clientID)
		if ok, wait := g.limiter.take(key); !ok {
			return statusError(&backend.Error{
				Code: backend.CodeRateLimit, LockID: lockID, RetryAfter: wait,
				Message: fmt.Sprintf("%s is over its rate limit of %g calls/s; retry in %v", who, g.limiter.rate, wait),
			})
		}
	}
	if g.bind && hasClient {
		if e := checkClientID(lockID, clientID, identity, verified); e != nil {
			return bindingStatus(e)
		}
	}
	return nil
}

// requestIDs reads the lock ID and client ID of a request message;
// hasClient says whether the message carries a client ID at all (reads and
// admin calls do not).
func requestIDs(msg any) (lockID, clientID string, hasClient bool) {
	if call, ok := msg.(*raftpb.AcquireCall); ok {
		req := call.GetRequest()
		if req == nil {
			// A cancel before any request: the handler refuses it.
			return "", "", false
		}
		msg = req
	}
	if m, ok := msg.(interface{ GetLockId() string }); ok {
		lockID = m.GetLockId()
	}
	if m, ok := msg.(interface{ GetClientId() string }); ok {
		return lockID, m.GetClientId(), true
	}
	return lockID, "", false
}

// rateKey is the key a call is counted under, and how to name it in a
// message: the client certificate's identity when there is one (a client
// cannot choose it), else the request's client ID, else the caller's IP
// address (calls that name no client, or plaintext callers' reads).
func rateKey(ctx context.Context, identity string, verified bool, clientID string) (key, who string) {
	switch {
	case verified:
		return "cert\x00" + identity, "certificate identity " + quote(identity)
	case clientID != "":
		return "client\x00" + clientID, "client ID " + quote(clientID)
	}
	host := "unknown"
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		host = p.Addr.String()
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	return "addr\x00" + host, "address " + host
}

// bindingStatus is the gRPC status of an identity binding refusal: the
// ErrorDetail carries e (CodeInvalidArgument) to raftlock clients, and the
// status code is PermissionDenied, which is what it is to generic gRPC
// tools.
func bindingStatus(e *backend.Error) error {
	p := statusOf(e).Proto()
	p.Code = int32(codes.PermissionDenied)
	return status.FromProto(p).Err()
}
