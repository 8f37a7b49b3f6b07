package main

import (
	"flag"

	"github.com/raftlock/raftlock/raftbackend"
)

// limitFlags defines the flags of the store's limits on fs, writing into c.
func limitFlags(fs *flag.FlagSet, c *raftbackend.Config) {}
