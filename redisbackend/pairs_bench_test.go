package redisbackend

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/redis/go-redis/v9"
)

// BenchmarkPair measures the hot path: an Acquire of a free lock and its
// Release, through the driver, one after the other. Besides the time per
// pair it reports the server's own cost per pair (from INFO
// commandstats), which is what the scripts' lean paths are about.
func BenchmarkPair(b *testing.B) {
	d := openDriver(b, uniquePrefix("pair"), Options{})
	raw := rawClient(b)
	ctx := context.Background()
	pair := func() {
		r, err := d.Acquire(ctx, &backend.AcquireRequest{LockID: "k", ClientID: "c", TTL: 10 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.Release(ctx, &backend.ReleaseRequest{LockID: "k", ClientID: "c", Version: r.Lock.Version}); err != nil {
			b.Fatal(err)
		}
	}
	pair() // loads the scripts
	before := serverUsec(b, raw)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		pair()
	}
	b.StopTimer()
	b.ReportMetric((serverUsec(b, raw)-before)/float64(b.N), "server-µs/pair")
}

// serverUsec is the total time Redis spent in EVAL, EVALSHA and SET.
func serverUsec(tb testing.TB, raw *redis.Client) float64 {
	info, err := raw.Info(context.Background(), "commandstats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	return commandUsec(info)
}

func commandUsec(info string) float64 {
	var total float64
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (name != "cmdstat_evalsha" && name != "cmdstat_eval" && name != "cmdstat_set") {
			continue
		}
		for _, f := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(f, "usec="); ok {
				n, _ := strconv.ParseFloat(v, 64)
				total += n
			}
		}
	}
	return total
}

// BenchmarkPairReference is the floor BenchmarkPair is compared with: what
// the simplest Redis locks do, SET NX PX and a compare-and-delete script.
func BenchmarkPairReference(b *testing.B) {
	raw := rawClient(b)
	ctx := context.Background()
	del := redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)
	key := uniquePrefix("ref") + ":k"
	pair := func() {
		ok, err := raw.SetNX(ctx, key, "token", 10*time.Second).Result()
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
		if err := del.Run(ctx, raw, []string{key}, "token").Err(); err != nil {
			b.Fatal(err)
		}
	}
	pair()
	before := serverUsec(b, raw)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		pair()
	}
	b.StopTimer()
	b.ReportMetric((serverUsec(b, raw)-before)/float64(b.N), "server-µs/pair")
}

// TestLockKeyArgs checks that the hot path's keys are lockKeys.
func TestLockKeyArgs(t *testing.T) {
	ks := keyspace{prefix: "p"}
	for _, id := range []string{"k", "a}b%c", "ünï{code}"} {
		args := ks.appendLockKeyArgs([]any{"x"}, id)
		want := ks.lockKeys(id)
		if len(args) != 1+len(want) {
			t.Fatalf("%q: %d args, want %d", id, len(args), 1+len(want))
		}
		for i, k := range want {
			if got := *args[1+i].(*string); got != k {
				t.Errorf("%q: key %d is %q, want %q", id, i, got, k)
			}
		}
	}
}
