package redisbackend

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/raftlock/raftlock/backend"
	"github.com/redis/go-redis/v9"
)

// mapErr turns a failure of go-redis into the backend.Error the contract
// asks for. A done ctx wins, so a call that stopped because its caller
// gave up says so (CodeTimeout or CodeCanceled). Failures to reach Redis,
// and Redis answers that say "not now" (loading, busy, failing over), are
// CodeUnavailable, which the client retries: every operation is safe to
// send again (see the package documentation).
func (d *Driver) mapErr(ctx context.Context, err error, lockID string) error {
	if err == nil {
		return nil
	}
	var be *backend.Error
	if errors.As(err, &be) {
		return err
	}
	if ctx.Err() != nil {
		return backend.ContextError(ctx, lockID)
	}
	e := &backend.Error{Code: backend.CodeUnavailable, LockID: lockID, Err: err}
	var rerr redis.Error
	switch {
	case errors.Is(err, redis.ErrClosed):
		e.Code, e.Message = backend.CodeClosed, "the redis client is closed"
	case errors.Is(err, context.DeadlineExceeded):
		e.Code = backend.CodeTimeout
	case errors.Is(err, context.Canceled):
		e.Code = backend.CodeCanceled
	case errors.As(err, &rerr) && !isNetErr(err):
		e.Code = redisErrCode(rerr.Error())
	}
	return e
}

// isNetErr reports a failure of the connection rather than an answer.
func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// redisErrCode classifies an error reply by its prefix.
func redisErrCode(msg string) backend.Code {
	word, _, _ := strings.Cut(msg, " ")
	switch word {
	case "LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "READONLY",
		"NOREPLICAS", "MOVED", "ASK", "NOSCRIPT":
		return backend.CodeUnavailable // transient: a retry may succeed
	case "OOM":
		return backend.CodeResourceExhausted
	case "NOAUTH", "WRONGPASS", "NOPERM":
		return backend.CodeUnknown // configuration: no retry can fix it
	}
	return backend.CodeInternal // a script error or foreign data under our keys
}
