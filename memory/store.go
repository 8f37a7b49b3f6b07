package memory

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// numShards is how many independently locked parts the lock table is cut
// into. Clients working on different locks then rarely wait for each other's
// mutex; 64 is well above the core count of the machines the store is meant
// for, and a power of two so that picking a shard is a mask.
const numShards = 64

// maxSparePerShard bounds the records a shard keeps out of its table for new
// lock IDs, so that compaction does not turn straight into allocation; the
// bound keeps a burst of short-lived locks from pinning memory.
const maxSparePerShard = 16

// Store is one in-process lock store. Every Driver made by NewDriver reaches
// the same locks, so several drivers stand for several client processes that
// share a lock service.
//
// A Store is safe for concurrent use. Its locks live only in memory: they are
// lost with the process, and Capabilities.Replicated is false.
type Store struct {
	cfg  config
	caps backend.Capabilities
	name string // the NAME of a mem://NAME store, "" otherwise; shown by Status

	// gate wakes every blocked call when the store closes and lets Close wait
	// until they have left their queues.
	gate   gate
	closed atomic.Bool

	// nlocks counts lock IDs, kept only when cfg.maxLocks is set, because a
	// counter shared by all shards is the one point of contention between
	// clients of unrelated locks.
	nlocks atomic.Int64

	shards [numShards]shard
}

// shard is one part of the lock table. Everything about a lock ID (its grant,
// its queue, its waiters' state) is guarded by the mutex of the shard the ID
// hashes to; no operation holds two shard mutexes at once.
type shard struct {
	mu     sync.Mutex
	closed bool // set by Store.Close; every operation then fails
	locks  map[string]*lockState
	spare  []*lockState // records dropped from locks, for reuse
	idx    int64        // this shard's index, part of every version it issues
	seq    int64        // grants made by this shard so far
	nfree  int          // records in locks that are free (see dropLock)

	expiries expiryHeap // every held lock, earliest expiry first
	// One timer per shard runs at the earliest expiry (see expiry.go).
	timer   Timer
	timerAt time.Time
	armed   bool
	firing  bool // inside onTimer, which re-arms once at its end
	onTimer func()

	// Keep the next shard's mutex off the cache lines of this one, so that
	// cores working in neighbouring shards do not pass lines back and forth.
	_ [64]byte
}

// NewStore makes an empty store. See the Option functions for what can be
// set; without options the store uses the system clock, accepts TTLs from
// DefaultMinTTL to DefaultMaxTTL and has no limit on locks or waiters.
func NewStore(opts ...Option) *Store {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	return newStore(cfg, "")
}

func newStore(cfg config, name string) *Store {
	s := &Store{
		cfg:  cfg,
		name: name,
		caps: backend.Capabilities{
			FIFO:           true,
			Priorities:     true,
			ServerSideWait: true,
			Metadata:       true,
			Replicated:     false,
			MinTTL:         cfg.minTTL,
			MaxTTL:         cfg.maxTTL,
		},
	}
	s.gate.init()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.idx = int64(i)
		sh.locks = make(map[string]*lockState)
		sh.onTimer = func() { s.onExpiryTimer(sh) }
	}
	return s
}

// NewDriver returns a new client of the store. Each driver stands for one
// client process: closing it wakes only the calls blocked in it. A driver
// made after the store was closed fails every call with CodeClosed.
func (s *Store) NewDriver() *Driver {
	d := &Driver{store: s}
	d.gate.init()
	return d
}

// Capabilities returns what the store declares; every driver of the store
// reports the same.
func (s *Store) Capabilities() backend.Capabilities { return s.caps }

// Close shuts the store down. It wakes every call blocked in any of its
// drivers with CodeClosed and waits until they have returned; after it,
// every call on every driver fails with CodeClosed and the locks are gone.
// Close is idempotent and always returns nil.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	// Mark the shards first, so that no new lock or waiter appears while the
	// blocked calls drain; then wake those calls and let them leave their
	// queues; then drop everything, stopping timers so that none fires
	// into a closed store.
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.closed = true
		sh.mu.Unlock()
	}
	s.gate.close()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, ls := range sh.locks {
			for _, w := range ls.queue {
				s.finishWaiter(w, waitLeft)
			}
			ls.queue = nil
		}
		if sh.timer != nil {
			sh.timer.Stop()
		}
		sh.locks = nil
		sh.spare = nil
		sh.expiries = nil
		sh.mu.Unlock()
	}
	s.nlocks.Store(0)
	return nil
}

// shardFor picks a lock ID's shard with FNV-1a, which is cheap for short
// keys and spreads IDs that differ only in a trailing counter.
func (s *Store) shardFor(lockID string) *shard {
	h := uint32(2166136261)
	for i := 0; i < len(lockID); i++ {
		h ^= uint32(lockID[i])
		h *= 16777619
	}
	return &s.shards[h&(numShards-1)]
}

// lockShard locks the shard of lockID and returns it, or fails if the
// store has closed. The caller unlocks it.
func (s *Store) lockShard(lockID string) (*shard, error) {
	sh := s.shardFor(lockID)
	sh.mu.Lock()
	if sh.closed {
		sh.mu.Unlock()
		return nil, closedError(lockID, "store")
	}
	return sh, nil
}

// nextVersion issues a fencing token. Each shard counts its own grants and
// interleaves its index, so tokens are unique store-wide and strictly
// increasing per shard (hence per lock ID) without a counter that every
// core must share. sh.mu must be held.
func (sh *shard) nextVersion() int64 {
	v := sh.seq*numShards + sh.idx + 1
	sh.seq++
	return v
}

// lookup returns the record of lockID if the lock is held, nil if it is
// free. A grant that is due is expired first (see held).
// sh.mu must be held.
func (s *Store) lookup(sh *shard, lockID string, now time.Time) *lockState {
	ls := sh.locks[lockID]
	if ls == nil || !s.held(sh, ls, now) {
		return nil
	}
	return ls
}

// held reports whether the record ls is a held lock, after expiring its grant
// if it is due. Expiry is driven by timers, so that waiters are woken on
// time; checking here as well makes every answer exact even when a timer
// runs late. sh.mu must be held.
func (s *Store) held(sh *shard, ls *lockState, now time.Time) bool {
	if !ls.live {
		return false
	}
	if !now.Before(ls.expiresAt) {
		s.vacate(sh, ls, now)
	}
	return ls.live
}

// eachHeld calls fn for every held lock, one shard at a time under that
// shard's mutex, expiring what is due on the way, and fails if the store
// has closed. The walk is not a snapshot of the whole store at one instant.
func (s *Store) eachHeld(fn func(ls *lockState)) error {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		if sh.closed {
			sh.mu.Unlock()
			return closedError("", "store")
		}
		now := s.cfg.clock.Now()
		for _, ls := range sh.locks {
			// held expires a due grant, which may compact the table;
			// deleting from a map while ranging over it is allowed.
			if s.held(sh, ls, now) {
				fn(ls)
			}
		}
		sh.mu.Unlock()
	}
	return nil
}

// grantIfFree grants lockID to clientID if nobody holds it at now. It
// returns the lock's record (held, by this grant or an earlier one) and
// whether this call made the grant. sh.mu must be held.
func (s *Store) grantIfFree(sh *shard, lockID, clientID string, ttl time.Duration, md map[string]string, now time.Time) (*lockState, bool, *backend.Error) {
	ls := sh.locks[lockID]
	if ls != nil && s.held(sh, ls, now) {
		return ls, false, nil
	}
	ls, e := s.newLock(sh, lockID, ls)
	if e != nil {
		return nil, false, e
	}
	s.grant(sh, ls, clientID, ttl, md, now)
	return ls, true, nil
}

// newLock makes lockID a held lock's record, counting it against the lock
// limit. ls is the free record the shard still has for lockID, or nil.
// sh.mu must be held.
func (s *Store) newLock(sh *shard, lockID string, ls *lockState) (*lockState, *backend.Error) {
	if limit := int64(s.cfg.maxLocks); limit > 0 {
		for {
			n := s.nlocks.Load()
			if n >= limit {
				e := backend.Errorf(backend.CodeResourceExhausted, "the store holds its maximum of %d locks", limit)
				e.LockID = lockID
				return nil, e
			}
			if s.nlocks.CompareAndSwap(n, n+1) {
				break
			}
		}
	}
	if ls != nil {
		// The free record the table still has for this ID.
		sh.nfree--
	} else {
		// The table is about to grow: first drop its free records if they
		// outnumber the held ones, which bounds the memory they take and
		// makes compaction cost a constant per release. This is the one
		// place that compacts, because here no caller holds a record or
		// ranges over the table.
		if sh.nfree > minCompact && sh.nfree > len(sh.locks)/2 {
			sh.compact()
		}
		if n := len(sh.spare); n > 0 {
			ls = sh.spare[n-1]
			sh.spare[n-1] = nil
			sh.spare = sh.spare[:n-1]
			ls.id = lockID
		} else {
			ls = &lockState{id: lockID, heapIdx: -1}
		}
		sh.locks[lockID] = ls
	}
	ls.live = true
	return ls, nil
}

// dropLock marks the record of a lock that has become free (with an empty
// queue) as free. It stays in the table, so that the next Acquire of the same
// ID, the common case, costs no map insert and delete; newLock compacts the
// table once free records outnumber held ones. sh.mu must be held.
func (s *Store) dropLock(sh *shard, ls *lockState) {
	sh.expiries.remove(ls)
	// Clear only the live flag and the metadata, which may be large; a new
	// grant overwrites the rest, and every reader checks live first.
	ls.live = false
	if ls.md != nil {
		ls.md = nil
	}
	if s.cfg.maxLocks > 0 {
		s.nlocks.Add(-1)
	}
	sh.nfree++
}

// minCompact is the number of free records a shard keeps before it bothers
// to compact its table.
const minCompact = 64

// compact deletes the free records from the table, keeping a few for reuse.
// Nothing else points at a free record (waiters and timers find locks by ID
// or through the heap, and a free record is in neither), so reuse is safe.
// sh.mu must be held.
func (sh *shard) compact() {
	for id, ls := range sh.locks {
		if ls.live {
			continue
		}
		delete(sh.locks, id)
		if len(sh.spare) < maxSparePerShard {
			*ls = lockState{heapIdx: -1, queue: ls.queue[:0]}
			sh.spare = append(sh.spare, ls)
		}
	}
	sh.nfree = 0
}

// grant makes owner the holder of ls with a new version, from now for ttl.
// md must already be the store's own copy. sh.mu must be held.
func (s *Store) grant(sh *shard, ls *lockState, owner string, ttl time.Duration, md map[string]string, now time.Time) {
	ls.owner = owner
	ls.version = sh.nextVersion()
	ls.acquiredAt = now
	ls.md = md
	s.setExpiry(sh, ls, now.Add(ttl), now)
}

// vacate ends the current grant of ls (a release or an expiry): the head
// waiter still in time gets the lock in the same step, with its own TTL from
// now; with nobody waiting the record goes. It returns the new holder, ""
// if none. sh.mu must be held.
func (s *Store) vacate(sh *shard, ls *lockState, now time.Time) string {
	for len(ls.queue) > 0 {
		w := ls.popHead()
		if !w.timeoutAt.IsZero() && !now.Before(w.timeoutAt) {
			// Its timer has not run yet, but its time is up.
			s.finishWaiter(w, waitTimedOut)
			continue
		}
		s.grant(sh, ls, w.clientID, w.ttl, w.md, now)
		w.grant = ls.snapshot()
		s.finishWaiter(w, waitGranted)
		return w.clientID
	}
	s.dropLock(sh, ls)
	return ""
}

// onWaitTimer runs when a waiter's wait timeout fires: the waiter leaves the
// queue and its blocked calls, if any, fail with CodeTimeout.
func (s *Store) onWaitTimer(sh *shard, w *waiter) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed || w.state != waitWaiting {
		return
	}
	now := s.cfg.clock.Now()
	if now.Before(w.timeoutAt) {
		w.timer.Reset(w.timeoutAt.Sub(now))
		return
	}
	if ls := sh.locks[w.lockID]; ls != nil && ls.live {
		ls.remove(w)
	}
	s.finishWaiter(w, waitTimedOut)
}

// finishWaiter moves w, already out of its queue, to its final state and
// wakes the calls blocked on it. sh.mu must be held.
func (s *Store) finishWaiter(w *waiter, state waitState) {
	w.state = state
	if w.timer != nil {
		w.timer.Stop()
	}
	if w.done != nil {
		close(w.done)
	}
}

// closedError is the error of a call on a closed store or driver.
func closedError(lockID, what string) *backend.Error {
	return &backend.Error{Code: backend.CodeClosed, LockID: lockID, Message: "the memory " + what + " is closed"}
}
