package etcdbackend

import (
	"encoding/json"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/raftlock/raftlock/backend"
)

// The key layout. Every client that holds or waits for a lock has one key:
//
//	<prefix><lock ID> NUL <client ID>
//
// The holder is the key of the lowest create revision under
// "<prefix><lock ID> NUL"; every other key is a waiter, in the order of its
// create revision. Lock and client IDs never contain NUL (backend.ValidateID
// refuses it), so the NUL ends the lock ID unambiguously: the keys of lock
// "a" are not a prefix range of lock "a/b", and the keys sort by lock ID in
// byte order, which List needs. NUL also sorts below every other byte, so a
// lock's keys come before those of any longer lock ID that starts with it.
const sep = "\x00"

// lockPrefix is the key prefix of every key of lockID.
func (d *Driver) lockPrefix(lockID string) string {
	return d.prefix + lockID + sep
}

// clientKey is the key of clientID under lockID.
func (d *Driver) clientKey(lockID, clientID string) string {
	return d.prefix + lockID + sep + clientID
}

// splitKey returns the lock and client ID of a key under the driver's
// prefix; ok is false for a key that does not follow the layout (written by
// someone else), which callers skip.
func (d *Driver) splitKey(key []byte) (lockID, clientID string, ok bool) {
	k, found := strings.CutPrefix(string(key), d.prefix)
	if !found {
		return "", "", false
	}
	lockID, clientID, ok = strings.Cut(k, sep)
	return lockID, clientID, ok && lockID != "" && clientID != ""
}

// record is the value of a key. It is written once when the key is created
// (and again only when Renew moves the key to a lease of another length),
// so it holds what the store cannot tell by itself.
type record struct {
	// TTL is the length of the key's lease in whole seconds, as the driver
	// asked for it (etcd may raise a lease to its minimum TTL). Renew
	// compares against this, not the lease, to decide whether a keep-alive
	// restores the right length.
	TTL int64 `json:"ttl"`
	// GrantTTL, when set, is the TTL of the grant a waiter asked for, in
	// whole seconds, shorter than its waiting lease (see waitLeaseFloor):
	// the key moves to a lease of that length when the lock comes to it.
	GrantTTL int64 `json:"grant_ttl,omitempty"`
	// At is when the key was written, by the writer's clock (Unix ns): the
	// grant time of a lock taken at once, the time it queued for a waiter.
	At int64 `json:"at"`
	// WaitUntil is when a waiter gives up, by the writer's clock (Unix ns);
	// 0 for never. For display.
	WaitUntil int64 `json:"wait_until,omitempty"`
	// Priority is the waiter's requested priority, kept for display: the
	// store serves waiters in arrival order only.
	Priority int32             `json:"priority,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

func (r *record) encode() string {
	b, _ := json.Marshal(r) // a struct of strings and numbers always marshals
	return string(b)
}

func decodeRecord(lockID string, kv *mvccpb.KeyValue) (*record, error) {
	r := new(record)
	if err := json.Unmarshal(kv.Value, r); err != nil {
		return nil, &backend.Error{Code: backend.CodeInternal, LockID: lockID,
			Message: "etcd key " + string(kv.Key) + " does not hold a raftlock record", Err: err}
	}
	return r, nil
}

// ttlSeconds rounds ttl up to whole seconds, the unit of etcd leases.
func ttlSeconds(ttl time.Duration) int64 {
	return int64((ttl + time.Second - 1) / time.Second)
}

// unixTime turns a record's Unix nanoseconds into a time without a
// monotonic reading; zero stays the zero time.
func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// now is the driver's wall clock, without the monotonic reading (which
// means nothing outside the process).
func now() time.Time { return time.Now().UTC().Round(0) }

// lockOf builds the grant a holder's key stands for. ExpiresAt is left for
// the caller, who knows how the lease was last set.
func lockOf(lockID, clientID string, kv *mvccpb.KeyValue, r *record) backend.Lock {
	return backend.Lock{
		LockID:     lockID,
		Owner:      clientID,
		Version:    kv.CreateRevision,
		AcquiredAt: unixTime(r.At),
		Metadata:   backend.CloneMetadata(r.Metadata),
	}
}
