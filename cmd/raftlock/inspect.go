package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/raftlock/raftlock"
	"github.com/raftlock/raftlock/backend"
)

// The commands that look at a store without changing it.

var infoCmd = &clientCommand{
	name:     "info",
	summary:  "describe one lock: holder, version, expiry, waiters",
	synopsis: "[flags] LOCK",
	about: `Describes one lock: who holds it, at which version (its fencing token),
when the store granted it and when it expires by the store's clock, its
metadata and its wait queue. A lock nobody holds or waits for does not
exist: info then fails with the not-found status.`,
	nargs:  [2]int{1, 1},
	output: true,
	setup: func(fs *flag.FlagSet) action {
		return func(ctx context.Context, inv *invocation) error {
			lockID := inv.args[0]
			ctx, c, cancel, err := inv.connect(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			info, err := c.GetLockInfo(ctx, &raftlock.GetLockInfoRequest{LockID: lockID, IncludeWaiters: true})
			if err != nil {
				return err
			}
			if inv.json {
				return writeJSON(inv.stdout, lockView(info))
			}
			return printInfo(inv, info)
		}
	},
}

func printInfo(inv *invocation, info *backend.LockInfo) error {
	holder, version := "-", "-"
	if info.Held {
		holder, version = info.Owner, strconv.FormatInt(info.Version, 10)
	}
	err := fields(inv.stdout,
		"lock", info.LockID,
		"holder", holder,
		"version", version,
		"acquired", showTime(info.AcquiredAt),
		"expires", showTime(info.ExpiresAt),
		"metadata", showMetadata(info.Metadata),
		"waiters", strconv.Itoa(info.WaiterCount),
	)
	if err != nil || len(info.Waiters) == 0 {
		return err
	}
	fmt.Fprintln(inv.stdout)
	t := newTable(inv.stdout, "POSITION", "CLIENT", "PRIORITY", "ENQUEUED", "GIVES UP")
	for _, w := range info.Waiters {
		t.row(strconv.Itoa(w.Position), w.ClientID, strconv.Itoa(int(w.Priority)), showTime(w.EnqueuedAt), showTime(w.TimeoutAt))
	}
	return t.flush()
}

// listPageSize is the page size list asks for: the most a store serves,
// so that listing everything takes few round trips.
const listPageSize = backend.MaxPageSize

var listCmd = &clientCommand{
	name:     "list",
	summary:  "list locks, as a table or JSON",
	synopsis: "[flags]",
	about: `Lists the locks of the store, ordered by lock ID, as an aligned table or,
with --json, as a JSON array of the objects info --json prints (without
their waiters). It reads every page the store returns, up to --limit locks.`,
	nargs:  [2]int{0, 0},
	output: true,
	setup: func(fs *flag.FlagSet) action {
		var (
			held   bool
			owner  string
			prefix string
			limit  int
		)
		fs.BoolVar(&held, "held", false, "only locks held now (not those only waited on)")
		fs.StringVar(&owner, "owner", "", "only locks held by this client `ID`")
		fs.StringVar(&prefix, "prefix", "", "only lock IDs that start with this `string`")
		fs.IntVar(&limit, "limit", 0, "list at most `n` locks (default all)")
		return func(ctx context.Context, inv *invocation) error {
			if limit < 0 {
				return usagef("--limit must not be negative")
			}
			ctx, c, cancel, err := inv.connect(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			f := raftlock.LockFilter{Owner: owner, OnlyHeld: held}
			locks, err := listLocks(ctx, c, f, prefix, limit)
			if err != nil {
				return err
			}
			if inv.json {
				views := make([]lockJSON, 0, len(locks))
				for i := range locks {
					views = append(views, lockView(&locks[i]))
				}
				return writeJSON(inv.stdout, views)
			}
			t := newTable(inv.stdout, "LOCK", "OWNER", "VERSION", "EXPIRES", "WAITERS")
			for _, l := range locks {
				version := "-"
				if l.Held {
					version = strconv.FormatInt(l.Version, 10)
				}
				t.row(l.LockID, orDash(l.Owner), version, showTime(l.ExpiresAt), strconv.Itoa(l.WaiterCount))
			}
			return t.flush()
		}
	},
}

// listLocks follows the store's pages until it has every lock that matches
// f and starts with prefix, or limit of them (limit 0: all). The prefix is
// checked here: a store's patterns cannot say "everything below jobs/",
// since their * stops at a slash.
func listLocks(ctx context.Context, c *raftlock.Client, f raftlock.LockFilter, prefix string, limit int) ([]backend.LockInfo, error) {
	var out []backend.LockInfo
	seen := make(map[string]bool) // cursors already followed
	req := &raftlock.GetLocksRequest{Filter: f, Limit: listPageSize}
	if limit > 0 && prefix == "" {
		req.Limit = min(limit, listPageSize)
	}
	for {
		page, err := c.GetLocks(ctx, req)
		if err != nil {
			return nil, err
		}
		for _, l := range page.Locks {
			if strings.HasPrefix(l.LockID, prefix) {
				out = append(out, l)
				if limit > 0 && len(out) == limit {
					return out, nil
				}
			}
		}
		if page.NextCursor == "" || len(page.Locks) == 0 {
			return out, nil
		}
		if seen[page.NextCursor] {
			// A store that hands out the same cursor twice would keep
			// this loop going forever.
			return nil, backend.Errorf(backend.CodeInternal, "the store returned the list cursor %q twice", page.NextCursor)
		}
		seen[page.NextCursor] = true
		req.Cursor = page.NextCursor
	}
}

var statusCmd = &clientCommand{
	name:     "status",
	summary:  "describe the store and, for a cluster, its members",
	synopsis: "[flags]",
	about: `Describes the store as the node that answers sees it: its role, the leader,
the Raft term and indexes, how many locks are held and waited for, the
store's own details and, for a replicated store, its peers.`,
	nargs:  [2]int{0, 0},
	output: true,
	setup: func(fs *flag.FlagSet) action {
		return func(ctx context.Context, inv *invocation) error {
			ctx, c, cancel, err := inv.connect(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			st, err := c.GetStatus(ctx)
			if err != nil {
				return err
			}
			if inv.json {
				return writeJSON(inv.stdout, statusView(st))
			}
			return printStatus(inv, st)
		}
	},
}

// statusJSON is the JSON of status.
type statusJSON struct {
	Store        string            `json:"store"`
	NodeID       string            `json:"node_id"`
	Role         string            `json:"role"`
	Leader       string            `json:"leader"`
	Term         uint64            `json:"term"`
	CommitIndex  uint64            `json:"commit_index"`
	AppliedIndex uint64            `json:"applied_index"`
	Locks        int               `json:"locks"`
	HeldLocks    int               `json:"held_locks"`
	Waiters      int               `json:"waiters"`
	Details      map[string]string `json:"details"`
	Peers        []peerJSON        `json:"peers"`
}

type peerJSON struct {
	ID            string `json:"id"`
	Address       string `json:"address"`
	Voter         bool   `json:"voter"`
	MatchIndex    uint64 `json:"match_index"`
	LastContactMS int64  `json:"last_contact_ms"` // 0 when unknown
}

func statusView(st *backend.Status) statusJSON {
	v := statusJSON{
		Store: st.Store, NodeID: st.NodeID, Role: st.Role, Leader: st.Leader,
		Term: st.Term, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
		Locks: st.Locks, HeldLocks: st.HeldLocks, Waiters: st.Waiters,
		Details: map[string]string{}, Peers: []peerJSON{},
	}
	maps.Copy(v.Details, st.Details)
	for _, p := range st.Peers {
		v.Peers = append(v.Peers, peerJSON{
			ID: p.ID, Address: p.Address, Voter: p.Voter, MatchIndex: p.MatchIndex,
			LastContactMS: p.LastContact.Milliseconds(),
		})
	}
	return v
}

func printStatus(inv *invocation, st *backend.Status) error {
	kv := []string{
		"store", st.Store,
		"node", orDash(st.NodeID),
		"role", orDash(st.Role),
		"leader", orDash(st.Leader),
		"term", strconv.FormatUint(st.Term, 10),
		"commit index", strconv.FormatUint(st.CommitIndex, 10),
		"applied index", strconv.FormatUint(st.AppliedIndex, 10),
		"locks", strconv.Itoa(st.Locks),
		"held", strconv.Itoa(st.HeldLocks),
		"waiters", strconv.Itoa(st.Waiters),
	}
	for _, k := range slices.Sorted(maps.Keys(st.Details)) {
		kv = append(kv, k, st.Details[k])
	}
	if err := fields(inv.stdout, kv...); err != nil || len(st.Peers) == 0 {
		return err
	}
	fmt.Fprintln(inv.stdout)
	t := newTable(inv.stdout, "PEER", "ADDRESS", "VOTER", "MATCH INDEX", "LAST CONTACT")
	for _, p := range st.Peers {
		contact := "-"
		if p.LastContact > 0 {
			contact = p.LastContact.String()
		}
		t.row(p.ID, p.Address, yesNo(p.Voter), strconv.FormatUint(p.MatchIndex, 10), contact)
	}
	return t.flush()
}

var healthCmd = &clientCommand{
	name:     "health",
	summary:  "report whether the store serves requests",
	synopsis: "[flags]",
	about: `Reports whether the store serves requests: "serving", or "not serving"
and the store's reason, in which case health exits with the unavailable
status. Fit for a readiness probe.`,
	nargs:  [2]int{0, 0},
	output: true,
	setup: func(fs *flag.FlagSet) action {
		return func(ctx context.Context, inv *invocation) error {
			ctx, c, cancel, err := inv.connect(ctx)
			if err != nil {
				return err
			}
			defer cancel()
			h, err := c.Health(ctx)
			if err != nil {
				return err
			}
			if inv.json {
				err = writeJSON(inv.stdout, struct {
					Serving bool   `json:"serving"`
					Message string `json:"message"`
				}{h.Serving, h.Message})
			} else {
				state := "serving"
				if !h.Serving {
					state = "not serving"
				}
				if h.Message != "" {
					state += ": " + h.Message
				}
				_, err = fmt.Fprintln(inv.stdout, oneLine(state))
			}
			if err == nil && !h.Serving {
				return failf(backend.Errorf(backend.CodeUnavailable, "%s", h.Message), "the store is not serving")
			}
			return err
		}
	},
}
