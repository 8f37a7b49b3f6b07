package etcdbackend

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftlock/raftlock/backend"
)

// unavailableRetryAfter is the RetryAfter hint of CodeUnavailable: about
// one etcd election, after which a new leader usually serves again.
const unavailableRetryAfter = 200 * time.Millisecond

func closedError(lockID string) *backend.Error {
	return &backend.Error{Code: backend.CodeClosed, LockID: lockID, Message: "etcd driver is closed"}
}

// callError classifies the failure of a call to etcd. The call ran under a
// context derived from both ctx (the caller's) and the driver's life, so a
// context error means either that the driver closed or that the caller gave
// up; which one is told by looking at both.
func (d *Driver) callError(ctx context.Context, lockID string, err error) *backend.Error {
	var be *backend.Error
	switch {
	case errors.As(err, &be):
		return be
	case d.life.Err() != nil:
		return closedError(lockID)
	case ctx.Err() != nil:
		return backend.ContextError(ctx, lockID)
	}
	return etcdError(lockID, err)
}

// etcdError maps an etcd client error onto a backend code. etcd's client
// turns the server's gRPC statuses into rpctypes.EtcdError values; both
// carry a gRPC code, which decides.
func etcdError(lockID string, err error) *backend.Error {
	e := &backend.Error{LockID: lockID, Err: err}
	switch {
	case errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrLeaderChanged):
		e.Code, e.RetryAfter = backend.CodeLeaderUnavailable, unavailableRetryAfter
		return e
	case errors.Is(err, rpctypes.ErrNoSpace):
		e.Code = backend.CodeResourceExhausted
		return e
	case errors.Is(err, rpctypes.ErrTooManyRequests):
		e.Code, e.RetryAfter = backend.CodeRateLimit, unavailableRetryAfter
		return e
	case errors.Is(err, context.DeadlineExceeded):
		// A deadline of the client's own (a dial timeout), not the caller's.
		e.Code, e.RetryAfter = backend.CodeUnavailable, unavailableRetryAfter
		return e
	}
	code := codes.Unknown
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		code = ee.Code()
	} else if st, ok := status.FromError(err); ok {
		code = st.Code()
	}
	switch code {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted:
		e.Code, e.RetryAfter = backend.CodeUnavailable, unavailableRetryAfter
	case codes.ResourceExhausted:
		e.Code, e.RetryAfter = backend.CodeRateLimit, unavailableRetryAfter
	case codes.InvalidArgument, codes.OutOfRange:
		e.Code = backend.CodeInvalidArgument
	case codes.Internal, codes.DataLoss:
		e.Code = backend.CodeInternal
	case codes.Unimplemented:
		e.Code = backend.CodeNotSupported
	default:
		// Authentication and permission failures land here too: no retry
		// will fix them, and no backend code names them better.
		e.Code = backend.CodeUnknown
	}
	return e
}

// isLeaseGone reports whether err says the lease no longer exists: it
// expired, or someone revoked it.
func isLeaseGone(err error) bool {
	return errors.Is(err, rpctypes.ErrLeaseNotFound)
}
