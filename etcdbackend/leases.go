package etcdbackend

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A lease grant and a lease revoke are raft writes, as costly as the
// transaction that takes the lock. A driver therefore grants leases ahead
// of need, off the callers' path, and revokes a released grant's lease
// after Release has returned: the caller's path is one transaction each
// for Acquire and Release.
//
// Every lease still serves one grant, and one only: a lease taken from the
// stock never comes back to it once a transaction may have put a key with
// it. So a revoke, however late, deletes nothing but the key of the grant
// it was granted for, which Release has deleted already, and a keep-alive
// through a stale handle cannot extend a later grant.
//
// A lease granted ahead has been running since its grant, so it would end
// before TTL has passed from the request that uses it. The transaction that
// attaches it to a key is therefore sent together with a keep-alive of the
// lease (not a raft write: the leader answers it alone), sent after the
// request was, which makes the lease run TTL from then on. A lease is taken
// from the stock only while it has at least half its TTL left, so that it
// cannot run out before that keep-alive arrives.

// leaseStockMax is the most leases of one length a driver keeps in stock.
// The stock grows by one each time a caller finds it empty, so it settles
// at about the number of the driver's concurrent Acquires.
const leaseStockMax = 64

// stocked is a lease in stock: it ends no earlier than TTL after at.
type stocked struct {
	id clientv3.LeaseID
	at time.Time // when its grant (or its last keep-alive) was sent
}

// leaseStock is the driver's stock of unused leases, by length in seconds.
type leaseStock struct {
	mu      sync.Mutex
	closed  bool
	idle    map[int64][]stocked
	pending map[int64]int // grants in flight, by length
}

// takeLease returns a lease of secs seconds that no key uses, from the stock
// if it has one fresh enough (stocked is then true: the lease must be kept
// alive before it can carry a grant), else granted now. Either way it has
// the stock grant one more lease in the background.
func (d *Driver) takeLease(ctx context.Context, secs int64) (id clientv3.LeaseID, stocked bool, err error) {
	s := &d.leases
	s.mu.Lock()
	var stale []clientv3.LeaseID
	idle := s.idle[secs]
	for len(idle) > 0 && id == clientv3.NoLease {
		l := idle[len(idle)-1]
		idle = idle[:len(idle)-1]
		if time.Since(l.at) < time.Duration(secs)*time.Second/2 {
			id = l.id
		} else {
			stale = append(stale, l.id)
		}
	}
	s.idle[secs] = idle
	refill := !s.closed && len(idle)+s.pending[secs] < leaseStockMax
	if refill {
		s.pending[secs]++
	}
	s.mu.Unlock()
	for _, l := range stale {
		d.revokeLater("", l)
	}
	if refill {
		d.bg.Add(1)
		go d.stockLease(secs)
	}
	if id != clientv3.NoLease {
		return id, true, nil
	}
	lease, err := d.cli.Grant(ctx, secs)
	if err != nil {
		return clientv3.NoLease, false, err
	}
	return lease.ID, false, nil
}

// stockLease grants a lease of secs seconds for the stock.
func (d *Driver) stockLease(secs int64) {
	defer d.bg.Done()
	ctx, cancel := context.WithTimeout(d.life, cleanupTimeout)
	defer cancel()
	at := time.Now()
	lease, err := d.cli.Grant(ctx, secs)
	s := &d.leases
	s.mu.Lock()
	s.pending[secs]--
	keep := err == nil && !s.closed
	if keep {
		s.idle[secs] = append(s.idle[secs], stocked{id: lease.ID, at: at})
	}
	s.mu.Unlock()
	switch {
	case err != nil:
		// The stock refills at the next take; a lease granted unbeknown
		// to us carries no key and runs out by itself.
		d.logger.Debug("etcd: could not grant a lease ahead of need", "ttl", secs, "err", err)
	case !keep:
		d.revoke("", lease.ID)
	}
}

// returnLease puts back in stock a lease that no key was put with (the
// transaction that would have used it took its other branch). at is when
// its grant or its last keep-alive was sent.
func (d *Driver) returnLease(secs int64, id clientv3.LeaseID, at time.Time) {
	s := &d.leases
	s.mu.Lock()
	keep := !s.closed && len(s.idle[secs]) < leaseStockMax
	if keep {
		s.idle[secs] = append(s.idle[secs], stocked{id: id, at: at})
	}
	s.mu.Unlock()
	if !keep {
		d.revokeLater("", id)
	}
}

// keepAliveAsync sends a keep-alive of lease now and returns the channel
// its outcome arrives on.
func (d *Driver) keepAliveAsync(ctx context.Context, lease clientv3.LeaseID) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := d.cli.KeepAliveOnce(ctx, lease)
		done <- err
	}()
	return done
}

// revokeLater revokes a lease in the background: cleanup that the caller
// need not wait for. Close waits for it.
func (d *Driver) revokeLater(lockID string, id clientv3.LeaseID) {
	if id == clientv3.NoLease {
		return
	}
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		d.revoke(lockID, id)
	}()
}

// closeLeases empties the stock, revoking its leases, and waits for every
// background grant and revoke. Close calls it once every call has returned.
func (d *Driver) closeLeases() {
	s := &d.leases
	s.mu.Lock()
	s.closed = true
	idle := s.idle
	s.idle = make(map[int64][]stocked)
	s.mu.Unlock()
	for _, ls := range idle {
		for _, l := range ls {
			d.revokeLater("", l.id)
		}
	}
	d.bg.Wait()
}
