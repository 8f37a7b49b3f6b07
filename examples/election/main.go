// Command election runs three candidates for one service in one process
// and prints what happens as a timeline: one is elected, the leader's
// process dies without resigning (its keep-alive stops and it never gives
// the lock back), another takes over once the dead leader's lease has run
// out, and then resigns, handing over at once to the last one.
//
//	go run ./examples/election
//	go run ./examples/election -store 'raft+embed:///tmp/election-data'
//	go run ./examples/election -store redis://127.0.0.1:6379/0
//
// Each candidate has a client of its own, as it would in its own process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"time"

	"github.com/raftlock/raftlock"
	_ "github.com/raftlock/raftlock/etcdbackend"  // etcd://
	_ "github.com/raftlock/raftlock/memory"       // mem://
	_ "github.com/raftlock/raftlock/raftbackend"  // raft://, raft+embed://
	_ "github.com/raftlock/raftlock/redisbackend" // redis://
)

func main() {
	store := flag.String("store", "mem://election", "store URL")
	ttl := flag.Duration("ttl", 2*time.Second, "the leader's lease")
	flag.Parse()
	if err := run(context.Background(), *store, *ttl, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// timeline prints events with the time since the start.
type timeline struct {
	mu    sync.Mutex
	out   io.Writer
	start time.Time
}

func (t *timeline) say(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.out, "%+7.3fs  %s\n", time.Since(t.start).Seconds(), fmt.Sprintf(format, args...))
}

// candidate is one replica of the service.
type candidate struct {
	name     string
	client   *raftlock.Client
	election *raftlock.Election
}

func run(ctx context.Context, store string, ttl time.Duration, out io.Writer) error {
	tl := &timeline{out: out, start: time.Now()}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var cands []*candidate
	for _, name := range []string{"alpha", "beta", "gamma"} {
		client, err := raftlock.Open(ctx, store)
		if err != nil {
			return err
		}
		defer client.Close()
		e, err := raftlock.NewElection(client, "reports", "demo", ttl,
			raftlock.WithClientID(name),
			raftlock.WithCallbacks(raftlock.Callbacks{
				OnElected: func(token int64) { tl.say("%s elected (fencing token %d)", name, token) },
				OnLost: func(err error) {
					if err == nil {
						tl.say("%s resigned", name)
					} else {
						tl.say("%s lost the leadership: %v", name, err)
					}
				},
			}))
		if err != nil {
			return err
		}
		defer e.Close()
		cands = append(cands, &candidate{name: name, client: client, election: e})
	}

	// Every candidate campaigns; the winner keeps its lease alive. The
	// channel says who leads, in order.
	leaders := make(chan *candidate, len(cands))
	errc := make(chan error, len(cands))
	for _, c := range cands {
		go func() {
			if err := c.election.Campaign(ctx); err != nil {
				if ctx.Err() == nil {
					errc <- fmt.Errorf("%s: %w", c.name, err)
				}
				return
			}
			if err := c.election.StartKeepAlive(ctx); err != nil {
				errc <- fmt.Errorf("%s: %w", c.name, err)
				return
			}
			leaders <- c
		}()
	}
	next := func() (*candidate, error) {
		select {
		case c := <-leaders:
			return c, nil
		case err := <-errc:
			return nil, err
		case <-time.After(ttl + 10*time.Second):
			return nil, errors.New("no leader elected")
		}
	}

	first, err := next()
	if err != nil {
		return err
	}
	time.Sleep(ttl) // it leads for a while, renewing its lease
	tl.say("%s's process dies: no more renewals, no resignation", first.name)
	first.election.StopKeepAlive()
	_ = first.client.Close()

	second, err := next()
	if err != nil {
		return err
	}
	tl.say("%s took over; it still sees itself as leader: %v, lease left %v",
		second.name, second.election.IsLeader(), second.election.RemainingLease().Round(100*time.Millisecond))
	time.Sleep(ttl / 2)
	tl.say("%s resigns", second.name)
	if err := second.election.Resign(ctx); err != nil {
		return err
	}

	third, err := next()
	if err != nil {
		return err
	}
	tl.say("%s leads; %s and %s do not: %v %v", third.name, first.name, second.name,
		first.election.IsLeader(), second.election.IsLeader())
	return third.election.Resign(ctx)
}
