//go:build !mutant_localclock && !mutant_unpersisted

package raftbackend

// entryTime is the state-machine time an entry is applied at: the leader's
// clock when it proposed the entry, the same on every node. The
// verification suite (internal/chaos) swaps this file for a broken one
// under a build tag, to show that its checkers catch the bug.
func entryTime(e *entry) int64 { return e.now }

// grantVersion is the fencing version of a grant made by the entry at
// index: the index itself, which every node agrees on and which survives
// snapshots and restarts because the log does.
func grantVersion(index uint64) int64 { return int64(index) }
