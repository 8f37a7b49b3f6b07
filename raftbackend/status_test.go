package raftbackend

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/raftpb"
)

// wantGRPCCodes is the gRPC code each backend code travels under.
var wantGRPCCodes = map[backend.Code]codes.Code{
	backend.CodeUnknown:           codes.Unknown,
	backend.CodeLockHeld:          codes.FailedPrecondition,
	backend.CodeNotLockOwner:      codes.FailedPrecondition,
	backend.CodeVersionMismatch:   codes.FailedPrecondition,
	backend.CodeNotFound:          codes.NotFound,
	backend.CodeInvalidTTL:        codes.InvalidArgument,
	backend.CodeInvalidArgument:   codes.InvalidArgument,
	backend.CodeWaitQueueFull:     codes.ResourceExhausted,
	backend.CodeNotWaiting:        codes.FailedPrecondition,
	backend.CodeTimeout:           codes.DeadlineExceeded,
	backend.CodeLeaderUnavailable: codes.Unavailable,
	backend.CodeUnavailable:       codes.Unavailable,
	backend.CodeRateLimit:         codes.ResourceExhausted,
	backend.CodeClosed:            codes.Unavailable,
	backend.CodeNotSupported:      codes.Unimplemented,
	backend.CodeResourceExhausted: codes.ResourceExhausted,
	backend.CodeNotLeader:         codes.Unavailable,
	backend.CodeCanceled:          codes.Canceled,
	backend.CodeInternal:          codes.Internal,
}

// Every code, with every detail, comes back as the same *backend.Error.
func TestStatusRoundTripsEveryCode(t *testing.T) {
	// The table must follow the codes: a new code needs a gRPC code.
	if backend.Code(len(wantGRPCCodes)).Sentinel() != nil {
		t.Fatalf("code %d has no entry in wantGRPCCodes", len(wantGRPCCodes))
	}
	for c := backend.CodeUnknown; int(c) < len(wantGRPCCodes); c++ {
		t.Run(c.String(), func(t *testing.T) {
			sent := &backend.Error{
				Code:       c,
				Message:    "what went wrong",
				LockID:     "jobs/nightly",
				Owner:      "worker-7",
				Leader:     "10.0.0.1:7001",
				RetryAfter: 1500 * time.Millisecond,
			}
			st := statusOf(fmt.Errorf("wrapped: %w", sent))
			if st.Code() != wantGRPCCodes[c] {
				t.Errorf("gRPC code %v, want %v", st.Code(), wantGRPCCodes[c])
			}
			// Through the status's wire form, as a client receives it.
			wire := status.FromProto(st.Proto()).Err()
			got := errorFromStatus(context.Background(), "other-lock", wire)
			var e *backend.Error
			if !errors.As(got, &e) {
				t.Fatalf("got %T %v, want *backend.Error", got, got)
			}
			if *e != *sent {
				t.Errorf("round trip:\n sent %+v\n got  %+v", *sent, *e)
			}
			if s := c.Sentinel(); s != nil && !errors.Is(got, s) {
				t.Errorf("errors.Is(%v, %v) is false", got, s)
			}
		})
	}
}

// The cause's text crosses the wire when the error has no message.
func TestStatusCarriesCauseText(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sent := backend.ContextError(ctx, "l")
	got := errorFromStatus(context.Background(), "", statusError(sent))
	var e *backend.Error
	if !errors.As(got, &e) || e.Code != backend.CodeCanceled || e.Message != "context canceled" || e.LockID != "l" {
		t.Fatalf("got %+v", got)
	}
}

// Errors that are not *backend.Error are classified as backend.CodeOf does.
func TestStatusOfPlainErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want backend.Code
	}{
		{context.Canceled, backend.CodeCanceled},
		{context.DeadlineExceeded, backend.CodeTimeout},
		{backend.ErrLockHeld, backend.CodeLockHeld},
		{errors.New("boom"), backend.CodeUnknown},
	} {
		st := statusOf(tc.err)
		ed := errorDetailOf(st)
		if ed == nil || backend.Code(ed.GetCode()) != tc.want || ed.GetMessage() != tc.err.Error() {
			t.Errorf("statusOf(%v): detail %v, want code %v with the error's text", tc.err, ed, tc.want)
		}
	}
}

// A status without ErrorDetail is the transport's, mapped by its code.
func TestStatusWithoutDetail(t *testing.T) {
	live := context.Background()
	for _, tc := range []struct {
		code codes.Code
		want backend.Code
	}{
		{codes.Unavailable, backend.CodeUnavailable},
		{codes.DeadlineExceeded, backend.CodeTimeout},
		{codes.Canceled, backend.CodeUnavailable},
		{codes.ResourceExhausted, backend.CodeResourceExhausted},
		{codes.Unimplemented, backend.CodeNotSupported},
		{codes.InvalidArgument, backend.CodeInvalidArgument},
		{codes.OutOfRange, backend.CodeInvalidArgument},
		{codes.Internal, backend.CodeInternal},
		{codes.DataLoss, backend.CodeInternal},
		{codes.Unknown, backend.CodeUnknown},
		{codes.PermissionDenied, backend.CodeUnknown},
		{codes.Unauthenticated, backend.CodeUnknown},
		{codes.FailedPrecondition, backend.CodeUnknown},
		{codes.NotFound, backend.CodeUnknown},
	} {
		in := status.Error(tc.code, "transport says "+tc.code.String())
		got := errorFromStatus(live, "l", in)
		var e *backend.Error
		if !errors.As(got, &e) || e.Code != tc.want {
			t.Errorf("%v: got %v, want %v", tc.code, got, tc.want)
			continue
		}
		if e.Message != "transport says "+tc.code.String() || e.LockID != "l" || !errors.Is(got, in) {
			t.Errorf("%v: message, lock or cause lost: %+v", tc.code, e)
		}
	}
}

// The caller's own cancellation or deadline becomes backend.ContextError,
// which still unwraps to the context's error.
func TestStatusContextErrors(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	for _, tc := range []struct {
		ctx   context.Context
		code  codes.Code
		want  backend.Code
		cause error
	}{
		{cancelled, codes.Canceled, backend.CodeCanceled, context.Canceled},
		{expired, codes.DeadlineExceeded, backend.CodeTimeout, context.DeadlineExceeded},
	} {
		got := errorFromStatus(tc.ctx, "l", status.FromContextError(tc.ctx.Err()).Err())
		if backend.CodeOf(got) != tc.want || !errors.Is(got, tc.cause) {
			t.Errorf("%v: got %v, want %v wrapping %v", tc.code, got, tc.want, tc.cause)
		}
	}
}

// A code this build does not know reads as CodeUnknown, never retried.
func TestStatusUnknownCodeFromNewerServer(t *testing.T) {
	for _, c := range []uint32{19, 200, 1 << 20} {
		st, err := status.New(codes.Unknown, "new").WithDetails(&raftpb.ErrorDetail{Code: c, Message: "brand new"})
		if err != nil {
			t.Fatal(err)
		}
		got := errorFromStatus(context.Background(), "", st.Err())
		var e *backend.Error
		if !errors.As(got, &e) || e.Code != backend.CodeUnknown || e.Code.Retryable() {
			t.Errorf("code %d: got %v, want CodeUnknown", c, got)
		}
	}
}

func TestStatusPassesThroughOwnErrors(t *testing.T) {
	if errorFromStatus(context.Background(), "", nil) != nil {
		t.Fatal("nil error became non-nil")
	}
	own := backend.Errorf(backend.CodeClosed, "closed")
	if got := errorFromStatus(context.Background(), "", own); got != error(own) {
		t.Fatalf("a *backend.Error was rewritten: %v", got)
	}
	plain := errors.New("not from gRPC")
	if got := errorFromStatus(context.Background(), "l", plain); backend.CodeOf(got) != backend.CodeUnknown || !errors.Is(got, plain) {
		t.Fatalf("plain error: %v", got)
	}
}
