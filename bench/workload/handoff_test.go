package workload

import (
	"testing"
	"time"
)

func TestOrder(t *testing.T) {
	t0 := time.Now()
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name                 string
		grants               []grant
		handoffs, outOfOrder int
	}{
		{"fifo", []grant{{client: 0, asked: at(0)}, {client: 1, asked: at(1)}, {client: 2, asked: at(2)}, {client: 0, asked: at(300)}}, 3, 0},
		{"asked within the slack", []grant{{client: 1, asked: at(50)}, {client: 0, asked: at(0)}}, 1, 0},
		{"releaser takes it again", []grant{{client: 0, asked: at(0)}, {client: 0, asked: at(200)}, {client: 1, asked: at(10)}}, 1, 1},
		{"jumped by two", []grant{{client: 2, asked: at(500)}, {client: 3, asked: at(400)}, {client: 1, asked: at(0)}}, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, o := order(tt.grants)
			if h != tt.handoffs || o != tt.outOfOrder {
				t.Errorf("order = %d hand-offs, %d out of order; want %d, %d", h, o, tt.handoffs, tt.outOfOrder)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median of 3 = %v, want 2", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median of 4 = %v, want 2.5", m)
	}
}
