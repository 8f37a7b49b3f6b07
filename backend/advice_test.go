package backend

import (
	"testing"
	"time"
)

func TestAdviseBackoff(t *testing.T) {
	free := AdviseBackoff(0)
	if free.InitialBackoff != 5*time.Millisecond || free.MaxBackoff != 100*time.Millisecond || free.JitterFactor != 0.2 {
		t.Fatalf("free lock: %+v", free)
	}
	busy := AdviseBackoff(3)
	if busy.InitialBackoff != 20*time.Millisecond || busy.InitialBackoff <= free.InitialBackoff || busy.JitterFactor <= free.JitterFactor {
		t.Fatalf("contended lock: %+v", busy)
	}
	huge := AdviseBackoff(1 << 30)
	if huge.InitialBackoff != 500*time.Millisecond || huge.MaxBackoff != 10*time.Second || huge.JitterFactor != 0.5 {
		t.Fatalf("caps: %+v", huge)
	}
	if neg := AdviseBackoff(-1); *neg != *free {
		t.Fatalf("negative contention: %+v", neg)
	}
}
