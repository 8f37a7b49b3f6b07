package raftbackend

import (
	"context"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftlock/raftlock/backend"
)

// epoch is one stretch of leadership of this node. ready closes when its
// LeaderChange entry is applied, lost when leadership ends.
type epoch struct {
	ready chan struct{}
	lost  chan struct{}
}

// watchLeadership follows raft's leadership notifications: on election it
// commits LeaderChange and starts the expiry loop; on loss it ends the
// epoch, which sends this node's blocked waits to the new leader. It also
// keeps the health service in step with whether a leader is known.
func (n *Node) watchLeadership(notify <-chan bool) {
	var ep *epoch
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	serving, gone := false, false
	var leader raft.ServerID // the leader last logged
	setServing := func() {
		_, id := n.raft.LeaderWithID()
		if id != leader {
			leader = id
			n.logLeader(id)
		}
		if s := id != ""; s != serving && n.api != nil {
			serving = s
			n.api.SetServing(s)
		}
	}
	for {
		select {
		case isLeader := <-notify:
			if isLeader && ep == nil {
				ep = &epoch{ready: make(chan struct{}), lost: make(chan struct{})}
				n.leadMu.Lock()
				n.epoch = ep
				n.leadMu.Unlock()
				n.fsm.mu.RLock()
				floor := n.fsm.now
				n.fsm.mu.RUnlock()
				n.clock.reset(floor)
				n.wg.Add(1)
				go func(ep *epoch) { defer n.wg.Done(); n.lead(ep) }(ep)
			} else if !isLeader && ep != nil {
				n.stepDown(ep)
				ep = nil
			}
			setServing()
		case <-tick.C:
			setServing()
			if !gone && n.left() && !n.closed.Load() {
				gone = true
				n.logger.Warn("the node left its cluster")
				if ep != nil {
					n.stepDown(ep)
					ep = nil
				}
				n.markDied()
			}
		case <-n.stopped:
			if ep != nil {
				n.stepDown(ep)
			}
			return
		}
	}
}

// left reports whether the node is out of its cluster: raft stopped by
// itself, or the member table dropped the node and either the
// configuration no longer lists it or a few seconds have passed (a removed
// follower may never receive the configuration that removes it).
func (n *Node) left() bool {
	if n.raft.State() == raft.Shutdown {
		return true
	}
	at := n.removedAt.Load()
	if at == 0 {
		return false
	}
	if time.Since(time.Unix(0, at)) > 5*time.Second {
		return true
	}
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == n.cfg.NodeID {
			return false
		}
	}
	return true
}

func (n *Node) stepDown(ep *epoch) {
	n.leadMu.Lock()
	n.epoch = nil
	n.leadMu.Unlock()
	close(ep.lost)
	n.logger.Info("lost leadership", "term", n.raft.CurrentTerm())
}

// logLeader logs that the node learned of a new leader, id, or that it
// knows none ("").
func (n *Node) logLeader(id raft.ServerID) {
	term := n.raft.CurrentTerm()
	if id == "" {
		n.logger.Warn("no leader known", "term", term)
		return
	}
	n.logger.Info("leader changed", "leader", string(id), "term", term, "self", string(id) == n.cfg.NodeID)
}

// lead runs for one epoch: it commits LeaderChange (with this node's
// limits), opens the node to lock commands, then proposes expiries and
// wait timeouts as they fall due.
func (n *Node) lead(ep *epoch) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-ep.lost:
		case <-n.stopped:
		}
		cancel()
	}()
	for {
		// The entry also carries this node's limits, which every node
		// enforces from it on: during this term the leader's configuration
		// is the store's.
		_, err := n.batch.propose(ctx, command{kind: cmdLeaderChange, node: n.cfg.NodeID, addr: n.apiAddr,
			limits: n.cfg.limits()})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		n.logger.Warn("leader change entry failed; trying again", "error", err)
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return
		}
	}
	close(ep.ready)
	n.logger.Info("leading", "api", n.apiAddr, "term", n.raft.CurrentTerm())
	n.expireLoop(ctx)
}

// expireLoop proposes Expire and WaitTimeout commands when the leader's
// clock passes a deadline. It runs only on the leader; every node keeps the
// deadlines, so a new leader starts at once.
func (n *Node) expireLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-n.wake:
		case <-ctx.Done():
			return
		}
		now := n.clock.now()
		cmds, next := n.fsm.due(now, n.cfg.MaxBatch)
		wait := time.Duration(-1)
		if len(cmds) > 0 {
			if err := n.batch.proposeAll(ctx, cmds); err != nil {
				if ctx.Err() != nil {
					return
				}
				n.logger.Warn("expiry proposal failed; trying again", "error", err)
				wait = 50 * time.Millisecond
			}
		}
		if wait < 0 && next != 0 {
			// A deadline that passed while the proposal was in flight
			// fires at once.
			wait = max(time.Duration(next-n.clock.now()), 0)
		}
		timer.Stop()
		if wait >= 0 {
			timer.Reset(wait)
		}
	}
}

// rearm wakes the expiry loop; the state machine calls it when a deadline
// earlier than all others appears.
func (n *Node) rearm() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// gate admits a lock command on the leader: it returns the current epoch
// once it is ready, or the error that sends the client elsewhere.
func (n *Node) gate(ctx context.Context, lockID string) (*epoch, error) {
	if n.closed.Load() {
		return nil, closedNode(lockID)
	}
	n.leadMu.Lock()
	ep := n.epoch
	n.leadMu.Unlock()
	if ep == nil {
		return nil, n.notLeader(lockID)
	}
	select {
	case <-ep.ready:
		return ep, nil
	default:
	}
	select {
	case <-ep.ready:
		return ep, nil
	case <-ep.lost:
		return nil, n.notLeader(lockID)
	case <-ctx.Done():
		return nil, backend.ContextError(ctx, lockID)
	case <-n.stopped:
		return nil, closedNode(lockID)
	}
}

// notLeader is the error of a lock command on a node that does not lead:
// CodeNotLeader with the leader's client API address when it is known,
// CodeLeaderUnavailable otherwise.
func (n *Node) notLeader(lockID string) *backend.Error {
	_, id := n.raft.LeaderWithID()
	if id == "" || string(id) == n.cfg.NodeID {
		return &backend.Error{Code: backend.CodeLeaderUnavailable, LockID: lockID, Message: "no leader yet", RetryAfter: n.cfg.HeartbeatTimeout / 4}
	}
	n.fsm.mu.RLock()
	addr := n.fsm.members[string(id)]
	n.fsm.mu.RUnlock()
	if addr == "" {
		return &backend.Error{Code: backend.CodeLeaderUnavailable, LockID: lockID,
			Message: "the leader " + string(id) + " has published no client API address yet"}
	}
	return &backend.Error{Code: backend.CodeNotLeader, LockID: lockID, Leader: addr, Message: "not the leader"}
}
