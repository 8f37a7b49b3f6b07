package prommetrics

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultNamespace is the prefix of every series name unless WithNamespace
// says otherwise.
const DefaultNamespace = "raftlock"

// defaultBuckets are the latency buckets unless WithBuckets says otherwise.
// It stays unexported because the histograms keep the slice: a program that
// changed it would change them under their feet.
var defaultBuckets = []float64{
	0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05,
	0.1, 0.25, 0.5,
	1, 2.5, 5, 10,
}

// Option changes how New builds the adapter.
type Option func(*config)

// config is what the options set.
type config struct {
	namespace   string
	constLabels prometheus.Labels
	buckets     []float64
}

func defaultConfig() config {
	return config{namespace: DefaultNamespace, buckets: defaultBuckets}
}

// WithNamespace sets the first part of every series name (default
// "raftlock"). An empty namespace leaves names starting with "client_".
// Two adapters with different namespaces can share a registry.
func WithNamespace(ns string) Option {
	return func(c *config) { c.namespace = ns }
}

// WithConstLabels adds labels with fixed values to every series, for
// instance to tell apart several clients of one program that share a
// registry. Adapters on one registry must then all have the same label
// names, with different values: Prometheus refuses one series name with two
// label sets. The names "op", "outcome" and "le" are taken by the adapter's
// own labels; New reports them as an error. The map is copied.
func WithConstLabels(labels prometheus.Labels) Option {
	labels = maps.Clone(labels)
	return func(c *config) { c.constLabels = labels }
}

// WithBuckets sets the upper bounds, in seconds, of the latency histogram's
// buckets. They must be increasing and not NaN; a final +Inf is implied and
// may be left out. Nil or empty keeps the default: 100 µs to 10 s in
// 1-2.5-5 steps, so that an operation on the in-memory store lands in the
// first buckets, one on a replicated store across a network in the middle
// ones, and a retried or queued Acquire in the last. The slice is copied.
func WithBuckets(buckets []float64) Option {
	buckets = slices.Clone(buckets)
	return func(c *config) {
		if len(buckets) == 0 {
			c.buckets = defaultBuckets
			return
		}
		c.buckets = buckets
	}
}

// validate reports what the Prometheus library would otherwise only find
// when a series is first used, and would then panic on, in the middle of a
// client call.
func (c *config) validate() error {
	for _, name := range [...]string{labelOp, labelOutcome, "le"} {
		if _, ok := c.constLabels[name]; ok {
			return fmt.Errorf("prommetrics: const label %q clashes with a label of the adapter", name)
		}
	}
	for i, b := range c.buckets {
		switch {
		case math.IsNaN(b):
			return errors.New("prommetrics: histogram bucket is NaN")
		case i > 0 && b <= c.buckets[i-1]:
			return fmt.Errorf("prommetrics: histogram buckets are not increasing: %g after %g", b, c.buckets[i-1])
		}
	}
	return nil
}
