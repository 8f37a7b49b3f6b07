package main

import (
	"errors"
	"flag"
	"strconv"

	"github.com/raftlock/raftlock/raftbackend"
)

// limitFlags defines the flags of the store's limits on fs, writing into c.
// The lock and waiter limits are the leader's for the whole cluster (see
// raftbackend.Config.MaxLocks), which the usage says, so that an operator
// who sets them on one node only is not surprised.
func limitFlags(fs *flag.FlagSet, c *raftbackend.Config) {
	fs.Var(countValue{&c.MaxLocks}, "max-locks",
		"the most `locks` held or waited on at once in the whole store; more fail with resource exhausted (0: no limit; the leader's setting applies to the whole cluster)")
	fs.Var(countValue{&c.MaxWaiters}, "max-waiters",
		"the most `waiters` in one lock's queue; more fail with wait queue full (0: no limit; the leader's setting applies to the whole cluster)")
	c.MaxRequestBytes = raftbackend.DefaultMaxRequestBytes
	fs.Var(countValue{&c.MaxRequestBytes}, "max-request-bytes",
		"the largest message the client API accepts, in `bytes`; a larger one fails with resource exhausted")
}

// countValue is a flag holding a whole number that must not be negative.
// It refuses a negative value as the flag is parsed, so that the mistake
// is a usage error reported before anything starts.
type countValue struct{ p *int }

func (v countValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}

func (v countValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		return errors.New("want a whole number")
	case n < 0:
		return errors.New("must not be negative")
	}
	*v.p = n
	return nil
}
