package raftbackend

// dedupeCapacity is how many answers the dedupe table keeps. It is a
// constant, not a setting, because every node must forget the same answers
// at the same log index: a table that kept more on one node would answer a
// late retry there and apply it a second time elsewhere. 65,536 answers
// cover several minutes of retries at the store's full rate and take a few
// megabytes.
const dedupeCapacity = 1 << 16

// dedupeTable remembers the answers to the latest client requests by
// (client ID, request ID), so that a request sent again after a lost answer
// gets the first answer instead of being applied twice. It forgets the
// oldest answer first, in log order, identically on every node.
type dedupeTable struct {
	m    map[string]*result
	ring []string // keys in insertion order, oldest at head once full
	head int
}

func newDedupeTable() dedupeTable {
	return dedupeTable{m: make(map[string]*result)}
}

func dedupeKey(clientID, requestID string) string {
	return clientID + "\x00" + requestID
}

func (t *dedupeTable) get(key string) *result { return t.m[key] }

func (t *dedupeTable) put(key string, r *result) {
	if _, ok := t.m[key]; ok {
		t.m[key] = r
		return
	}
	if len(t.ring) < dedupeCapacity {
		t.ring = append(t.ring, key)
	} else {
		delete(t.m, t.ring[t.head])
		t.ring[t.head] = key
		t.head = (t.head + 1) % dedupeCapacity
	}
	t.m[key] = r
}

// each calls fn for every kept answer, oldest first.
func (t *dedupeTable) each(fn func(key string, r *result)) {
	for i := range t.ring {
		k := t.ring[(t.head+i)%len(t.ring)]
		fn(k, t.m[k])
	}
}

func (t *dedupeTable) len() int { return len(t.ring) }
