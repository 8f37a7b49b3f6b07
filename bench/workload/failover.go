package workload

import (
	"context"
	"errors"
	"fmt"
	"time"
)

const (
	// failoverLimit bounds the whole measurement: a store that has not
	// granted the lock this long after the kill has failed it.
	failoverLimit = 60 * time.Second
	// queueTime is how long the waiter is given to be queued before the
	// kill: ample on loopback, and not measured.
	queueTime = time.Second
	// retryPause is the pause between two tries of a call that failed
	// while the store had no leader.
	retryPause = 10 * time.Millisecond
	// attemptLimit bounds each try of the holder's release, as an
	// application that means to ride out a failover bounds its calls:
	// unbounded, an etcd request that a follower forwarded to the leader
	// just killed waits for etcd's own request timeout (7 s with its
	// default settings) before it fails.
	attemptLimit = 250 * time.Millisecond
)

// runFailover starts a new store, has client 0 hold a lock and client 1
// wait for it, kills the leader, has client 0 give the lock back as soon as
// it can (each try bounded by attemptLimit), and measures the time from the
// kill to client 1's grant.
func runFailover(ctx context.Context, c *Contender, _ Params) (Figures, error) {
	fc, err := c.Fresh(ctx)
	if err != nil {
		return Figures{}, err
	}
	defer fc.Close()
	if fc.Hold == nil || fc.Servers == nil {
		return Figures{}, fmt.Errorf("%s cannot wait for a lock on a store of its own", fc.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, failoverLimit)
	defer cancel()

	const key = "failover"
	release, err := fc.Hold(ctx, 0, key)
	if err != nil {
		return Figures{}, fmt.Errorf("holder: %w", err)
	}
	type outcome struct {
		got time.Time
		err error
	}
	waited := make(chan outcome, 1)
	go func() {
		rel, err := retry(ctx, func() (Release, error) { return fc.Hold(ctx, 1, key) })
		got := time.Now()
		if err == nil {
			rel(ctx)
		}
		waited <- outcome{got, err}
	}()
	select {
	case o := <-waited:
		return Figures{}, fmt.Errorf("the waiter did not wait: %v", o.err)
	case <-time.After(queueTime):
	}

	leader, err := fc.Servers.Leader(ctx)
	if err != nil {
		return Figures{}, err
	}
	killed := time.Now()
	fc.Servers.Kill(leader)
	// The holder gives the lock back, trying again while there is no
	// leader to take the release, and stopping once the waiter has the
	// lock: a release that failed on the wire may have been applied.
	released := make(chan struct{})
	go func() {
		defer close(released)
		for ctx.Err() == nil {
			actx, cancel := context.WithTimeout(ctx, attemptLimit)
			err := release(actx)
			cancel()
			if err == nil {
				return
			}
			time.Sleep(retryPause)
		}
	}()
	o := <-waited
	cancel() // stops the holder's tries, if it still makes them
	<-released
	if o.err != nil {
		return Figures{}, fmt.Errorf("waiter: %w", o.err)
	}
	return Figures{Ops: 1, Failover: o.got.Sub(killed)}, nil
}

// retry calls try until it succeeds or ctx ends.
func retry(ctx context.Context, try func() (Release, error)) (Release, error) {
	for {
		rel, err := try()
		if err == nil {
			return rel, nil
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(err, ctx.Err())
		case <-time.After(retryPause):
		}
	}
}
