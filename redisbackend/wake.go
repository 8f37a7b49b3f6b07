package redisbackend

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// wakeups delivers the driver's pub/sub messages to the calls blocked in
// it. Each driver has a channel of its own, named in its queue entries:
// the script that grants a waiter the lock (or CancelWait that removes it)
// publishes "lockID\x00clientID" there, so only the driver that waits for
// that grant hears of it, and within the driver only the calls waiting for
// that lock ID and client ID wake.
//
// The subscription is made the first time a call waits, and confirmed
// before that call first runs its script, so no message for it can be
// published before the driver listens. Pub/sub delivers at most once: a
// message lost to a reconnection only delays a waiter until its next
// timer (it re-checks when the holder's lease could end, and at every
// heartbeat), and after a reconnection every waiter re-checks at once.
type wakeups struct {
	client  redis.UniversalClient
	channel string
	logger  *slog.Logger

	mu      sync.Mutex
	ps      *redis.PubSub
	closed  bool
	reader  chan struct{} // closed when the reading goroutine ends
	waiters map[waitKey]map[chan struct{}]struct{}
}

type waitKey struct{ lockID, clientID string }

func newWakeups(client redis.UniversalClient, channel string, logger *slog.Logger) *wakeups {
	return &wakeups{client: client, channel: channel, logger: logger, waiters: map[waitKey]map[chan struct{}]struct{}{}}
}

// subscribe makes sure the driver listens on its channel.
func (wk *wakeups) subscribe(ctx context.Context) error {
	wk.mu.Lock()
	defer wk.mu.Unlock()
	if wk.ps != nil {
		return nil
	}
	if wk.closed {
		return errClosed("")
	}
	ps := wk.client.Subscribe(ctx, wk.channel)
	for {
		msg, err := ps.Receive(ctx)
		if err != nil {
			_ = ps.Close()
			return err
		}
		if _, ok := msg.(*redis.Subscription); ok {
			break
		}
	}
	wk.ps = ps
	wk.reader = make(chan struct{})
	go wk.read(ps.ChannelWithSubscriptions(), wk.reader)
	return nil
}

// read dispatches messages until the PubSub closes.
func (wk *wakeups) read(ch <-chan any, done chan struct{}) {
	defer close(done)
	for m := range ch {
		switch m := m.(type) {
		case *redis.Message:
			lockID, clientID, ok := strings.Cut(m.Payload, "\x00")
			if ok {
				wk.notify(waitKey{lockID, clientID})
			}
		case *redis.Subscription:
			// Resubscribed after a reconnection: messages may have been
			// lost meanwhile, so every waiter checks again.
			wk.logger.Debug("redisbackend: wake-up channel resubscribed", "channel", wk.channel)
			wk.notifyAll()
		}
	}
}

// add registers a blocked call; it must call remove when it stops waiting.
func (wk *wakeups) add(k waitKey) chan struct{} {
	c := make(chan struct{}, 1)
	wk.mu.Lock()
	set := wk.waiters[k]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		wk.waiters[k] = set
	}
	set[c] = struct{}{}
	wk.mu.Unlock()
	return c
}

func (wk *wakeups) remove(k waitKey, c chan struct{}) {
	wk.mu.Lock()
	if set := wk.waiters[k]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(wk.waiters, k)
		}
	}
	wk.mu.Unlock()
}

func (wk *wakeups) notify(k waitKey) {
	wk.mu.Lock()
	for c := range wk.waiters[k] {
		poke(c)
	}
	wk.mu.Unlock()
}

func (wk *wakeups) notifyAll() {
	wk.mu.Lock()
	for _, set := range wk.waiters {
		for c := range set {
			poke(c)
		}
	}
	wk.mu.Unlock()
}

// poke wakes a waiter without blocking; one pending wake-up is enough.
func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// close ends the subscription and waits for the reading goroutine.
func (wk *wakeups) close() error {
	wk.mu.Lock()
	wk.closed = true
	ps, reader := wk.ps, wk.reader
	wk.mu.Unlock()
	if ps == nil {
		return nil
	}
	err := ps.Close()
	<-reader
	if err != nil {
		return fmt.Errorf("closing the wake-up subscription: %w", err)
	}
	return nil
}
