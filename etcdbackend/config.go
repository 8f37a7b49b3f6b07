package etcdbackend

import (
	"context"
	"crypto/tls"
	"log/slog"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/raftlock/raftlock/backend"
)

// DefaultDialTimeout bounds Open's first contact with the cluster when
// Config.DialTimeout is zero.
const DefaultDialTimeout = 5 * time.Second

// Config describes how Open reaches an etcd cluster. Only Endpoints is
// required.
type Config struct {
	// Endpoints are the cluster's client URLs or host:port addresses; any
	// subset of the members will do.
	Endpoints []string
	// Prefix is where the locks' keys live (see WithPrefix). Default
	// DefaultPrefix.
	Prefix string

	// DialTimeout bounds connecting and Open's first request. Default
	// DefaultDialTimeout; the deadline of Open's context, when sooner,
	// wins.
	DialTimeout time.Duration
	// KeepAlive configures gRPC keep-alive pings to detect dead
	// connections; the zero value leaves them off.
	KeepAlive backend.KeepAlive
	// MaxMessageSize bounds gRPC messages in both directions, in bytes; 0
	// keeps the etcd client's defaults.
	MaxMessageSize int

	// TLS, when set, secures the connections (and authenticates the
	// client with its certificates, if the cluster asks for them).
	TLS *tls.Config
	// Username and Password authenticate the client with etcd's own auth.
	Username, Password string

	// Logger receives the driver's and the etcd client's messages; nil
	// discards them.
	Logger *slog.Logger
	// DefaultWaitTimeout is the wait timeout of an Enqueue that gives
	// none. Default DefaultWaitTimeout.
	DefaultWaitTimeout time.Duration
}

// Open connects to the cluster cfg describes, checks that it answers, and
// returns a driver that owns the connection: its Close closes it. A cluster
// that does not answer within the dial timeout fails with CodeUnavailable;
// a bad Config with CodeInvalidArgument.
func Open(ctx context.Context, cfg Config) (*Driver, error) {
	eps := make([]string, 0, len(cfg.Endpoints))
	for _, ep := range cfg.Endpoints {
		if ep = strings.TrimSpace(ep); ep != "" {
			eps = append(eps, ep)
		}
	}
	if len(eps) == 0 {
		return nil, backend.Errorf(backend.CodeInvalidArgument, "etcd: no endpoints")
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, backend.Errorf(backend.CodeInvalidArgument, "etcd: a password without a username")
	}
	if _, e := cleanPrefix(cfg.Prefix); e != nil {
		return nil, e
	}
	if err := ctx.Err(); err != nil {
		return nil, backend.ContextError(ctx, "")
	}
	dialTimeout := cfg.DialTimeout
	if dialTimeout <= 0 {
		dialTimeout = DefaultDialTimeout
	}
	if dl, ok := ctx.Deadline(); ok {
		dialTimeout = max(min(dialTimeout, time.Until(dl)), time.Millisecond)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            eps,
		DialTimeout:          dialTimeout,
		DialKeepAliveTime:    cfg.KeepAlive.Time,
		DialKeepAliveTimeout: cfg.KeepAlive.Timeout,
		PermitWithoutStream:  cfg.KeepAlive.PermitWithoutStream,
		MaxCallSendMsgSize:   cfg.MaxMessageSize,
		MaxCallRecvMsgSize:   cfg.MaxMessageSize,
		TLS:                  cfg.TLS,
		Username:             cfg.Username,
		Password:             cfg.Password,
		Logger:               zapLogger(cfg.Logger),
	})
	if err != nil {
		return nil, openError(ctx, err)
	}
	d, err := NewDriver(cli, WithPrefix(cfg.Prefix), WithLogger(cfg.Logger), WithDefaultWaitTimeout(cfg.DefaultWaitTimeout))
	if err != nil {
		cli.Close()
		return nil, err
	}
	d.ownsClient = true
	// A serializable read needs no leader, only a member that answers:
	// what "reachable" means for Open.
	pctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if _, err := cli.Get(pctx, d.prefix, clientv3.WithCountOnly(), clientv3.WithSerializable()); err != nil {
		cli.Close()
		return nil, openError(ctx, err)
	}
	return d, nil
}

// openError classifies a failure to connect: the caller's context, or the
// cluster (unreachable, refused credentials).
func openError(ctx context.Context, err error) *backend.Error {
	if ctx.Err() != nil {
		return backend.ContextError(ctx, "")
	}
	e := etcdError("", err)
	e.Message = "etcd: cannot reach the cluster: " + err.Error()
	return e
}
