package raftbackend

import (
	"context"
	"crypto/rand"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/raftpb"
)

// This file holds ForceRelease, an operator's way out when a holder is stuck
// (alive enough to renew, wrong enough to never finish), from the state
// machine's command to the drivers.
//
// The command names the grant it ends. The leader reads the lock's
// current Version (linearizably) and proposes ForceRelease{lock,
// Version}; the state machine ends the grant only if it still holds that
// Version. So a ForceRelease never ends a grant it did not see, and never
// one made in its own log entry, which would give two grants one token.
// Each request also carries a RequestID, kept in the dedupe table: a
// resend after a lost answer (RemoteDriver sends one request to each node
// in turn when the leader fails) is answered with the first answer and
// ends nothing more.

// forceReleaser is the part of the node that the gRPC service calls for a
// ForceRelease; a nodeAPI without it answers CodeNotSupported.
type forceReleaser interface {
	forceRelease(ctx context.Context, lockID, requestID string) (*backend.Lock, error)
}

// operatorAPI is how tools call ForceRelease on a node or either driver.
type operatorAPI = interface {
	ForceRelease(ctx context.Context, lockID string) (*backend.Lock, error)
}

var (
	_ forceReleaser = (*Node)(nil)
	_ operatorAPI   = (*Node)(nil)
	_ operatorAPI   = (*RemoteDriver)(nil)
	_ operatorAPI   = (*EmbeddedDriver)(nil)
)

// forceClientID is the client ID of a ForceRelease in the dedupe table.
// Client IDs are never empty, so its keys cannot meet a client's.
const forceClientID = ""

// newForceRequestID returns a RequestID for one ForceRelease, unique
// across processes.
func newForceRequestID() string {
	return "force-" + rand.Text()
}

// validateForceRelease checks a ForceRelease's lock ID and, when there is
// one, its RequestID.
func validateForceRelease(lockID, requestID string) *backend.Error {
	if e := backend.ValidateID("lock ID", lockID); e != nil {
		return e
	}
	if requestID != "" {
		if e := backend.ValidateID("request ID", requestID); e != nil {
			e.LockID = lockID
			return e
		}
	}
	return nil
}

// ForceRelease ends lockID's current grant without its owner's client ID
// or Version, hands the lock to the head waiter in the same log entry as
// a Release would, and returns the grant it ended. The ended grant's
// fencing token is never given out again: the next grant's Version is
// greater. The former holder's next Renew or Release fails as after an
// expiry: CodeNotLockOwner once the lock went to a waiter, CodeNotFound
// when nobody waited.
//
// It fails with CodeNotFound when nobody holds the lock, with
// CodeVersionMismatch when the lock changed hands between the leader's
// read of it and the commit (look again before trying again), and, like
// every write, with CodeNotLeader on a follower. The command carries the
// Version it ends, so it never ends a grant the leader did not see.
//
// It is an operator's tool, with no owner check: a program that holds a
// lock gives it up with Release.
func (n *Node) ForceRelease(ctx context.Context, lockID string) (*backend.Lock, error) {
	return n.forceRelease(ctx, lockID, newForceRequestID())
}

// forceRelease is ForceRelease with the caller's RequestID ("" for none).
func (n *Node) forceRelease(ctx context.Context, lockID, requestID string) (*backend.Lock, error) {
	if e := validateForceRelease(lockID, requestID); e != nil {
		return nil, e
	}
	// A linearizable read: a grant committed a moment ago is seen, and
	// the answer to an earlier attempt of this request too.
	if err := n.readable(ctx, lockID, false); err != nil {
		return nil, err
	}
	n.fsm.mu.RLock()
	var first *result
	if requestID != "" {
		first = n.fsm.dedupe.get(dedupeKey(forceClientID, requestID))
	}
	var version int64
	if l := n.fsm.locks[lockID]; l != nil {
		version = l.version
	}
	n.fsm.mu.RUnlock()

	var res result
	switch {
	case first != nil:
		// An earlier attempt was applied: its answer, even if the lock
		// is free now or held by the waiter it went to.
		res = *first
	case version == 0:
		return nil, lockNotHeld(lockID)
	default:
		var err error
		res, err = n.batch.propose(ctx, command{kind: cmdForceRelease, lockID: lockID, version: version, requestID: requestID})
		if err != nil {
			return nil, err
		}
	}
	if res.err != nil {
		return nil, copyError(res.err)
	}
	l := res.lock
	l.Metadata = backend.CloneMetadata(l.Metadata)
	return &l, nil
}

func lockNotHeld(lockID string) *backend.Error {
	return &backend.Error{Code: backend.CodeNotFound, LockID: lockID, Message: "the lock is not held"}
}

// forceRelease applies cmdForceRelease: it ends the grant at c.version, if
// the lock still has it, and hands the lock on. A grant past its deadline
// ends first, as for any command (see lookup); the command then finds
// another grant, or none, and fails.
func (f *fsm) forceRelease(c *command, index uint64) result {
	if c.lockID == "" || c.version <= 0 {
		return result{err: backend.Errorf(backend.CodeInvalidArgument, "malformed %s command", c.kind)}
	}
	l := f.lookup(c.lockID, index)
	switch {
	case l == nil:
		return result{err: lockNotHeld(c.lockID)}
	case l.version != c.version || l.version >= int64(index):
		// The second test never holds for a command the node proposed
		// (it read the version from an earlier entry); it keeps a
		// grant made in this entry from being ended in it, which would
		// give its successor the same token.
		return result{err: &backend.Error{Code: backend.CodeVersionMismatch, LockID: c.lockID,
			Message: "the lock changed hands: it is held at another version than the one read"}}
	}
	ended := l.grant()
	f.stats.released() // counted with the releases: the grant ended before its lease did
	return result{lock: ended, next: f.vacate(l, index)}
}

// ForceRelease implements raftpb.RaftLockServer: see Node.ForceRelease.
// Like every write it is served by the leader; a follower answers
// NOT_LEADER with the leader's address.
func (s *lockService) ForceRelease(ctx context.Context, p *raftpb.ForceReleaseRequest) (*raftpb.Lock, error) {
	if e := validateForceRelease(p.GetLockId(), p.GetRequestId()); e != nil {
		return nil, statusError(e)
	}
	fr, ok := s.api.(forceReleaser)
	if !ok {
		return nil, statusError(&backend.Error{Code: backend.CodeNotSupported, LockID: p.GetLockId(),
			Message: "this server cannot force a release"})
	}
	l, err := fr.forceRelease(ctx, p.GetLockId(), p.GetRequestId())
	if err != nil {
		return nil, s.fail("ForceRelease", err)
	}
	if l == nil {
		return nil, noResult("ForceRelease")
	}
	return lockToPB(l), nil
}

// ForceRelease ends lockID's current grant for an operator and returns it;
// see Node.ForceRelease. The request goes to the leader like every write,
// with one RequestID for all the nodes it is sent to, so that a resend
// after a lost answer returns the first answer and ends no second grant.
func (d *RemoteDriver) ForceRelease(ctx context.Context, lockID string) (*backend.Lock, error) {
	if err := d.admit(validateForceRelease(lockID, "")); err != nil {
		return nil, err
	}
	p := &raftpb.ForceReleaseRequest{LockId: lockID, RequestId: newForceRequestID()}
	res, err := invoke(ctx, d, route{lockID: lockID, leaderOnly: true},
		func(ctx context.Context, c raftpb.RaftLockClient) (*raftpb.Lock, error) {
			return c.ForceRelease(ctx, p)
		})
	if err != nil {
		return nil, err
	}
	l := lockFromPB(res)
	return &l, nil
}

// ForceRelease: see Node.ForceRelease. On a follower the call goes to the
// leader's client API.
func (d *EmbeddedDriver) ForceRelease(ctx context.Context, lockID string) (*backend.Lock, error) {
	return do(d, ctx, lockID, func(ctx context.Context) (*backend.Lock, error) {
		return d.node.ForceRelease(ctx, lockID)
	}, func(ctx context.Context, r *RemoteDriver) (*backend.Lock, error) { return r.ForceRelease(ctx, lockID) })
}
