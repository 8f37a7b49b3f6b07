package raftbackend

import (
	"github.com/raftlock/raftlock/backend"
)

// cmdKind names a state-machine command. The values are written to the Raft
// log, so they are never renumbered: new kinds are appended.
type cmdKind uint8

const (
	cmdAcquire      cmdKind = iota + 1 // grant, return the holder's grant, queue, or fail with LockHeld
	cmdRelease                         // end a grant and hand the lock to the head waiter
	cmdRenew                           // extend a grant to Now + TTL
	cmdEnqueue                         // join the wait queue without a blocked call
	cmdCancelWait                      // leave the wait queue
	cmdExpire                          // the leader saw a grant's deadline pass
	cmdWaitTimeout                     // the leader saw a waiter's deadline pass
	cmdLeaderChange                    // first entry of a new leader: push every deadline past Now
	cmdSetMember                       // record a server's client API address
	cmdRemoveMember                    // forget a server
	cmdForceRelease                    // an operator ends a grant and hands the lock to the head waiter
	numCmdKinds
)

var cmdNames = [numCmdKinds]string{
	cmdAcquire:      "acquire",
	cmdRelease:      "release",
	cmdRenew:        "renew",
	cmdEnqueue:      "enqueue",
	cmdCancelWait:   "cancel-wait",
	cmdExpire:       "expire",
	cmdWaitTimeout:  "wait-timeout",
	cmdLeaderChange: "leader-change",
	cmdSetMember:    "set-member",
	cmdRemoveMember: "remove-member",
	cmdForceRelease: "force-release",
}

func (k cmdKind) String() string {
	if k > 0 && k < numCmdKinds {
		return cmdNames[k]
	}
	return "unknown"
}

// command is one change to the lock table. One struct serves every kind, so
// a log entry decodes into one slice without an allocation per command;
// each kind reads only its own fields (see codec.go for which).
//
// Durations are nanoseconds. A command never carries a time of its own: the
// entry's Now, stamped by the leader, is the time of every command in it.
type command struct {
	kind      cmdKind
	wait      bool  // Acquire: queue when held
	priority  int32 // Acquire, Enqueue
	version   int64 // Release, Renew, Expire, ForceRelease
	ttl       int64 // Acquire, Renew, Enqueue
	timeout   int64 // Acquire, Enqueue: wait timeout; 0 for none
	lockID    string
	clientID  string
	requestID string
	node      string // LeaderChange, SetMember, RemoveMember: the server's Raft ID
	addr      string // LeaderChange, SetMember: its client API address
	md        map[string]string
	limits    limits // LeaderChange: the limits in force from this entry on
}

// deduped reports whether the command's answer is kept in the dedupe table:
// the client-sent mutations that carry a RequestID. A ForceRelease has no
// client ID; its key, with an empty client ID, cannot match a client's.
func (c *command) deduped() bool {
	if c.requestID == "" {
		return false
	}
	switch c.kind {
	case cmdAcquire, cmdRelease, cmdRenew, cmdEnqueue, cmdCancelWait, cmdForceRelease:
		return true
	}
	return false
}

// entry is the payload of one Raft log entry: the leader's clock reading
// and the commands that share it. Several clients' commands travel in one
// entry under load, so they share one append, one fsync and one round of
// replication.
type entry struct {
	now  int64 // unix nanoseconds on the leader's clock when it proposed the entry
	cmds []command
}

// outcome says which way a command went when it did not fail.
type outcome uint8

const (
	outDone        outcome = iota // applied (Release, Renew, CancelWait, internal commands)
	outGranted                    // the lock was granted by this command
	outAlreadyHeld                // the client held the lock before this command
	outQueued                     // the client waits in the queue at position
	outNoop                       // an internal command found nothing to do
)

// result is the answer to one command. It is immutable once made: the dedupe
// table hands the same value to a retried request.
type result struct {
	err      *backend.Error // nil on success
	outcome  outcome
	lock     backend.Lock // the grant (Acquire, Renew, Enqueue when granted; ForceRelease: the one it ended)
	position int          // queue position when outQueued
	next     string       // Release, Expire, ForceRelease: the waiter the lock went to
}
