package main

import (
	"flag"
	"log/slog"

	"github.com/raftlock/raftlock/raftbackend"
)

// securityOptions are serve's settings for TLS, client identities and
// rate limits.
type securityOptions struct{}

// securityFlags defines the flags of securityOptions on fs.
func securityFlags(fs *flag.FlagSet, o *securityOptions) {}

// check reports a bad setting before anything starts.
func (o *securityOptions) check() error { return nil }

// configure puts the settings into the node's configuration.
func (o *securityOptions) configure(cfg *raftbackend.Config, logger *slog.Logger) error { return nil }
