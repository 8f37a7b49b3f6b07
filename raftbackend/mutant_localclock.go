//go:build mutant_localclock && !mutant_unpersisted

package raftbackend

import "time"

// A deliberate bug, built only with the mutant_localclock tag, so that the
// verification suite (internal/chaos) can show it catches a broken store:
// each node applies entries at its own clock's time instead of the time the
// leader stamped, so a node that applies late (a follower catching up, a
// node restarted) expires grants the leader still counts as held. Never
// build a release with this tag.
func entryTime(*entry) int64 { return time.Now().UnixNano() }

func grantVersion(index uint64) int64 { return int64(index) }
