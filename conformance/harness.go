package conformance

import (
	"context"

	"github.com/raftlock/raftlock/backend"
)

// Harness connects the suite to one store. The suite calls MakeDriver once
// per simulated client process: every driver it returns must reach the same
// store, so that a lock taken through one is seen as held through another.
//
// The suite closes every driver it makes. The harness owns the store itself
// and tears it down after Run returns.
type Harness interface {
	MakeDriver(ctx context.Context) (backend.Driver, error)
}
