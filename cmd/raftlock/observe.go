package main

import (
	"flag"
	"log/slog"

	"github.com/raftlock/raftlock/raftbackend"
)

// observeOptions are serve's settings for metrics and profiling.
type observeOptions struct{}

// observeFlags defines the flags of observeOptions on fs.
func observeFlags(fs *flag.FlagSet, o *observeOptions) {}

// check reports a bad setting before anything starts.
func (o *observeOptions) check() error { return nil }

// configure prepares what must be in place before the node starts (gRPC
// interceptors in cfg) and returns the observer that serves the rest.
func (o *observeOptions) configure(cfg *raftbackend.Config, logger *slog.Logger) (*observer, error) {
	return &observer{}, nil
}

// observer serves what the node exposes once it runs.
type observer struct{}

// attach starts observing node, once it runs.
func (ob *observer) attach(node *raftbackend.Node) {}

// close stops serving.
func (ob *observer) close() {}
