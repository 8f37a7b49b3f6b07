package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/raftlock/raftlock/backend"
)

// The JSON the client commands print. Field names are part of the
// command's interface: scripts read them, so they never change, and every
// field is always present (null or empty when it does not apply), so that
// a missing key never has to be told from a free lock. Times are the
// store's, in UTC, RFC 3339: for display, never to compare with the local
// clock.

// lockJSON is one lock: info and list.
type lockJSON struct {
	LockID      string            `json:"lock_id"`
	Held        bool              `json:"held"`
	Owner       string            `json:"owner"`   // "" when free
	Version     int64             `json:"version"` // the fencing token; 0 when free
	AcquiredAt  *time.Time        `json:"acquired_at"`
	ExpiresAt   *time.Time        `json:"expires_at"`
	Metadata    map[string]string `json:"metadata"`
	WaiterCount int               `json:"waiter_count"`
	Waiters     []waiterJSON      `json:"waiters"` // info only; [] for list
}

// waiterJSON is one entry of a lock's wait queue.
type waiterJSON struct {
	Position   int        `json:"position"`
	ClientID   string     `json:"client_id"`
	Priority   int32      `json:"priority"`
	EnqueuedAt *time.Time `json:"enqueued_at"`
	TimeoutAt  *time.Time `json:"timeout_at"` // null: waits as long as its client does
}

// grantJSON is a grant just made or renewed: lock acquire and lock renew.
// client_id and version are what lock release and lock renew take.
type grantJSON struct {
	LockID     string     `json:"lock_id"`
	ClientID   string     `json:"client_id"`
	Version    int64      `json:"version"`
	AcquiredAt *time.Time `json:"acquired_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
}

// storeTime is t in UTC, or nil for the zero time.
func storeTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func lockView(info *backend.LockInfo) lockJSON {
	v := lockJSON{
		LockID:      info.LockID,
		Held:        info.Held,
		WaiterCount: info.WaiterCount,
		Metadata:    map[string]string{},
		Waiters:     []waiterJSON{},
	}
	if info.Held {
		v.Owner, v.Version = info.Owner, info.Version
		v.AcquiredAt, v.ExpiresAt = storeTime(info.AcquiredAt), storeTime(info.ExpiresAt)
		maps.Copy(v.Metadata, info.Metadata)
	}
	for _, w := range info.Waiters {
		v.Waiters = append(v.Waiters, waiterJSON{
			Position: w.Position, ClientID: w.ClientID, Priority: w.Priority,
			EnqueuedAt: storeTime(w.EnqueuedAt), TimeoutAt: storeTime(w.TimeoutAt),
		})
	}
	return v
}

func grantView(l *backend.Lock) grantJSON {
	return grantJSON{
		LockID: l.LockID, ClientID: l.Owner, Version: l.Version,
		AcquiredAt: storeTime(l.AcquiredAt), ExpiresAt: storeTime(l.ExpiresAt),
	}
}

// writeJSON prints v, indented, with a final newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// showTime formats a store time for text output; "-" for none.
func showTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// showMetadata formats metadata as sorted key=value pairs; "-" for none.
func showMetadata(md map[string]string) string {
	if len(md) == 0 {
		return "-"
	}
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(md)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", k, md[k])
	}
	return b.String()
}

// orDash is s, or "-" when s is empty, so that a table's columns stay put.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// yesNo spells a boolean column.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// table writes aligned columns: a header row, then one row per call to
// row. Cells must not hold tabs or newlines; they are replaced by spaces.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// fields writes "name  value" lines, aligned: the text form of one object.
func fields(w io.Writer, kv ...string) error {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	for i := 0; i+1 < len(kv); i += 2 {
		t.row(kv[i], kv[i+1])
	}
	return t.flush()
}
