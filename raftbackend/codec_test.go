package raftbackend

import (
	"encoding/json"
	"reflect"
	"testing"
)

func sampleEntry() entry {
	return entry{now: 1_700_000_000_123_456_789, cmds: []command{
		{kind: cmdAcquire, wait: true, priority: -3, ttl: 30e9, timeout: 5e9,
			lockID: "jobs/nightly", clientID: "client-1", requestID: "req-1",
			md: map[string]string{"b": "2", "a": "1"}},
		{kind: cmdRelease, lockID: "jobs/nightly", clientID: "client-1", version: 42, requestID: "req-2"},
		{kind: cmdRenew, lockID: "x", clientID: "c", version: 7, ttl: 1},
		{kind: cmdEnqueue, lockID: "x", clientID: "d", ttl: 2, timeout: 3, priority: 9},
		{kind: cmdCancelWait, lockID: "x", clientID: "d"},
		{kind: cmdExpire, lockID: "x", version: 7},
		{kind: cmdWaitTimeout, lockID: "x", clientID: "d"},
		{kind: cmdLeaderChange, node: "n1", addr: "127.0.0.1:1"},
		{kind: cmdSetMember, node: "n2", addr: "127.0.0.1:2"},
		{kind: cmdRemoveMember, node: "n2"},
		{kind: cmdLeaderChange, node: "n3", addr: "127.0.0.1:3", limits: limits{maxLocks: 1000, maxWaiters: 10}},
		{kind: cmdForceRelease, lockID: "x", version: 7, requestID: "force-1"},
	}}
}

func TestEntryRoundTrip(t *testing.T) {
	e := sampleEntry()
	got, err := decodeEntry(encodeEntry(nil, &e))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("round trip changed the entry:\n got %+v\nwant %+v", got, e)
	}
}

func TestEntryEncodingIsCompact(t *testing.T) {
	e := entry{now: 1_700_000_000_000_000_000, cmds: []command{{kind: cmdAcquire, ttl: 30e9,
		lockID: "lock-0000000001", clientID: "client-00000000000000000001", requestID: "req-000000000000000000001"}}}
	// 16 + 26 + 25 bytes of IDs; the rest is framing, time and TTL.
	if n := len(encodeEntry(nil, &e)); n > 90 {
		t.Fatalf("an Acquire entry takes %d bytes, want at most 90", n)
	}
}

func TestDecodeRejectsCorruptEntries(t *testing.T) {
	good := sampleEntry()
	data := encodeEntry(nil, &good)
	for cut := 0; cut < len(data); cut++ {
		if _, err := decodeEntry(data[:cut]); err == nil {
			t.Fatalf("a prefix of %d bytes decoded", cut)
		}
	}
	for _, bad := range [][]byte{
		nil,
		{2},                                   // unknown format
		{1, 0, 1, 0},                          // kind 0
		{1, 0, 1, 99, 0},                      // unknown kind
		{1, 0, 1, 1, 0xff, 1},                 // mask with unknown bits
		{1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},  // huge count
		append(encodeEntry(nil, &entry{}), 0), // trailing byte
		{1, 0, 1, 8, 0x80, 0x40},              // mask with a bit after the last field
		{1, 0, 1, 8, 0x80, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // limit over MaxInt64
	} {
		if _, err := decodeEntry(bad); err == nil {
			t.Fatalf("%x decoded", bad)
		}
	}
}

func BenchmarkEncodeEntry(b *testing.B) {
	e := sampleEntry()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = encodeEntry(buf[:0], &e)
	}
}

func BenchmarkDecodeEntry(b *testing.B) {
	e := sampleEntry()
	data := encodeEntry(nil, &e)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeEntry(data); err != nil {
			b.Fatal(err)
		}
	}
}

// jsonCommand mirrors command with exported fields, to measure what JSON
// would cost on the same entry (the codec's reason to exist).
type jsonCommand struct {
	Kind      cmdKind           `json:"k"`
	Wait      bool              `json:"w,omitempty"`
	Priority  int32             `json:"p,omitempty"`
	Version   int64             `json:"v,omitempty"`
	TTL       int64             `json:"t,omitempty"`
	Timeout   int64             `json:"o,omitempty"`
	LockID    string            `json:"l,omitempty"`
	ClientID  string            `json:"c,omitempty"`
	RequestID string            `json:"r,omitempty"`
	Node      string            `json:"n,omitempty"`
	Addr      string            `json:"a,omitempty"`
	Metadata  map[string]string `json:"m,omitempty"`
}

type jsonEntry struct {
	Now  int64         `json:"now"`
	Cmds []jsonCommand `json:"cmds"`
}

func toJSONEntry(e entry) jsonEntry {
	j := jsonEntry{Now: e.now}
	for _, c := range e.cmds {
		j.Cmds = append(j.Cmds, jsonCommand{c.kind, c.wait, c.priority, c.version, c.ttl, c.timeout,
			c.lockID, c.clientID, c.requestID, c.node, c.addr, c.md})
	}
	return j
}

// BenchmarkCodecVsJSON encodes and decodes the same entry both ways and
// reports the encoded size.
func BenchmarkCodecVsJSON(b *testing.B) {
	e := sampleEntry()
	b.Run("binary", func(b *testing.B) {
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			buf = encodeEntry(buf[:0], &e)
			if _, err := decodeEntry(buf); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(buf)), "bytes/entry")
	})
	b.Run("json", func(b *testing.B) {
		j := toJSONEntry(e)
		var data []byte
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if data, err = json.Marshal(&j); err != nil {
				b.Fatal(err)
			}
			var back jsonEntry
			if err := json.Unmarshal(data, &back); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(data)), "bytes/entry")
	})
}
