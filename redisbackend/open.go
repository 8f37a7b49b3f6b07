package redisbackend

import (
	"context"
	"net"

	"github.com/raftlock/raftlock/backend"
	"github.com/redis/go-redis/v9"
)

// Open connects to Redis as opts says, checks that it answers (PING,
// within ctx and opts.DialTimeout), and returns a driver that owns the
// connection: Close closes it.
func Open(ctx context.Context, opts Options) (*Driver, error) {
	uo, err := opts.universal()
	if err != nil {
		return nil, err
	}
	client := redis.NewUniversalClient(uo)
	d, err := NewDriver(client, opts.driverOptions()...)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	d.owned = true
	pctx, cancel := context.WithTimeout(ctx, uo.DialTimeout)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		_ = client.Close()
		if ctx.Err() != nil {
			return nil, backend.ContextError(ctx, "")
		}
		// The dial timeout, not the caller, ended the wait: Redis is
		// unreachable for now, which is worth retrying.
		e := d.mapErr(context.Background(), err, "")
		if be, ok := e.(*backend.Error); ok {
			if be.Code == backend.CodeTimeout {
				be.Code = backend.CodeUnavailable
			}
			be.Message = "redis at " + joinAddrs(uo.Addrs) + " does not answer: " + err.Error()
		}
		return nil, e
	}
	return d, nil
}

// universal turns Options into go-redis's options.
func (o *Options) universal() (*redis.UniversalOptions, error) {
	addrs := o.Addrs
	if len(addrs) == 0 {
		addrs = []string{"localhost:6379"}
	}
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, backend.Errorf(backend.CodeInvalidArgument, "redis address %q: %v", a, err)
		}
	}
	cluster := o.Cluster || len(addrs) > 1
	if o.DB < 0 || (cluster && o.DB != 0) {
		return nil, backend.Errorf(backend.CodeInvalidArgument, "redis database %d: want 0 or more, and 0 for a cluster", o.DB)
	}
	dial := o.DialTimeout
	if dial <= 0 {
		dial = DefaultDialTimeout
	}
	return &redis.UniversalOptions{
		Addrs:         addrs,
		IsClusterMode: cluster,
		DB:            o.DB,
		Username:      o.Username,
		Password:      o.Password,
		TLSConfig:     o.TLSConfig,
		DialTimeout:   dial,
	}, nil
}

func joinAddrs(a []string) string {
	s := ""
	for i, x := range a {
		if i > 0 {
			s += ","
		}
		s += x
	}
	return s
}
