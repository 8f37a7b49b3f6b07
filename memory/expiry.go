package memory

import "time"

// Expiry: each shard keeps its held locks in a min-heap by expiry and one
// timer, armed for the earliest. The timer expires what is due (handing each
// lock to its head waiter, which wakes it) and re-arms for the next. Compared
// with a timer per lock, an acquire-release cycle then touches no timer at
// all in the common case: a new grant expires after the timer's current
// target, and a release leaves the timer to find nothing due.

// setExpiry sets the expiry of the held lock ls to at and makes sure the
// shard's timer runs no later than that. sh.mu must be held.
func (s *Store) setExpiry(sh *shard, ls *lockState, at, now time.Time) {
	ls.expiresAt = at
	if ls.heapIdx < 0 {
		sh.expiries.push(ls)
	} else {
		sh.expiries.fix(ls.heapIdx)
	}
	if !sh.firing {
		s.arm(sh, now)
	}
}

// arm points the shard's timer at the earliest expiry if it is not already
// due by then. A timer that runs early (the lock it was armed for was
// released or renewed) finds nothing due and re-arms, which costs less than
// moving the timer on every release and renewal. sh.mu must be held.
func (s *Store) arm(sh *shard, now time.Time) {
	if len(sh.expiries) == 0 {
		return
	}
	at := sh.expiries[0].expiresAt
	if sh.armed && !at.Before(sh.timerAt) {
		return
	}
	d := at.Sub(now)
	if sh.timer == nil {
		sh.timer = s.cfg.clock.AfterFunc(d, sh.onTimer)
	} else {
		sh.timer.Reset(d)
	}
	sh.armed = true
	sh.timerAt = at
}

// onExpiryTimer expires every grant of the shard that is due and re-arms the
// timer for the next expiry.
func (s *Store) onExpiryTimer(sh *shard) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return
	}
	sh.armed = false
	now := s.cfg.clock.Now()
	sh.firing = true
	// Each vacate either drops the head record or gives it a new grant that
	// expires after now, so the loop ends.
	for len(sh.expiries) > 0 && !now.Before(sh.expiries[0].expiresAt) {
		s.vacate(sh, sh.expiries[0], now)
	}
	sh.firing = false
	s.arm(sh, now)
}

// expiryHeap is a binary min-heap of held locks by expiresAt. Each record
// knows its index, so a release or renewal can remove or move it in
// O(log n).
type expiryHeap []*lockState

func (h expiryHeap) less(i, j int) bool { return h[i].expiresAt.Before(h[j].expiresAt) }

func (h expiryHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}

func (h *expiryHeap) push(ls *lockState) {
	ls.heapIdx = len(*h)
	*h = append(*h, ls)
	h.up(ls.heapIdx)
}

// remove takes ls out of the heap if it is in it.
func (h *expiryHeap) remove(ls *lockState) {
	i := ls.heapIdx
	if i < 0 || i >= len(*h) || (*h)[i] != ls {
		return
	}
	last := len(*h) - 1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
	*h = (*h)[:last]
	ls.heapIdx = -1
	if i != last {
		h.fix(i)
	}
}

// fix restores the heap order after the element at i changed.
func (h expiryHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h expiryHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.swap(i, p)
		i = p
	}
}

// down sifts the element at i down and reports whether it moved.
func (h expiryHeap) down(i int) bool {
	start := i
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			break
		}
		h.swap(i, m)
		i = m
	}
	return i > start
}
