package raftbackend

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/raftpb"
)

// A failure crosses the wire as a gRPC status whose code suits generic gRPC
// tooling (a proxy, grpcurl, a dashboard that counts codes) and whose
// ErrorDetail carries the exact *backend.Error, so that the client rebuilds
// it field for field and errors.Is(err, backend.ErrLockHeld) holds on both
// sides. A status without an ErrorDetail never came from the service: it is
// the transport's (connection refused, deadline, message too large), and
// errorFromStatus classifies it by its gRPC code alone.

// grpcCodeOf returns the gRPC code that stands for c.
func grpcCodeOf(c backend.Code) codes.Code {
	switch c {
	case backend.CodeLockHeld, backend.CodeNotLockOwner, backend.CodeVersionMismatch, backend.CodeNotWaiting:
		// The request is well formed but the lock's state rules it out.
		return codes.FailedPrecondition
	case backend.CodeNotFound:
		return codes.NotFound
	case backend.CodeInvalidTTL, backend.CodeInvalidArgument:
		return codes.InvalidArgument
	case backend.CodeWaitQueueFull, backend.CodeRateLimit, backend.CodeResourceExhausted:
		return codes.ResourceExhausted
	case backend.CodeTimeout:
		return codes.DeadlineExceeded
	case backend.CodeLeaderUnavailable, backend.CodeUnavailable, backend.CodeNotLeader, backend.CodeClosed:
		// All say "this node cannot serve you now; another node, or this
		// one later, may", which is what Unavailable means to gRPC clients.
		return codes.Unavailable
	case backend.CodeNotSupported:
		return codes.Unimplemented
	case backend.CodeCanceled:
		return codes.Canceled
	case backend.CodeInternal:
		return codes.Internal
	}
	return codes.Unknown
}

// statusOf returns the gRPC status that carries err to a client. An error
// that is not a *backend.Error is classified with backend.CodeOf (context
// errors become CodeTimeout or CodeCanceled) and keeps its text.
func statusOf(err error) *status.Status {
	var e *backend.Error
	if !errors.As(err, &e) {
		e = &backend.Error{Code: backend.CodeOf(err), Message: err.Error()}
	}
	detail := &raftpb.ErrorDetail{
		Code:            uint32(e.Code),
		Message:         e.Message,
		LockId:          e.LockID,
		Owner:           e.Owner,
		Leader:          e.Leader,
		RetryAfterNanos: int64(e.RetryAfter),
	}
	if detail.Message == "" && e.Err != nil {
		// The cause does not cross the wire; its text does.
		detail.Message = e.Err.Error()
	}
	st := status.New(grpcCodeOf(e.Code), e.Error())
	if withDetail, derr := st.WithDetails(detail); derr == nil {
		return withDetail
	}
	return st // WithDetails fails only for an unmarshalable detail, never for ours
}

// statusError is statusOf(err).Err(): the error a gRPC handler returns.
func statusError(err error) error {
	return statusOf(err).Err()
}

// errorDetailOf returns the ErrorDetail of st, or nil when it has none.
func errorDetailOf(st *status.Status) *raftpb.ErrorDetail {
	for _, d := range st.Details() {
		if ed, ok := d.(*raftpb.ErrorDetail); ok {
			return ed
		}
	}
	return nil
}

// errorFromDetail rebuilds the *backend.Error a service sent. A code this
// build does not know (from a newer server) reads as CodeUnknown, which is
// never retried, with the number kept in the message.
func errorFromDetail(ed *raftpb.ErrorDetail) *backend.Error {
	e := &backend.Error{
		Code:       backend.Code(ed.GetCode()),
		Message:    ed.GetMessage(),
		LockID:     ed.GetLockId(),
		Owner:      ed.GetOwner(),
		Leader:     ed.GetLeader(),
		RetryAfter: time.Duration(ed.GetRetryAfterNanos()),
	}
	if c := ed.GetCode(); c > 255 || (e.Code != backend.CodeUnknown && e.Code.Sentinel() == nil) {
		e.Code = backend.CodeUnknown
		e.Message = fmt.Sprintf("error code %d from a newer server: %s", c, e.Message)
	}
	return e
}

// errorFromStatus turns the error of a gRPC call about lockID ("" for none)
// into the *backend.Error it stands for. ctx is the caller's context: a
// cancellation or deadline that the transport reports is the caller's own
// only when ctx is done, and then it becomes backend.ContextError(ctx,
// lockID), which still unwraps to the context's error.
//
// A status without an ErrorDetail maps by its code:
//
//	Unavailable                  CodeUnavailable (retryable: connection refused, reset, node gone)
//	DeadlineExceeded             CodeTimeout
//	Canceled                     CodeUnavailable (the server or the connection ended the call)
//	ResourceExhausted            CodeResourceExhausted (a message over the size limit: not
//	                             retryable, since the same message meets the same limit)
//	Unimplemented                CodeNotSupported (a server without that call)
//	InvalidArgument, OutOfRange  CodeInvalidArgument
//	Internal, DataLoss           CodeInternal (including a message that did not decode)
//	anything else                CodeUnknown
//
// The status's message is kept, and the status error is the cause (Err).
func errorFromStatus(ctx context.Context, lockID string, err error) error {
	if err == nil {
		return nil
	}
	var be *backend.Error
	if errors.As(err, &be) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		// Not from gRPC at all; only our own code could produce it.
		if ctx.Err() != nil {
			return backend.ContextError(ctx, lockID)
		}
		return &backend.Error{Code: backend.CodeOf(err), LockID: lockID, Err: err}
	}
	if ed := errorDetailOf(st); ed != nil {
		return errorFromDetail(ed)
	}
	code, msg := backend.CodeUnknown, st.Message()
	switch st.Code() {
	case codes.Unavailable:
		code = backend.CodeUnavailable
	case codes.DeadlineExceeded, codes.Canceled:
		if ctx.Err() != nil {
			return backend.ContextError(ctx, lockID)
		}
		code = backend.CodeUnavailable
		if st.Code() == codes.DeadlineExceeded {
			code = backend.CodeTimeout
		}
	case codes.ResourceExhausted:
		code = backend.CodeResourceExhausted
		if strings.Contains(msg, "larger than max") {
			// gRPC's text says "received" from the receiver's side, which
			// for a request is the node: name the setting that decides.
			msg = "message over the size limit (a node takes requests up to its MaxRequestBytes): " + msg
		}
	case codes.Unimplemented:
		code = backend.CodeNotSupported
	case codes.InvalidArgument, codes.OutOfRange:
		code = backend.CodeInvalidArgument
	case codes.Internal, codes.DataLoss:
		code = backend.CodeInternal
	}
	return &backend.Error{Code: code, Message: msg, LockID: lockID, Err: err}
}
