package backend

import (
	"testing"
	"time"
)

func TestRoundTTL(t *testing.T) {
	tests := []struct {
		name string
		g    time.Duration
		ttl  time.Duration
		want time.Duration
	}{
		{"exact store", 0, 1500 * time.Millisecond, 1500 * time.Millisecond},
		{"exact store, one nanosecond", 0, 1, 1},
		{"negative granularity is exact", -time.Second, 1500 * time.Millisecond, 1500 * time.Millisecond},
		{"seconds, rounds up", time.Second, 1500 * time.Millisecond, 2 * time.Second},
		{"seconds, just above a second", time.Second, time.Second + 1, 2 * time.Second},
		{"seconds, one nanosecond", time.Second, 1, time.Second},
		{"seconds, already whole", time.Second, 3 * time.Second, 3 * time.Second},
		{"seconds, zero stays zero", time.Second, 0, 0},
		{"milliseconds, rounds up", time.Millisecond, 1500*time.Microsecond + 1, 2 * time.Millisecond},
		{"milliseconds, already whole", time.Millisecond, 250 * time.Millisecond, 250 * time.Millisecond},
		{"odd granularity", 300 * time.Millisecond, time.Second, 1200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Capabilities{TTLGranularity: tt.g}
			got := c.RoundTTL(tt.ttl)
			if got != tt.want {
				t.Errorf("RoundTTL(%v) with granularity %v = %v, want %v", tt.ttl, tt.g, got, tt.want)
			}
			// Rounding never shortens a lease.
			if got < tt.ttl {
				t.Errorf("RoundTTL(%v) = %v is shorter", tt.ttl, got)
			}
		})
	}
}
