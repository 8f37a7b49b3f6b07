package redisbackend

import (
	"context"
	"testing"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/conformance"
)

// harness opens one Open'd driver (a client of its own, as another process
// would have) per simulated client, all under one prefix.
type harness struct {
	addr       string
	prefix     string
	maxWaiters int
}

func (h harness) MakeDriver(ctx context.Context) (backend.Driver, error) {
	d, err := Open(ctx, Options{Addrs: []string{h.addr}, Prefix: h.prefix, MaxWaiters: h.maxWaiters})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// WithLimits opens a fresh, empty store (a new prefix) whose drivers limit
// each wait queue. The store has no limit on the number of locks (Redis's
// maxmemory is that limit), so a MaxLocks request is refused and the
// suite skips TooManyLocks.
func (h harness) WithLimits(ctx context.Context, lim conformance.Limits) (conformance.Harness, func(), error) {
	if lim.MaxLocks > 0 {
		return nil, nil, nil
	}
	return harness{addr: h.addr, prefix: uniquePrefix("limits"), maxWaiters: lim.MaxWaiters}, nil, nil
}

func TestConformance(t *testing.T) {
	conformance.Run(t, harness{addr: redisAddr(t), prefix: uniquePrefix("conformance")})
}

func BenchmarkRedis(b *testing.B) {
	conformance.RunBenchmarks(b, harness{addr: redisAddr(b), prefix: uniquePrefix("bench")})
}
