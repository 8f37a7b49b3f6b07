package raftbackend

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftlock/raftlock/backend"
)

// LocalStatus describes this node alone: its role, term, indexes, the
// lock table's size and hashicorp/raft's own figures in Details, with the
// limits in force (the leader's, on every node) as "max_locks" and
// "max_waiters", 0 for none, as the memory store reports them.
//
// Details also fingerprint the replicated state: "state_index" is the
// index of the last log entry the state machine applied (a command or a
// configuration change: hashicorp/raft passes it no other kind), and
// "state_digest" the hex of the first 16 bytes of the SHA-256 of the whole
// state as a snapshot encodes it, both read at one moment. The encoding is
// canonical (locks in ID order, the dedupe table in log order), so nodes
// that applied the same log up to the same index report the same digest:
// an operator who sees equal indexes with different digests has found
// replicas that disagree. Computing it encodes the whole state once per
// call, under the state machine's read lock, as a snapshot does: a few
// milliseconds for tens of thousands of locks, during which applying
// entries waits.
func (n *Node) LocalStatus(ctx context.Context) (*backend.Status, error) {
	if n.closed.Load() {
		return nil, closedNode("")
	}
	stats := n.raft.Stats()
	st := &backend.Status{
		Store:        "raft",
		NodeID:       n.cfg.NodeID,
		Role:         strings.ToLower(n.raft.State().String()),
		Term:         parseUint(stats["term"]),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.raft.AppliedIndex(),
		Details: map[string]string{
			"raft_address":   n.RaftAddress(),
			"api_address":    n.apiAddr,
			"last_log_index": stats["last_log_index"],
			"last_contact":   stats["last_contact"],
			"num_peers":      stats["num_peers"],
			"last_snapshot":  stats["last_snapshot_index"],
		},
	}
	_, leaderID := n.raft.LeaderWithID()
	n.fsm.mu.RLock()
	st.Leader = n.fsm.members[string(leaderID)]
	st.Locks = len(n.fsm.locks)
	st.HeldLocks = len(n.fsm.locks)
	st.Waiters = n.fsm.waiters
	st.Details["dedupe_entries"] = strconv.Itoa(n.fsm.dedupe.len())
	n.fsm.limitDetails(st.Details)
	st.Details["proposed_entries"] = strconv.FormatInt(n.batch.entries.Load(), 10)
	st.Details["proposed_commands"] = strconv.FormatInt(n.batch.commands.Load(), 10)
	st.Details["state_index"] = strconv.FormatUint(n.fsm.index, 10)
	st.Details["state_digest"] = stateDigest(n.fsm.encodeState(nil))
	n.fsm.mu.RUnlock()
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			st.Peers = append(st.Peers, backend.PeerStatus{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
		}
	}
	return st, nil
}

// Status is LocalStatus plus, on the leader, each peer's replication as the
// peer reports it through its client API (its last log index as
// MatchIndex, the time since it last heard from the leader as
// LastContact). A peer that does not answer within a second is listed
// with zeros.
func (n *Node) Status(ctx context.Context) (*backend.Status, error) {
	st, err := n.LocalStatus(ctx)
	if err != nil || n.raft.State() != raft.Leader {
		return st, err
	}
	n.fsm.mu.RLock()
	addrs := make([]string, len(st.Peers))
	for i, p := range st.Peers {
		addrs[i] = n.fsm.members[p.ID]
	}
	n.fsm.mu.RUnlock()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range st.Peers {
		p := &st.Peers[i]
		if p.ID == n.cfg.NodeID {
			p.MatchIndex = parseUint(st.Details["last_log_index"])
			continue
		}
		if addrs[i] == "" {
			continue
		}
		wg.Add(1)
		go func(addr string) {
			defer wg.Done()
			ps, err := fetchLocalStatus(ctx, addr, n.sec.dialOptions()...)
			if err != nil {
				return
			}
			p.MatchIndex = parseUint(ps.Details["last_log_index"])
			if d, err := time.ParseDuration(ps.Details["last_contact"]); err == nil {
				p.LastContact = d
			}
		}(addrs[i])
	}
	wg.Wait()
	return st, nil
}

// Health reports the node serving when its cluster has a leader.
func (n *Node) Health(ctx context.Context) (*backend.Health, error) {
	if n.closed.Load() {
		return nil, closedNode("")
	}
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return &backend.Health{Serving: false, Message: "no leader"}, nil
	}
	if string(id) == n.cfg.NodeID {
		return &backend.Health{Serving: true, Message: "leader"}, nil
	}
	return &backend.Health{Serving: true, Message: "follower of " + string(id)}, nil
}

// BackoffAdvice grows with the lock's holder and queue (see
// backend.AdviseBackoff): a client polling a contested lock should back off
// more the more clients wait before it.
func (n *Node) BackoffAdvice(ctx context.Context, lockID string) (*backend.BackoffAdvice, error) {
	if e := backend.ValidateID("lock ID", lockID); e != nil {
		return nil, e
	}
	if n.closed.Load() {
		return nil, closedNode(lockID)
	}
	n.fsm.mu.RLock()
	contention := 0
	if l := n.fsm.locks[lockID]; l != nil {
		contention = 1 + len(l.queue)
	}
	n.fsm.mu.RUnlock()
	return backend.AdviseBackoff(contention), nil
}

// Join adds a voter, on the leader, and records its client API address.
func (n *Node) Join(ctx context.Context, id, raftAddr, apiAddr string) error {
	if e := backend.ValidateID("node ID", id); e != nil {
		return e
	}
	if raftAddr == "" {
		return backend.Errorf(backend.CodeInvalidArgument, "join: raft address is required")
	}
	if _, err := n.gate(ctx, ""); err != nil {
		return err
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return n.applyError(err)
	}
	member := false
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == id && string(s.Address) == raftAddr {
			member = true
		}
	}
	if !member {
		timeout := 10 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl)
		}
		if err := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, timeout).Error(); err != nil {
			return n.applyError(err)
		}
		n.logger.Info("member joined", "id", id, "raft", raftAddr, "api", apiAddr)
	}
	_, err := n.batch.propose(ctx, command{kind: cmdSetMember, node: id, addr: apiAddr})
	return err
}

// Leave removes a server from the cluster, on the leader.
func (n *Node) Leave(ctx context.Context, id string) error {
	if e := backend.ValidateID("node ID", id); e != nil {
		return e
	}
	if _, err := n.gate(ctx, ""); err != nil {
		return err
	}
	if _, err := n.batch.propose(ctx, command{kind: cmdRemoveMember, node: id}); err != nil {
		return err
	}
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, 10*time.Second).Error(); err != nil {
		return n.applyError(err)
	}
	n.logger.Info("member left", "id", id)
	return nil
}

// Members lists the cluster's servers from the Raft configuration, with
// their client API addresses from the replicated member table.
func (n *Node) Members(ctx context.Context) ([]Member, error) {
	if n.closed.Load() {
		return nil, closedNode("")
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, n.applyError(err)
	}
	_, leader := n.raft.LeaderWithID()
	n.fsm.mu.RLock()
	defer n.fsm.mu.RUnlock()
	var out []Member
	for _, s := range f.Configuration().Servers {
		out = append(out, Member{
			ID: string(s.ID), RaftAddress: string(s.Address), APIAddress: n.fsm.members[string(s.ID)],
			Voter: s.Suffrage == raft.Voter, Leader: s.ID == leader,
		})
	}
	return out, nil
}

// join asks the members in Config.Join, in turn and with backoff, to add
// this node, until one does or ctx ends.
func (n *Node) join(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		var last error
		for _, addr := range n.cfg.Join {
			last = n.joinVia(ctx, addr)
			if last == nil {
				return nil
			}
			n.logger.Info("join attempt failed", "via", addr, "error", last)
		}
		select {
		case <-ctx.Done():
			msg := "could not join the cluster"
			if last != nil {
				msg += ": " + last.Error()
			}
			return &backend.Error{Code: backend.CodeUnavailable, Message: msg, Err: last}
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (n *Node) joinVia(ctx context.Context, addr string) error {
	d, err := n.dialPeer(ctx, addr)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Join(ctx, n.cfg.NodeID, n.RaftAddress(), n.apiAddr)
}

// stateDigest is the "state_digest" of an encoded state: 128 bits of
// SHA-256 tell states apart as surely as all 256, in half the characters.
func stateDigest(encoded []byte) string {
	sum := sha256.Sum256(encoded)
	return hex.EncodeToString(sum[:16])
}

func parseUint(s string) uint64 {
	v, _ := strconv.ParseUint(s, 10, 64)
	return v
}
