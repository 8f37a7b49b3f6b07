package servers

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoRedis is returned by StartRedis when there is no redis-server on
// PATH.
var ErrNoRedis = errors.New("no redis-server on PATH")

// StartRedis starts a redis-server from PATH, without persistence (as the
// Redis lock libraries are commonly run: a lock lives as long as its TTL,
// and none of them promise more after a restart), and waits until it
// answers.
func StartRedis(ctx context.Context) (*Cluster, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedis
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	dir, err := dataDir("redis")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--port", fmt.Sprint(ports[0]), "--bind", "127.0.0.1",
		"--dir", dir, "--save", "", "--appendonly", "no")
	p, err := launch("redis", cmd, dir, nil)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Kind: Redis, Addrs: []string{fmt.Sprintf("127.0.0.1:%d", ports[0])}, procs: []*Process{p}}
	rdb := redis.NewClient(&redis.Options{Addr: c.Addrs[0]})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for rdb.Ping(ctx).Err() != nil {
		select {
		case <-p.done:
			c.Stop()
			return nil, p.failure(errors.New("exited before it served"))
		case <-ctx.Done():
			c.Stop()
			return nil, p.failure(fmt.Errorf("did not answer: %w", ctx.Err()))
		case <-time.After(20 * time.Millisecond):
		}
	}
	return c, nil
}
