package etcdbackend

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A lease grant and a lease revoke are raft writes, as costly as the
// transaction that takes the lock. A driver therefore grants leases ahead
// of need, off the callers' path, and reuses the lease of a grant it made
// once Release has deleted that grant's key: the caller's path is one
// transaction each for Acquire and Release, and a steady stream of
// Acquire+Release pairs grants and revokes no lease at all.
//
// A lease is reused only when nothing can end it by its ID later. Every
// revoke in this driver that names a lease which carried a key (a failed
// transaction, a wait that gave up, a Renew that moved the key to a new
// lease, CancelWait) runs on a lease that no Release of this driver
// returned to the stock: the driver keeps the set of leases it gave to
// grants it reported to a caller (carried), and only those come back. A
// key deleted by Release is detached from its lease, so the lease carries
// nothing when it goes back in stock. What a reused lease can still
// receive is a keep-alive from a Renew that read it from the old grant's
// key just before that grant was released; it then makes the new grant
// last longer than asked, by less than one TTL, never shorter.
//
// A lease granted ahead, or used before, has been running for a while, so
// it would end before TTL has passed from the request that uses it. The
// transaction that attaches it to a key is therefore sent together with a
// keep-alive of the lease (not a raft write: the leader answers it alone),
// sent after the request was, which makes the lease run TTL from then on.
// A lease is taken from the stock only while it has at least half its TTL
// left, so that it cannot run out before that keep-alive arrives.

// leaseStockMax is the most leases of one length a driver keeps in stock.
// The stock grows each time a caller finds it empty, and released grants
// bring their leases back, so it settles at about the number of the
// driver's concurrent Acquires.
const leaseStockMax = 64

// stocked is a lease in stock: it ends no earlier than TTL after at.
type stocked struct {
	id clientv3.LeaseID
	at time.Time // when its grant (or its last keep-alive) was sent
}

// carried is a lease that carries a grant this driver reported: it lasts
// secs seconds and ends no earlier than secs after at.
type carried struct {
	secs int64
	at   time.Time
}

// carriedSweep is the size of the carried set above which a driver drops
// the leases it no longer needs to know of (see carry).
const carriedSweep = 1024

// leaseStock is the driver's stock of unused leases, by length in seconds,
// and the set of leases that carry the grants it made.
type leaseStock struct {
	mu      sync.Mutex
	closed  bool
	idle    map[int64][]stocked
	pending map[int64]int // grants in flight, by length
	carried map[clientv3.LeaseID]carried
	sweepAt int // the size of carried that starts the next sweep
}

// takeLease returns a lease of secs seconds that no key uses, from the stock
// if it has one fresh enough (stocked is then true: the lease must be kept
// alive before it can carry a grant), else granted now; in that case it has
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
	// Leases come back to the stock after Release, so it needs a new one
	// only when it runs dry.
	refill := !s.closed && id == clientv3.NoLease && len(idle)+s.pending[secs] < leaseStockMax
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

// returnLease puts back in stock a lease that carries no key: the
// transaction that would have used it took its other branch, or Release
// deleted the key it carried. at is when its grant or its last keep-alive
// was sent. A lease with less than half its TTL left is revoked instead.
func (d *Driver) returnLease(secs int64, id clientv3.LeaseID, at time.Time) {
	s := &d.leases
	s.mu.Lock()
	keep := !s.closed && len(s.idle[secs]) < leaseStockMax && time.Since(at) < time.Duration(secs)*time.Second/2
	if keep {
		s.idle[secs] = append(s.idle[secs], stocked{id: id, at: at})
	}
	s.mu.Unlock()
	if !keep {
		d.revokeLater("", id)
	}
}

// carry records that lease id carries a grant this driver reported to a
// caller, kept alive (or granted) at at for secs seconds, so that Release
// may return it to the stock. Grants that end without a Release through
// this driver leave their entry behind; once the set has doubled since the
// last sweep, entries whose lease has run out are dropped.
func (d *Driver) carry(id clientv3.LeaseID, secs int64, at time.Time) {
	s := &d.leases
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.carried[id] = carried{secs: secs, at: at}
	if len(s.carried) < max(s.sweepAt, carriedSweep) {
		return
	}
	for l, c := range s.carried {
		if time.Since(c.at) > time.Duration(c.secs)*time.Second {
			delete(s.carried, l)
		}
	}
	s.sweepAt = 2 * len(s.carried)
}

// kept notes that a Renew sent a keep-alive of lease id at at.
func (d *Driver) kept(id clientv3.LeaseID, at time.Time) {
	s := &d.leases
	s.mu.Lock()
	if c, ok := s.carried[id]; ok {
		c.at = at
		s.carried[id] = c
	}
	s.mu.Unlock()
}

// released takes care of the lease of a grant that Release just deleted:
// back to the stock if this driver made the grant (and the lease has time
// left), else revoked in the background.
func (d *Driver) released(lockID string, id clientv3.LeaseID) {
	s := &d.leases
	s.mu.Lock()
	c, ok := s.carried[id]
	delete(s.carried, id)
	s.mu.Unlock()
	if ok {
		d.returnLease(c.secs, id, c.at)
		return
	}
	d.revokeLater(lockID, id)
}

// forget drops lease id from the carried set before a revoke ends it.
func (d *Driver) forget(id clientv3.LeaseID) {
	s := &d.leases
	s.mu.Lock()
	delete(s.carried, id)
	s.mu.Unlock()
}

// keepAliveAsync sends a keep-alive of lease now and returns the channel
// its outcome arrives on.
func (d *Driver) keepAliveAsync(ctx context.Context, lease clientv3.LeaseID) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := d.keeper.keepAlive(ctx, lease)
		done <- err
	}()
	return done
}

// keepAliveLater sends a keep-alive of lease id in the background. A lease
// that is gone already needs nothing more; the grant it carried is gone
// with it, and its holder learns so at its next Renew or Release.
func (d *Driver) keepAliveLater(lockID string, id clientv3.LeaseID) {
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		ctx, cancel := context.WithTimeout(d.life, cleanupTimeout)
		defer cancel()
		if _, err := d.keeper.keepAlive(ctx, id); err != nil && !isLeaseGone(err) {
			d.logger.Debug("etcd: could not keep a granted lease alive", "lock", lockID, "lease", int64(id), "err", err)
		}
	}()
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
	s.carried = nil
	s.mu.Unlock()
	for _, ls := range idle {
		for _, l := range ls {
			d.revokeLater("", l.id)
		}
	}
	d.bg.Wait()
}
