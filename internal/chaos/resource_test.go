package chaos

import (
	"errors"
	"strings"
	"testing"
)

// fakeTime is a clock a test moves by hand.
type fakeTime struct{ t int64 }

func (f *fakeTime) now() int64 { return f.t }

func newTestResource() (*Resource, *fakeTime) {
	ft := &fakeTime{}
	return NewResource(ft.now), ft
}

// kinds lists the violations' kinds, for messages and comparisons.
func kinds(vs []Violation) string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Kind)
	}
	return strings.Join(out, ",")
}

func mustWrite(t *testing.T, r *Resource, ft *fakeTime, at int64, l *Lease) {
	t.Helper()
	ft.t = at
	if err := r.Write(l); err != nil {
		t.Fatalf("write by %s (token %d) at %d: %v", l.ClientID, l.Token, at, err)
	}
}

func TestResourceAcceptsSoundLeases(t *testing.T) {
	r, ft := newTestResource()
	// c0 holds token 10 from 5 to its release at 50; c1, queued since 20,
	// is handed the lock then with token 11 (its lease counted from 20).
	a := r.Grant("L", "c0", 10, 0, 5, 95)
	mustWrite(t, r, ft, 10, a)
	mustWrite(t, r, ft, 40, a)
	r.End(a, 50)
	b := r.Grant("L", "c1", 11, 20, 55, 115)
	mustWrite(t, r, ft, 60, b)
	// Renewed at 100, acknowledged at 105: the lease runs to 100+95.
	if !r.Extend(b, 105, 195) {
		t.Fatal("a renewal acknowledged within the lease did not extend it")
	}
	mustWrite(t, r, ft, 150, b)
	// c1 stalls: its lease lapses at 195 and the store expires the grant
	// later; c2 takes the lock at 300.
	c := r.Grant("L", "c2", 12, 290, 300, 385)
	mustWrite(t, r, ft, 310, c)
	r.End(c, 320)
	// c2 asks again and the store answers with a grant of c2's own it
	// had not released (same token): the same grant, not a second holder.
	c2 := r.Grant("L", "c2", 12, 330, 335, 425)
	mustWrite(t, r, ft, 340, c2)
	r.End(c2, 350)
	// A grant made before another's but acknowledged after it (a slow
	// answer): its request was sent before the other's acknowledgement,
	// so its smaller token says nothing.
	d := r.Grant("M", "c0", 20, 0, 30, 95)
	r.End(d, 35)
	e := r.Grant("M", "c1", 21, 40, 45, 135)
	late := r.Grant("M", "c2", 19, 1, 200, 96) // lease already over at its ack
	_ = late
	mustWrite(t, r, ft, 400, r.Grant("N", "c3", 1, 390, 395, 480))
	r.End(e, 50)

	ft.t = 1000
	if vs := r.Check(); len(vs) != 0 {
		t.Fatalf("violations for sound leases: %v", vs)
	}
	writes, over, stale, grants := r.Counts()
	if writes != 7 || over != 0 || stale != 0 || grants != 8 {
		t.Fatalf("counts: writes %d, lease over %d, stale %d, grants %d", writes, over, stale, grants)
	}
}

func TestResourceLocalLease(t *testing.T) {
	r, ft := newTestResource()
	l := r.Grant("L", "c0", 1, 0, 10, 95)
	ft.t = 95
	if err := r.Write(l); !errors.Is(err, ErrLeaseOver) {
		t.Fatalf("a write at the deadline: %v", err)
	}
	// A renewal acknowledged after the deadline does not revive it.
	if r.Extend(l, 96, 180) {
		t.Fatal("a late renewal extended a lapsed lease")
	}
	ft.t = 100
	if err := r.Write(l); !errors.Is(err, ErrLeaseOver) {
		t.Fatalf("a write after a late renewal: %v", err)
	}
	// Released: no writes after the release call, even within the deadline.
	m := r.Grant("M", "c0", 2, 100, 110, 195)
	r.End(m, 120)
	ft.t = 130
	if err := r.Write(m); !errors.Is(err, ErrLeaseOver) {
		t.Fatalf("a write after the release: %v", err)
	}
	// A grant acknowledged after its deadline gives no lease at all.
	n := r.Grant("N", "c0", 3, 0, 200, 95)
	ft.t = 200
	if err := r.Write(n); !errors.Is(err, ErrLeaseOver) {
		t.Fatalf("a write under a lease that never ran: %v", err)
	}
	if vs := r.Check(); len(vs) != 0 {
		t.Fatalf("violations: %v", vs)
	}
	if _, over, _, _ := r.Counts(); over != 4 {
		t.Fatalf("%d writes refused for an ended lease, want 4", over)
	}
}

func TestResourceFlagsViolations(t *testing.T) {
	tests := []struct {
		name string
		run  func(r *Resource, ft *fakeTime)
		want string // the kinds, in order
	}{
		{"two holders at once", func(r *Resource, ft *fakeTime) {
			a := r.Grant("L", "c0", 1, 0, 5, 95)
			b := r.Grant("L", "c1", 2, 10, 20, 105)
			r.End(a, 50)
			r.End(b, 60)
		}, "lease-overlap"},
		{"a lease that outlived the store's: the next holder came early", func(r *Resource, ft *fakeTime) {
			a := r.Grant("L", "c0", 1, 0, 5, 95)
			_ = a // c0 relied on it to 95, but c1 got the lock at 60
			b := r.Grant("L", "c1", 2, 50, 60, 145)
			r.End(b, 100)
		}, "lease-overlap"},
		{"the token did not grow", func(r *Resource, ft *fakeTime) {
			a := r.Grant("L", "c0", 5, 0, 5, 95)
			r.End(a, 10)
			b := r.Grant("L", "c1", 4, 20, 25, 115)
			r.End(b, 30)
		}, "token-order,superseded-lease"},
		{"the same token twice", func(r *Resource, ft *fakeTime) {
			a := r.Grant("L", "c0", 5, 0, 5, 95)
			r.End(a, 10)
			b := r.Grant("L", "c1", 5, 20, 25, 115)
			r.End(b, 30)
		}, "token-reuse,token-order"},
		{"a write with a stale token", func(r *Resource, ft *fakeTime) {
			a := r.Grant("L", "c0", 5, 0, 5, 95)
			ft.t = 10
			_ = r.Write(a)
			r.End(a, 20)
			// c1's grant was made before c0's (smaller token, requested
			// before c0's acknowledgement), yet c1 relies on it after
			// c0's: the leases do not overlap, but the store cannot
			// have held token 4 after it granted token 5.
			b := r.Grant("L", "c1", 4, 1, 30, 96)
			ft.t = 40
			if err := r.Write(b); !errors.Is(err, ErrStaleToken) {
				panic(err)
			}
		}, "stale-write,superseded-lease"},
		{"a superseded grant relied on, without a write", func(r *Resource, ft *fakeTime) {
			a := r.Grant("L", "c0", 5, 0, 5, 95)
			r.End(a, 20)
			r.Grant("L", "c1", 4, 1, 30, 96)
		}, "superseded-lease"},
		{"only the first few of many", func(r *Resource, ft *fakeTime) {
			for i := range 30 {
				r.Grant("L", "c0", int64(100-i), int64(10*i), int64(10*i+1), int64(10*i+2))
			}
		}, strings.Repeat("token-order,", maxPerKind+1) + strings.Repeat("superseded-lease,", maxPerKind) + "superseded-lease"},
		{"locks are separate", func(r *Resource, ft *fakeTime) {
			a := r.Grant("L", "c0", 5, 0, 5, 95)
			b := r.Grant("M", "c1", 1, 10, 20, 105)
			c := r.Grant("M", "c2", 2, 10, 30, 105)
			r.End(a, 50)
			r.End(b, 50)
			r.End(c, 60)
		}, "lease-overlap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ft := newTestResource()
			tt.run(r, ft)
			ft.t = 10_000
			vs := r.Check()
			if got := kinds(vs); got != tt.want {
				t.Fatalf("violations %q, want %q: %v", got, tt.want, vs)
			}
			for _, v := range vs {
				if v.LockID == "" || v.Detail == "" {
					t.Fatalf("violation without its lock or detail: %+v", v)
				}
			}
		})
	}
}
