package etcdbackend

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/raftlock/raftlock/backend"
)

// The store's TTL range. etcd leases count whole seconds, so MinTTL is one
// and every TTL is rounded up to a whole number of seconds.
const (
	MinTTL = time.Second
	MaxTTL = 24 * time.Hour
)

// DefaultPrefix is where the driver keeps its keys unless told otherwise.
const DefaultPrefix = "/raftlock/"

// DefaultWaitTimeout is how long a waiter that joined through Enqueue with
// a zero WaitTimeout stays queued, as in the other stores.
const DefaultWaitTimeout = time.Minute

// cleanupTimeout bounds the calls a driver makes to undo a wait that gave
// up (revoking its lease). They run after the caller's context has ended,
// so they cannot use it.
const cleanupTimeout = 5 * time.Second

var capabilities = backend.Capabilities{
	FIFO:           true,
	ServerSideWait: true,
	Metadata:       true,
	Replicated:     true,
	MinTTL:         MinTTL,
	MaxTTL:         MaxTTL,
	TTLGranularity: time.Second,
}

// Driver is a backend.Driver on an etcd cluster. It also implements
// backend.Queuer and backend.Admin. It is safe for concurrent use.
//
// Several Drivers, in one process or many, share locks when they use the
// same cluster and the same prefix. A Driver keeps no lock state of its
// own beyond the waits blocked in it: who holds what is in etcd alone.
type Driver struct {
	cli                *clientv3.Client
	ownsClient         bool // Close closes cli
	prefix             string
	logger             *slog.Logger
	defaultWaitTimeout time.Duration

	life context.Context // ends when Close starts; every call runs under it
	end  context.CancelFunc

	mu     sync.Mutex
	closed bool
	calls  sync.WaitGroup    // calls in flight and wait goroutines
	waits  map[waitKey]*wait // the waits this driver keeps

	leases leaseStock     // leases granted ahead of need (see leases.go)
	keeper *keeper        // one-off keep-alives over one stream (see keepalive.go)
	bg     sync.WaitGroup // background lease grants and revokes
}

var (
	_ backend.Driver = (*Driver)(nil)
	_ backend.Queuer = (*Driver)(nil)
	_ backend.Admin  = (*Driver)(nil)
)

// Option configures a Driver made by NewDriver or Open.
type Option func(*options)

type options struct {
	prefix             string
	logger             *slog.Logger
	defaultWaitTimeout time.Duration
}

// WithPrefix sets the key prefix under which the driver keeps its locks
// (default DefaultPrefix). A "/" is appended when missing, so "/locks"
// and "/locks/" are the same prefix. Drivers share locks only when they
// share the prefix.
func WithPrefix(prefix string) Option {
	return func(o *options) { o.prefix = prefix }
}

// WithLogger sets the logger for the driver's own messages (a lease it
// could not revoke, a watch it had to restart). Nil discards them.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithDefaultWaitTimeout sets how long a waiter that joined through
// Enqueue with a zero WaitTimeout stays queued. Zero or less keeps
// DefaultWaitTimeout; more than backend.MaxWaitTimeout is cut to it.
func WithDefaultWaitTimeout(d time.Duration) Option {
	return func(o *options) {
		if d <= 0 {
			d = DefaultWaitTimeout
		}
		o.defaultWaitTimeout = min(d, backend.MaxWaitTimeout)
	}
}

// NewDriver returns a driver that keeps its locks in the cluster cli is
// connected to. The caller keeps ownership of cli: Close leaves it open.
// It fails with CodeInvalidArgument for a nil client or a prefix that
// contains a NUL byte.
func NewDriver(cli *clientv3.Client, opts ...Option) (*Driver, error) {
	if cli == nil {
		return nil, backend.Errorf(backend.CodeInvalidArgument, "etcd: nil client")
	}
	o := options{prefix: DefaultPrefix, defaultWaitTimeout: DefaultWaitTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	prefix, e := cleanPrefix(o.prefix)
	if e != nil {
		return nil, e
	}
	logger := o.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	life, end := context.WithCancel(context.Background())
	return &Driver{
		cli:                cli,
		prefix:             prefix,
		logger:             logger,
		defaultWaitTimeout: o.defaultWaitTimeout,
		life:               life,
		end:                end,
		waits:              make(map[waitKey]*wait),
		keeper:             newKeeper(cli),
		leases: leaseStock{idle: make(map[int64][]stocked), pending: make(map[int64]int),
			carried: make(map[clientv3.LeaseID]carried)},
	}, nil
}

// cleanPrefix checks a key prefix and gives it its trailing "/". An empty
// prefix means DefaultPrefix.
func cleanPrefix(p string) (string, *backend.Error) {
	switch {
	case p == "":
		return DefaultPrefix, nil
	case strings.Contains(p, sep):
		return "", backend.Errorf(backend.CodeInvalidArgument, "etcd: prefix %q contains a NUL byte", p)
	case !strings.HasSuffix(p, "/"):
		p += "/"
	}
	return p, nil
}

// Client returns the etcd client the driver uses.
func (d *Driver) Client() *clientv3.Client { return d.cli }

// Prefix returns the key prefix of the driver's locks, with its trailing "/".
func (d *Driver) Prefix() string { return d.prefix }

// Capabilities reports FIFO waiting in the store, metadata, no priorities,
// and TTLs of whole seconds from MinTTL to MaxTTL.
func (d *Driver) Capabilities() backend.Capabilities { return capabilities }

// Close wakes every call blocked in the driver with CodeClosed, takes their
// waiters and those this driver enqueued out of their queues, waits for
// every call to return and for the lease revokes left running in the
// background, revokes its stock of unused leases, and closes the etcd client if Open made it. It
// releases no lock the driver's clients hold: their leases run out, as if
// the process had crashed. Closing twice is harmless.
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	d.end()
	d.calls.Wait()
	d.closeLeases()
	d.keeper.close()
	if !d.ownsClient {
		return nil
	}
	if err := d.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return &backend.Error{Code: backend.CodeUnavailable, Message: "closing the etcd client", Err: err}
	}
	return nil
}

// begin admits a call: it fails with CodeClosed after Close, and otherwise
// returns a context that ends with ctx or when Close starts, and the
// function that ends the call.
func (d *Driver) begin(ctx context.Context, lockID string) (context.Context, func(), error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, nil, closedError(lockID)
	}
	d.calls.Add(1)
	d.mu.Unlock()
	if ctx.Err() != nil {
		d.calls.Done()
		return nil, nil, backend.ContextError(ctx, lockID)
	}
	cctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(d.life, cancel)
	return cctx, func() {
		stop()
		cancel()
		d.calls.Done()
	}, nil
}

// revoke ends a lease and deletes the key attached to it, as cleanup: the
// caller's context may be over, and a lease that is already gone is what
// was wanted. A failure only delays the cleanup until the lease runs out.
func (d *Driver) revoke(lockID string, id clientv3.LeaseID) {
	if id == clientv3.NoLease {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if _, err := d.cli.Revoke(ctx, id); err != nil && !isLeaseGone(err) {
		d.logger.Warn("etcd: could not revoke a lease; it will run out by itself",
			"lock", lockID, "lease", int64(id), "err", err)
	}
}
