package redisbackend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/redis/go-redis/v9"
)

// Driver is one client of a Redis lock store. It implements
// backend.Driver, backend.Queuer and backend.Admin, and is safe for
// concurrent use.
//
// Drivers with the same prefix on the same Redis see the same locks,
// whichever process they are in. A driver holds no lock state of its own:
// everything is in Redis, so a driver that closes (or whose process dies)
// leaves its locks held until their leases run out, and its queue entries
// until their lifetimes do.
type Driver struct {
	client redis.UniversalClient
	owned  bool // Close closes client
	cfg    config
	keys   keyspace
	caps   backend.Capabilities

	wake *wakeups

	mu     sync.Mutex
	closed bool
	calls  sync.WaitGroup // every call in flight
	done   chan struct{}  // closed by Close
}

var (
	_ backend.Driver = (*Driver)(nil)
	_ backend.Queuer = (*Driver)(nil)
	_ backend.Admin  = (*Driver)(nil)
)

// capabilities are the same for every driver, so that drivers of one
// store agree (and the conformance suite checks they do).
var capabilities = backend.Capabilities{
	FIFO:           true,
	Priorities:     true,
	ServerSideWait: true,
	Metadata:       true,
	Replicated:     false,
	MinTTL:         time.Millisecond,
	TTLGranularity: time.Millisecond,
}

// NewDriver returns a driver that keeps its locks in the Redis that client
// reaches. It sends nothing until the first call. The driver never closes
// client: the caller does, after closing the driver.
//
// client may be a *redis.Client, a *redis.ClusterClient, a failover
// client, or anything else that implements redis.UniversalClient and runs
// Lua scripts.
func NewDriver(client redis.UniversalClient, opts ...Option) (*Driver, error) {
	if client == nil {
		return nil, backend.Errorf(backend.CodeInvalidArgument, "redisbackend: nil client")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if e := validatePrefix(cfg.prefix); e != nil {
		return nil, e
	}
	var tok [8]byte
	_, _ = rand.Read(tok[:]) // crypto/rand.Read never fails
	d := &Driver{
		client: client,
		cfg:    cfg,
		keys:   keyspace{prefix: cfg.prefix},
		caps:   capabilities,
		done:   make(chan struct{}),
	}
	d.wake = newWakeups(client, d.keys.wakeChannel(hex.EncodeToString(tok[:])), cfg.logger)
	return d, nil
}

// Client returns the Redis client the driver uses.
func (d *Driver) Client() redis.UniversalClient { return d.client }

// Prefix returns the prefix of the driver's keys.
func (d *Driver) Prefix() string { return d.cfg.prefix }

// Capabilities: FIFO with priorities, server-side waiting and metadata;
// TTLs in whole milliseconds (Redis PX), at least one; not Replicated,
// because Redis replication is asynchronous (see the package
// documentation).
func (d *Driver) Capabilities() backend.Capabilities { return d.caps }

// Close wakes every call blocked in the driver with CodeClosed, waits for
// every call in flight to finish (the woken waiters leave their queues
// first), and closes the driver's pub/sub connection, and the Redis client
// if Open made it. It releases no lock. Later calls fail with CodeClosed.
// Closing twice is harmless.
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.done)
	d.mu.Unlock()
	d.calls.Wait()
	err := d.wake.close()
	if d.owned {
		if cerr := d.client.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return d.mapErr(context.Background(), err, "")
	}
	return nil
}

// enter admits a call: it fails with CodeClosed after Close, with the
// validation error for a malformed request, with ContextError for a done
// ctx. A nil error must be paired with d.leave.
func (d *Driver) enter(ctx context.Context, invalid *backend.Error, lockID func() string) error {
	d.mu.Lock()
	closed := d.closed
	if !closed && invalid == nil && ctx.Err() == nil {
		d.calls.Add(1)
	}
	d.mu.Unlock()
	switch {
	case closed:
		return errClosed("")
	case invalid != nil:
		return invalid
	case ctx.Err() != nil:
		id := ""
		if lockID != nil {
			id = lockID()
		}
		return backend.ContextError(ctx, id)
	}
	return nil
}

func (d *Driver) leave() { d.calls.Done() }

// errClosed is the error of a call on a closed driver.
func errClosed(lockID string) *backend.Error {
	return &backend.Error{Code: backend.CodeClosed, LockID: lockID, Message: "the redis driver is closed"}
}

// cleanupTimeout bounds the scripts a call runs after it gave up (its own
// ctx is done by then).
const cleanupTimeout = 5 * time.Second
