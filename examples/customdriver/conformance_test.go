//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package dirlock_test

import (
	"context"
	"testing"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/conformance"
	dirlock "github.com/raftlock/raftlock/examples/customdriver"
)

// harness points the suite at one lock directory. Every driver it makes
// opens that directory afresh, sharing nothing with the others but the
// files, exactly as a driver in another process would.
type harness struct{ dir string }

var _ conformance.Harness = harness{}

// MakeDriver opens one more client of the directory.
func (h harness) MakeDriver(context.Context) (backend.Driver, error) {
	d, err := dirlock.Open(h.dir)
	if err != nil {
		return nil, err // not a nil *Driver inside a non-nil interface
	}
	return d, nil
}

func TestConformance(t *testing.T) {
	t.Parallel()
	conformance.Run(t, harness{dir: t.TempDir()})
}

func BenchmarkConformance(b *testing.B) {
	conformance.RunBenchmarks(b, harness{dir: b.TempDir()})
}
