package raftbackend

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: nodes,
// servers, drivers and the calls blocked in them must all be cleaned up.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
