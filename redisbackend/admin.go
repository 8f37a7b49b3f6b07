package redisbackend

import (
	"context"
	"strconv"
	"strings"

	"github.com/raftlock/raftlock/backend"
)

// Status describes the Redis the driver talks to (from INFO server and
// replication: version, mode, role, run ID, replicas) and the prefix's
// locks, counted by a List of them all. Store is "redis"; Role is Redis's
// own ("master", "slave"); Details adds the driver's settings.
func (d *Driver) Status(ctx context.Context) (*backend.Status, error) {
	if err := d.enter(ctx, nil, nil); err != nil {
		return nil, err
	}
	defer d.leave()
	raw, err := d.client.Info(ctx, "server", "replication").Result()
	if err != nil {
		return nil, d.mapErr(ctx, err, "")
	}
	info := parseInfo(raw)
	st := &backend.Status{
		Store:  "redis",
		NodeID: info["run_id"],
		Role:   info["role"],
		Details: map[string]string{
			"redis_version":        info["redis_version"],
			"redis_mode":           info["redis_mode"],
			"connected_slaves":     info["connected_slaves"],
			"master_host":          info["master_host"],
			"uptime_in_seconds":    info["uptime_in_seconds"],
			"prefix":               d.cfg.prefix,
			"max_waiters":          strconv.Itoa(d.cfg.maxWaiters),
			"waiter_lease":         d.cfg.waiterLease.String(),
			"default_wait_timeout": d.cfg.defaultWaitTimeout.String(),
		},
	}
	if h, p := info["master_host"], info["master_port"]; h != "" {
		st.Leader = h + ":" + p
	}
	locks, err := d.describeAll(ctx, "", false)
	if err != nil {
		return nil, d.mapErr(ctx, err, "")
	}
	for _, l := range locks {
		st.Locks++
		if l.Held {
			st.HeldLocks++
		}
		st.Waiters += l.WaiterCount
	}
	return st, nil
}

// parseInfo reads INFO's "key:value" lines.
func parseInfo(raw string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(raw, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}

// Health pings Redis. An unreachable Redis is reported as not serving,
// with the reason, rather than as an error; a closed driver fails with
// CodeClosed.
func (d *Driver) Health(ctx context.Context) (*backend.Health, error) {
	if err := d.enter(ctx, nil, nil); err != nil {
		return nil, err
	}
	defer d.leave()
	if err := d.client.Ping(ctx).Err(); err != nil {
		if ctx.Err() != nil {
			return nil, backend.ContextError(ctx, "")
		}
		return &backend.Health{Serving: false, Message: "redis: " + err.Error()}, nil
	}
	return &backend.Health{Serving: true, Message: "redis answers PING"}, nil
}

// BackoffAdvice tells a client that polls for lockID how hard to push:
// contention is the holder plus each waiter, and each unit adds 5ms to the
// initial backoff (at most 500ms), with a maximum twenty times that (at
// most 10s) and more jitter as contention grows. The driver's own waits
// need no advice: they sleep until the holder's lease could end.
func (d *Driver) BackoffAdvice(ctx context.Context, lockID string) (*backend.BackoffAdvice, error) {
	if err := d.enter(ctx, backend.ValidateID("lock ID", lockID), func() string { return lockID }); err != nil {
		return nil, err
	}
	defer d.leave()
	info, err := d.describe(newReply(getScript.Run(ctx, d.client, d.keys.lockKeys(lockID), lockID, "0").Result()), lockID)
	contention := 0
	switch {
	case err == nil:
		contention = info.WaiterCount
		if info.Held {
			contention++
		}
	case backend.CodeOf(err) != backend.CodeNotFound:
		return nil, d.mapErr(ctx, err, lockID)
	}
	return backend.AdviseBackoff(contention), nil
}
