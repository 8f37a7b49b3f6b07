package raftbackend

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/raftpb"
)

// route says where a call may go and what its success tells.
type route struct {
	lockID string
	// leaderOnly: only the leader answers the call, so the node that
	// answered it is the leader. Reads any node may answer (stale reads,
	// status, health) do not move the driver's idea of the leader.
	leaderOnly bool
}

// invoke sends one call: to the last known leader, following NOT_LEADER
// redirects, and on to each other endpoint once when a node cannot serve
// it. See RemoteDriver for the rules.
func invoke[T any](ctx context.Context, d *RemoteDriver, rt route, call func(context.Context, raftpb.RaftLockClient) (T, error)) (T, error) {
	var zero T
	cctx, end, err := d.begin(ctx, rt.lockID)
	if err != nil {
		return zero, err
	}
	defer end()

	var (
		tried []string       // every address sent to, in order
		hops  int            // redirects followed
		retry *backend.Error // the retryable failure to report if every node fails
	)
	for addr := d.firstAddr(); addr != ""; {
		tried = append(tried, addr)
		res, err := callAt(cctx, d, addr, call)
		if err == nil {
			if rt.leaderOnly {
				d.setLeader(addr)
			}
			return res, nil
		}
		e := d.callError(ctx, rt.lockID, err)
		if e.Code == backend.CodeClosed {
			return zero, e
		}
		if ctx.Err() != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				d.suspect(addr)
			}
			return zero, e
		}
		switch e.Code {
		case backend.CodeNotLeader:
			if to := e.Leader; to != "" && !contains(tried, to) && hops < d.cfg.maxRedirects {
				hops++
				d.redirected(addr, to)
				addr = to
				continue
			}
		case backend.CodeUnavailable, backend.CodeLeaderUnavailable:
			d.forgetLeader(addr)
			d.log.Debug("raftlock: node cannot serve the call", "node", addr, "err", e)
		default:
			return zero, e // a definite answer
		}
		if retry == nil || retry.Code == backend.CodeUnavailable {
			retry = e
		}
		addr = d.nextUntried(tried)
	}
	return zero, &backend.Error{
		Code:       retry.Code,
		LockID:     retry.LockID,
		Leader:     retry.Leader,
		RetryAfter: retry.RetryAfter,
		Message:    fmt.Sprintf("no node could serve the call (tried %s): %s", strings.Join(tried, ", "), reason(retry)),
		Err:        retry,
	}
}

// reason is the text of err without the "raftlock: code" prefix, for an
// error message that quotes it.
func reason(err error) string {
	var e *backend.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	switch {
	case e.Message != "":
		return e.Message
	case e.Err != nil:
		return e.Err.Error()
	}
	return e.Code.String()
}

// callAt makes one attempt at the node at addr.
func callAt[T any](ctx context.Context, d *RemoteDriver, addr string, call func(context.Context, raftpb.RaftLockClient) (T, error)) (T, error) {
	c, err := d.client(addr)
	if err != nil {
		var zero T
		return zero, err
	}
	return call(ctx, c)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// firstAddr is where a call starts: the last known leader, else the
// endpoint that answered Dial.
func (d *RemoteDriver) firstAddr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.leader != "":
		return d.leader
	case d.preferred != "":
		return d.preferred
	}
	return d.endpoints[0]
}

// nextUntried returns the first endpoint not in tried, or "".
func (d *RemoteDriver) nextUntried(tried []string) string {
	for _, ep := range d.endpoints {
		if !contains(tried, ep) {
			return ep
		}
	}
	return ""
}

// setLeader remembers addr as the leader.
func (d *RemoteDriver) setLeader(addr string) {
	d.mu.Lock()
	d.leader = addr
	d.mu.Unlock()
}

// forgetLeader drops addr as the leader after it failed a call, so that
// LeaderAddress does not name a node that cannot serve.
func (d *RemoteDriver) forgetLeader(addr string) {
	d.mu.Lock()
	if d.leader == addr {
		d.leader = ""
	}
	d.mu.Unlock()
}

// suspect moves the next call away from addr after the caller's deadline
// passed while addr held a call. A node that is stopped (SIGSTOP, a long
// pause) or cut off behind a connection that stays open fails nothing: it
// just holds every call, so without this each call would go to it again
// until the caller's deadline. The next call starts at the endpoint after
// it, which redirects to the leader if it is not the leader; a healthy
// leader that merely ran out the caller's time costs one redirect.
func (d *RemoteDriver) suspect(addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.leader == addr {
		d.leader = ""
	}
	if len(d.endpoints) < 2 || (d.preferred != addr && d.preferred != "") {
		return
	}
	for i, ep := range d.endpoints {
		if ep == addr {
			d.preferred = d.endpoints[(i+1)%len(d.endpoints)]
			return
		}
	}
	d.preferred = d.endpoints[0]
}

// redirected records a NOT_LEADER redirect from one node to the leader it
// named, and tells the observer.
func (d *RemoteDriver) redirected(from, to string) {
	d.mu.Lock()
	d.leader = to
	o := d.observer
	d.mu.Unlock()
	d.log.Debug("raftlock: following redirect to the leader", "from", from, "to", to)
	if o != nil {
		o.LeaderRedirect(from, to)
	}
}
