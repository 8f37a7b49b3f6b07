package memory_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/memory"
)

// Many clients on few locks, on the system clock, some giving up while they
// wait: no two ever hold one lock at once, versions only grow, and nothing
// is left behind.
func TestConcurrentClients(t *testing.T) {
	s := memory.NewStore()
	defer s.Close()
	const clients, locks, rounds = 8, 3, 150
	var (
		inUse   [locks]atomic.Int32
		mu      sync.Mutex
		lastVer [locks]int64
		grants  atomic.Int64
		wg      sync.WaitGroup
	)
	for c := range clients {
		d := s.NewDriver()
		defer d.Close()
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 1))
			client := "client-" + strconv.Itoa(c)
			for range rounds {
				k := rng.IntN(locks)
				id := "lock-" + strconv.Itoa(k)
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.IntN(2000))*time.Microsecond)
				res, err := d.Acquire(ctx, &backend.AcquireRequest{
					LockID: id, ClientID: client, TTL: time.Minute, Wait: true, Priority: int32(rng.IntN(3)),
				})
				cancel()
				if err != nil {
					if code := backend.CodeOf(err); code != backend.CodeTimeout && code != backend.CodeCanceled {
						t.Errorf("%s: Acquire(%s): %v", client, id, err)
						return
					}
					continue
				}
				grants.Add(1)
				if !inUse[k].CompareAndSwap(0, 1) {
					t.Errorf("%s: granted %s while another client holds it", client, id)
					return
				}
				mu.Lock()
				if res.Lock.Version <= lastVer[k] {
					t.Errorf("%s: version %d of %s after %d", client, res.Lock.Version, id, lastVer[k])
				}
				lastVer[k] = res.Lock.Version
				mu.Unlock()
				time.Sleep(time.Duration(rng.IntN(50)) * time.Microsecond)
				inUse[k].Store(0)
				if _, err := d.Release(context.Background(), &backend.ReleaseRequest{LockID: id, ClientID: client, Version: res.Lock.Version}); err != nil {
					t.Errorf("%s: Release(%s): %v", client, id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	d := s.NewDriver()
	defer d.Close()
	st, err := d.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Locks != 0 || st.Waiters != 0 {
		t.Fatalf("after every client released or gave up: %+v", st)
	}
	if grants.Load() == 0 {
		t.Fatal("no grants at all")
	}
	t.Logf("%d grants of %d attempts", grants.Load(), clients*rounds)
}
