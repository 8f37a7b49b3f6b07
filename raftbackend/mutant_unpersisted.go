//go:build mutant_unpersisted && !mutant_localclock

package raftbackend

import "sync/atomic"

// A deliberate bug, built only with the mutant_unpersisted tag, so that the
// verification suite (internal/chaos) can show it catches a broken store:
// the fencing version comes from a counter kept in memory only, so it
// starts again from one after a restart and stops growing across it. Never
// build a release with this tag.
func entryTime(e *entry) int64 { return e.now }

var grantsSinceStart atomic.Int64

func grantVersion(uint64) int64 { return grantsSinceStart.Add(1) }
