package etcdbackend

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/raftlock/raftlock/backend"
)

// Status describes the etcd member the driver reaches first (its ID, role,
// Raft term and indexes, the cluster's members with their client URLs) and
// the driver's view of its prefix: locks, held locks and waiters, counted
// from one keys-only read, and the waits this driver keeps. Store is
// "etcd".
func (d *Driver) Status(ctx context.Context) (*backend.Status, error) {
	cctx, end, err := d.begin(ctx, "")
	if err != nil {
		return nil, err
	}
	defer end()
	st, err := d.status(cctx)
	if err != nil {
		return nil, d.callError(ctx, "", err)
	}
	return st, nil
}

func (d *Driver) status(ctx context.Context) (*backend.Status, error) {
	var (
		ms       *clientv3.StatusResponse
		endpoint string
		err      error
	)
	for _, ep := range d.cli.Endpoints() {
		if ms, err = d.cli.Status(ctx, ep); err == nil {
			endpoint = ep
			break
		}
	}
	if ms == nil {
		if err == nil {
			err = backend.Errorf(backend.CodeUnavailable, "etcd: the client has no endpoints")
		}
		return nil, err
	}
	members, err := d.cli.MemberList(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := d.cli.Get(ctx, d.prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}

	st := &backend.Status{
		Store:        "etcd",
		NodeID:       memberID(ms.Header.MemberId),
		Role:         "follower",
		Term:         ms.RaftTerm,
		CommitIndex:  ms.RaftIndex,
		AppliedIndex: ms.RaftAppliedIndex,
	}
	switch {
	case ms.IsLearner:
		st.Role = "learner"
	case ms.Leader == 0:
		st.Role = "candidate"
	case ms.Leader == ms.Header.MemberId:
		st.Role = "leader"
	}
	for _, m := range members.Members {
		p := backend.PeerStatus{ID: memberID(m.ID), Voter: !m.IsLearner}
		if len(m.ClientURLs) > 0 {
			p.Address = m.ClientURLs[0]
		}
		if m.ID == ms.Leader {
			st.Leader = p.Address
		}
		st.Peers = append(st.Peers, p)
	}
	last := ""
	for _, kv := range keys.Kvs {
		lockID, _, ok := d.splitKey(kv.Key)
		switch {
		case !ok:
		case lockID != last:
			st.Locks++
			last = lockID
		default:
			st.Waiters++
		}
	}
	st.HeldLocks = st.Locks // a lock with keys always has a holder: the first

	d.mu.Lock()
	waits := len(d.waits)
	d.mu.Unlock()
	st.Details = map[string]string{
		"endpoint":     endpoint,
		"etcd_version": ms.Version,
		"cluster_id":   memberID(ms.Header.ClusterId),
		"db_size":      strconv.FormatInt(ms.DbSize, 10),
		"revision":     strconv.FormatInt(ms.Header.Revision, 10),
		"prefix":       d.prefix,
		"driver_waits": strconv.Itoa(waits),
	}
	if len(ms.Errors) > 0 {
		st.Details["errors"] = strings.Join(ms.Errors, "; ")
	}
	return st, nil
}

func memberID(id uint64) string { return fmt.Sprintf("%x", id) }

// Health answers Serving when a linearizable read goes through (which needs
// a leader and a quorum) and the cluster raises no alarm (such as NOSPACE,
// when etcd refuses every write). An unreachable cluster is not an error
// of the call: it answers Serving false with the reason. After Close it
// fails with CodeClosed.
func (d *Driver) Health(ctx context.Context) (*backend.Health, error) {
	cctx, end, err := d.begin(ctx, "")
	if err != nil {
		return nil, err
	}
	defer end()
	resp, err := d.cli.Get(cctx, d.prefix, clientv3.WithCountOnly())
	if err == nil {
		var alarms *clientv3.AlarmResponse
		if alarms, err = d.cli.AlarmList(cctx); err == nil && len(alarms.Alarms) > 0 {
			names := make([]string, len(alarms.Alarms))
			for i, a := range alarms.Alarms {
				names[i] = a.Alarm.String() + " on member " + memberID(a.MemberID)
			}
			return &backend.Health{Message: "etcd alarm: " + strings.Join(names, ", ")}, nil
		}
	}
	if err != nil {
		if d.life.Err() != nil || ctx.Err() != nil {
			return nil, d.callError(ctx, "", err)
		}
		return &backend.Health{Message: "etcd: " + err.Error()}, nil
	}
	return &backend.Health{Serving: true, Message: "etcd answers at revision " + strconv.FormatInt(resp.Header.Revision, 10)}, nil
}

// BackoffAdvice advises clients that poll lockID, from the number of keys
// under it (one serializable count). Clients of this store rarely poll: it
// waits in the store.
func (d *Driver) BackoffAdvice(ctx context.Context, lockID string) (*backend.BackoffAdvice, error) {
	if e := backend.ValidateID("lock ID", lockID); e != nil {
		return nil, e
	}
	cctx, end, err := d.begin(ctx, lockID)
	if err != nil {
		return nil, err
	}
	defer end()
	resp, err := d.cli.Get(cctx, d.lockPrefix(lockID), clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable())
	if err != nil {
		return nil, d.callError(ctx, lockID, err)
	}
	return backend.AdviseBackoff(int(resp.Count)), nil
}
