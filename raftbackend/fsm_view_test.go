package raftbackend

import (
	"fmt"
	"slices"
	"strings"
)

// view describes the lock table (grants and queues, not times, which a
// new leader's LeaderChange moves) for tests that compare nodes.
func (f *fsm) view() string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	ids := make([]string, 0, len(f.locks))
	for id := range f.locks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b strings.Builder
	for _, id := range ids {
		l := f.locks[id]
		fmt.Fprintf(&b, "%s owner=%s version=%d ttl=%d md=%v queue=[", id, l.owner, l.version, l.ttl, l.md)
		for _, w := range l.queue {
			fmt.Fprintf(&b, " %s/%d", w.clientID, w.priority)
		}
		b.WriteString(" ]\n")
	}
	fmt.Fprintf(&b, "waiters=%d dedupe=%d members=%v", f.waiters, f.dedupe.len(), f.members)
	return b.String()
}
