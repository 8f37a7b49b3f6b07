package workload

import (
	"context"
	"errors"
	"time"

	"github.com/raftlock/raftlock/bench/servers"
)

// Release gives back a lock that Hold or Take got.
type Release func(ctx context.Context) error

// Contender is one lock library on one store, its clients connected: what
// the workloads run. Client numbers c go from 0 to the number of clients
// the contender was opened with, less one; each client has a connection of
// its own, and the function fields are called concurrently for different
// clients.
type Contender struct {
	// Name says which library it is, as the report shows it.
	Name string
	// Servers is the store it talks to, whose processes' CPU time counts
	// as the contender's server CPU; nil counts none.
	Servers *servers.Cluster

	// Pair takes key's lock and gives it back, as client c.
	Pair func(ctx context.Context, c int, key string) error
	// Hold waits for key's lock as client c, however long others hold it
	// or wait for it, and returns what gives it back; nil when the
	// library cannot wait.
	Hold func(ctx context.Context, c int, key string) (Release, error)
	// Take takes key's lock, which nobody holds, as client c, and keeps it
	// until the returned Release is called. Nil means Hold.
	Take func(ctx context.Context, c int, key string) (Release, error)
	// List counts the locks whose keys start with prefix, the library's
	// own way or its store's; nil when it has none.
	List func(ctx context.Context, prefix string) (int, error)
	// ListHow says how List lists, for the report.
	ListHow string
	// Fresh makes a contender of the same library on a new store of its
	// own, which the new contender's Close stops: for Failover, which
	// kills a member of the store. Nil when the contender has none.
	Fresh func(ctx context.Context) (*Contender, error)

	closers []func() error
}

// OnClose adds f to what Close does. Close calls them in reverse order.
func (c *Contender) OnClose(f func() error) { c.closers = append(c.closers, f) }

// Close closes the contender's clients (and its store, for a contender
// that Fresh made).
func (c *Contender) Close() error {
	var errs []error
	for i := len(c.closers) - 1; i >= 0; i-- {
		errs = append(errs, c.closers[i]())
	}
	c.closers = nil
	return errors.Join(errs...)
}

// OnNew returns a Contender.Fresh function: start makes a new store and
// open a contender on it; the contender's Close then stops the store.
func OnNew(start func(context.Context) (*servers.Cluster, error), open func(context.Context, *servers.Cluster) (*Contender, error)) func(context.Context) (*Contender, error) {
	return func(ctx context.Context) (*Contender, error) {
		cl, err := start(ctx)
		if err != nil {
			return nil, err
		}
		c, err := open(ctx, cl)
		if err != nil {
			cl.Stop()
			return nil, err
		}
		// Registered first, so that it runs last, after the clients close.
		c.closers = append([]func() error{cl.Stop}, c.closers...)
		return c, nil
	}
}

func (c *Contender) serverCPU() time.Duration {
	if c.Servers == nil {
		return 0
	}
	return c.Servers.CPU()
}

// take is Take, or Hold when the contender has no Take.
func (c *Contender) take() func(ctx context.Context, c int, key string) (Release, error) {
	if c.Take != nil {
		return c.Take
	}
	return c.Hold
}

// pairOf is a Pair made of a lock function: take key's lock as client c,
// then give it back.
func pairOf(lock func(ctx context.Context, c int, key string) (Release, error)) func(ctx context.Context, c int, key string) error {
	return func(ctx context.Context, c int, key string) error {
		release, err := lock(ctx, c, key)
		if err != nil {
			return err
		}
		return release(ctx)
	}
}
