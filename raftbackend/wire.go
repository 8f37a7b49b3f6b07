package raftbackend

import (
	"math"
	"time"

	"github.com/raftlock/raftlock/backend"
	"github.com/raftlock/raftlock/internal/raftpb"
)

// This file converts between package backend's types and the messages of
// raftlock.proto. The rules, kept by every function:
//
//   - A zero time.Time travels as 0 and comes back zero; any other time as
//     Unix nanoseconds, clamped to the int64 range (years 1678 to 2262) so
//     that a far-off filter bound keeps its meaning. Times that come back
//     have no monotonic reading: it means nothing outside the process that
//     took it. (The instant of the Unix epoch itself reads as "no time".)
//   - Durations travel as int64 nanoseconds, unchanged, so that the
//     receiver's validation sees exactly what the sender had.
//   - Nil or empty metadata comes back nil.
//   - Nil messages read as zero values, so a malformed message never panics.
//
// Requests that come off the network are converted here and then checked
// with backend's Validate functions, like any other request.

// The instants whose Unix nanoseconds fit in an int64.
var (
	minWireTime = time.Unix(0, math.MinInt64)
	maxWireTime = time.Unix(0, math.MaxInt64)
)

// timeToPB returns t as Unix nanoseconds, 0 for the zero time.
func timeToPB(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minWireTime):
		return math.MinInt64
	case t.After(maxWireTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// timeFromPB is the inverse of timeToPB.
func timeFromPB(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// metadataFromPB returns md, or nil when it is empty. A decoded message owns
// its maps and is dropped after conversion, so they are not copied.
func metadataFromPB(md map[string]string) map[string]string {
	if len(md) == 0 {
		return nil
	}
	return md
}

// intFromPB converts a count from the wire to an int, saturating where int
// is narrower than int64.
func intFromPB(n int64) int {
	switch {
	case n > math.MaxInt:
		return math.MaxInt
	case n < math.MinInt:
		return math.MinInt
	}
	return int(n)
}

// boundedIntFromPB converts a request field to an int, or reports that it is
// out of int's range (where int is narrower than int64), so that the request
// fails validation instead of being read as another number.
func boundedIntFromPB(n int64) (int, bool) {
	if n > math.MaxInt || n < math.MinInt {
		return 0, false
	}
	return int(n), true
}

// lockToPB converts a grant.
func lockToPB(l *backend.Lock) *raftpb.Lock {
	return &raftpb.Lock{
		LockId:              l.LockID,
		Owner:               l.Owner,
		Version:             l.Version,
		AcquiredAtUnixNanos: timeToPB(l.AcquiredAt),
		ExpiresAtUnixNanos:  timeToPB(l.ExpiresAt),
		Metadata:            l.Metadata,
	}
}

// lockFromPB converts a grant; nil reads as the zero Lock.
func lockFromPB(p *raftpb.Lock) backend.Lock {
	return backend.Lock{
		LockID:     p.GetLockId(),
		Owner:      p.GetOwner(),
		Version:    p.GetVersion(),
		AcquiredAt: timeFromPB(p.GetAcquiredAtUnixNanos()),
		ExpiresAt:  timeFromPB(p.GetExpiresAtUnixNanos()),
		Metadata:   metadataFromPB(p.GetMetadata()),
	}
}

// waiterToPB converts a queue entry.
func waiterToPB(w *backend.Waiter) *raftpb.Waiter {
	return &raftpb.Waiter{
		ClientId:            w.ClientID,
		Priority:            w.Priority,
		EnqueuedAtUnixNanos: timeToPB(w.EnqueuedAt),
		TimeoutAtUnixNanos:  timeToPB(w.TimeoutAt),
		Position:            int64(w.Position),
	}
}

// waiterFromPB converts a queue entry.
func waiterFromPB(p *raftpb.Waiter) backend.Waiter {
	return backend.Waiter{
		ClientID:   p.GetClientId(),
		Priority:   p.GetPriority(),
		EnqueuedAt: timeFromPB(p.GetEnqueuedAtUnixNanos()),
		TimeoutAt:  timeFromPB(p.GetTimeoutAtUnixNanos()),
		Position:   intFromPB(p.GetPosition()),
	}
}

// lockInfoToPB converts a lock's description.
func lockInfoToPB(info *backend.LockInfo) *raftpb.LockInfo {
	p := &raftpb.LockInfo{
		Lock:        lockToPB(&info.Lock),
		Held:        info.Held,
		WaiterCount: int64(info.WaiterCount),
	}
	if len(info.Waiters) > 0 {
		p.Waiters = make([]*raftpb.Waiter, len(info.Waiters))
		for i := range info.Waiters {
			p.Waiters[i] = waiterToPB(&info.Waiters[i])
		}
	}
	return p
}

// lockInfoFromPB converts a lock's description.
func lockInfoFromPB(p *raftpb.LockInfo) backend.LockInfo {
	info := backend.LockInfo{
		Lock:        lockFromPB(p.GetLock()),
		Held:        p.GetHeld(),
		WaiterCount: intFromPB(p.GetWaiterCount()),
	}
	if ws := p.GetWaiters(); len(ws) > 0 {
		info.Waiters = make([]backend.Waiter, len(ws))
		for i, w := range ws {
			info.Waiters[i] = waiterFromPB(w)
		}
	}
	return info
}

// acquireRequestToPB converts an Acquire.
func acquireRequestToPB(r *backend.AcquireRequest) *raftpb.AcquireRequest {
	return &raftpb.AcquireRequest{
		LockId:           r.LockID,
		ClientId:         r.ClientID,
		TtlNanos:         int64(r.TTL),
		Wait:             r.Wait,
		WaitTimeoutNanos: int64(r.WaitTimeout),
		Priority:         r.Priority,
		Metadata:         r.Metadata,
		RequestId:        r.RequestID,
	}
}

// acquireRequestFromPB converts an Acquire.
func acquireRequestFromPB(p *raftpb.AcquireRequest) *backend.AcquireRequest {
	return &backend.AcquireRequest{
		LockID:      p.GetLockId(),
		ClientID:    p.GetClientId(),
		TTL:         time.Duration(p.GetTtlNanos()),
		Wait:        p.GetWait(),
		WaitTimeout: time.Duration(p.GetWaitTimeoutNanos()),
		Priority:    p.GetPriority(),
		Metadata:    metadataFromPB(p.GetMetadata()),
		RequestID:   p.GetRequestId(),
	}
}

// acquireResultToPB converts a successful Acquire.
func acquireResultToPB(r *backend.AcquireResult) *raftpb.AcquireResponse {
	return &raftpb.AcquireResponse{
		Lock:        lockToPB(&r.Lock),
		Waited:      r.Waited,
		AlreadyHeld: r.AlreadyHeld,
	}
}

// acquireResultFromPB converts a successful Acquire.
func acquireResultFromPB(p *raftpb.AcquireResponse) *backend.AcquireResult {
	return &backend.AcquireResult{
		Lock:        lockFromPB(p.GetLock()),
		Waited:      p.GetWaited(),
		AlreadyHeld: p.GetAlreadyHeld(),
	}
}

// releaseRequestToPB converts a Release.
func releaseRequestToPB(r *backend.ReleaseRequest) *raftpb.ReleaseRequest {
	return &raftpb.ReleaseRequest{
		LockId:    r.LockID,
		ClientId:  r.ClientID,
		Version:   r.Version,
		RequestId: r.RequestID,
	}
}

// releaseRequestFromPB converts a Release.
func releaseRequestFromPB(p *raftpb.ReleaseRequest) *backend.ReleaseRequest {
	return &backend.ReleaseRequest{
		LockID:    p.GetLockId(),
		ClientID:  p.GetClientId(),
		Version:   p.GetVersion(),
		RequestID: p.GetRequestId(),
	}
}

// releaseResultToPB converts a successful Release.
func releaseResultToPB(r *backend.ReleaseResult) *raftpb.ReleaseResponse {
	return &raftpb.ReleaseResponse{NextOwner: r.NextOwner}
}

// releaseResultFromPB converts a successful Release.
func releaseResultFromPB(p *raftpb.ReleaseResponse) *backend.ReleaseResult {
	return &backend.ReleaseResult{NextOwner: p.GetNextOwner()}
}

// renewRequestToPB converts a Renew.
func renewRequestToPB(r *backend.RenewRequest) *raftpb.RenewRequest {
	return &raftpb.RenewRequest{
		LockId:    r.LockID,
		ClientId:  r.ClientID,
		Version:   r.Version,
		TtlNanos:  int64(r.TTL),
		RequestId: r.RequestID,
	}
}

// renewRequestFromPB converts a Renew.
func renewRequestFromPB(p *raftpb.RenewRequest) *backend.RenewRequest {
	return &backend.RenewRequest{
		LockID:    p.GetLockId(),
		ClientID:  p.GetClientId(),
		Version:   p.GetVersion(),
		TTL:       time.Duration(p.GetTtlNanos()),
		RequestID: p.GetRequestId(),
	}
}

// getRequestToPB converts a Get.
func getRequestToPB(r *backend.GetRequest) *raftpb.GetLockInfoRequest {
	return &raftpb.GetLockInfoRequest{LockId: r.LockID, IncludeWaiters: r.IncludeWaiters, Stale: r.Stale}
}

// getRequestFromPB converts a Get.
func getRequestFromPB(p *raftpb.GetLockInfoRequest) *backend.GetRequest {
	return &backend.GetRequest{LockID: p.GetLockId(), IncludeWaiters: p.GetIncludeWaiters(), Stale: p.GetStale()}
}

// listFilterToPB converts a List filter.
func listFilterToPB(f *backend.ListFilter) *raftpb.ListFilter {
	return &raftpb.ListFilter{
		Pattern:                f.Pattern,
		Owner:                  f.Owner,
		OnlyHeld:               f.OnlyHeld,
		OnlyContested:          f.OnlyContested,
		ExpiresBeforeUnixNanos: timeToPB(f.ExpiresBefore),
		ExpiresAfterUnixNanos:  timeToPB(f.ExpiresAfter),
		Metadata:               f.Metadata,
	}
}

// listFilterFromPB converts a List filter; nil reads as "every lock".
func listFilterFromPB(p *raftpb.ListFilter) backend.ListFilter {
	return backend.ListFilter{
		Pattern:       p.GetPattern(),
		Owner:         p.GetOwner(),
		OnlyHeld:      p.GetOnlyHeld(),
		OnlyContested: p.GetOnlyContested(),
		ExpiresBefore: timeFromPB(p.GetExpiresBeforeUnixNanos()),
		ExpiresAfter:  timeFromPB(p.GetExpiresAfterUnixNanos()),
		Metadata:      metadataFromPB(p.GetMetadata()),
	}
}

// listRequestToPB converts a List.
func listRequestToPB(r *backend.ListRequest) *raftpb.GetLocksRequest {
	return &raftpb.GetLocksRequest{
		Filter:         listFilterToPB(&r.Filter),
		Limit:          int64(r.Limit),
		Cursor:         r.Cursor,
		Offset:         int64(r.Offset),
		IncludeWaiters: r.IncludeWaiters,
		Stale:          r.Stale,
	}
}

// listRequestFromPB converts a List. A limit or offset that does not fit an
// int fails with CodeInvalidArgument.
func listRequestFromPB(p *raftpb.GetLocksRequest) (*backend.ListRequest, *backend.Error) {
	limit, ok := boundedIntFromPB(p.GetLimit())
	if !ok {
		return nil, backend.Errorf(backend.CodeInvalidArgument, "page size %d is outside [0, %d]", p.GetLimit(), backend.MaxPageSize)
	}
	offset, ok := boundedIntFromPB(p.GetOffset())
	if !ok {
		return nil, backend.Errorf(backend.CodeInvalidArgument, "offset %d is out of range", p.GetOffset())
	}
	return &backend.ListRequest{
		Filter:         listFilterFromPB(p.GetFilter()),
		Limit:          limit,
		Cursor:         p.GetCursor(),
		Offset:         offset,
		IncludeWaiters: p.GetIncludeWaiters(),
		Stale:          p.GetStale(),
	}, nil
}

// listResultToPB converts a page of locks.
func listResultToPB(r *backend.ListResult) *raftpb.GetLocksResponse {
	p := &raftpb.GetLocksResponse{NextCursor: r.NextCursor, Total: int64(r.Total)}
	if len(r.Locks) > 0 {
		p.Locks = make([]*raftpb.LockInfo, len(r.Locks))
		for i := range r.Locks {
			p.Locks[i] = lockInfoToPB(&r.Locks[i])
		}
	}
	return p
}

// listResultFromPB converts a page of locks.
func listResultFromPB(p *raftpb.GetLocksResponse) *backend.ListResult {
	r := &backend.ListResult{NextCursor: p.GetNextCursor(), Total: intFromPB(p.GetTotal())}
	if ls := p.GetLocks(); len(ls) > 0 {
		r.Locks = make([]backend.LockInfo, len(ls))
		for i, l := range ls {
			r.Locks[i] = lockInfoFromPB(l)
		}
	}
	return r
}

// enqueueRequestToPB converts an Enqueue.
func enqueueRequestToPB(r *backend.EnqueueRequest) *raftpb.EnqueueWaiterRequest {
	return &raftpb.EnqueueWaiterRequest{
		LockId:           r.LockID,
		ClientId:         r.ClientID,
		TtlNanos:         int64(r.TTL),
		WaitTimeoutNanos: int64(r.WaitTimeout),
		Priority:         r.Priority,
		Metadata:         r.Metadata,
		RequestId:        r.RequestID,
	}
}

// enqueueRequestFromPB converts an Enqueue.
func enqueueRequestFromPB(p *raftpb.EnqueueWaiterRequest) *backend.EnqueueRequest {
	return &backend.EnqueueRequest{
		LockID:      p.GetLockId(),
		ClientID:    p.GetClientId(),
		TTL:         time.Duration(p.GetTtlNanos()),
		WaitTimeout: time.Duration(p.GetWaitTimeoutNanos()),
		Priority:    p.GetPriority(),
		Metadata:    metadataFromPB(p.GetMetadata()),
		RequestID:   p.GetRequestId(),
	}
}

// enqueueResultToPB converts a successful Enqueue.
func enqueueResultToPB(r *backend.EnqueueResult) *raftpb.EnqueueWaiterResponse {
	return &raftpb.EnqueueWaiterResponse{
		Granted:  r.Granted,
		Lock:     lockToPB(&r.Lock),
		Position: int64(r.Position),
	}
}

// enqueueResultFromPB converts a successful Enqueue.
func enqueueResultFromPB(p *raftpb.EnqueueWaiterResponse) *backend.EnqueueResult {
	return &backend.EnqueueResult{
		Granted:  p.GetGranted(),
		Lock:     lockFromPB(p.GetLock()),
		Position: intFromPB(p.GetPosition()),
	}
}

// cancelWaitRequestToPB converts a CancelWait.
func cancelWaitRequestToPB(r *backend.CancelWaitRequest) *raftpb.CancelWaitRequest {
	return &raftpb.CancelWaitRequest{LockId: r.LockID, ClientId: r.ClientID, RequestId: r.RequestID}
}

// cancelWaitRequestFromPB converts a CancelWait.
func cancelWaitRequestFromPB(p *raftpb.CancelWaitRequest) *backend.CancelWaitRequest {
	return &backend.CancelWaitRequest{LockID: p.GetLockId(), ClientID: p.GetClientId(), RequestID: p.GetRequestId()}
}

// statusToPB converts a node's status.
func statusToPB(s *backend.Status) *raftpb.Status {
	p := &raftpb.Status{
		Store:        s.Store,
		NodeId:       s.NodeID,
		Role:         s.Role,
		Leader:       s.Leader,
		Term:         s.Term,
		CommitIndex:  s.CommitIndex,
		AppliedIndex: s.AppliedIndex,
		Locks:        int64(s.Locks),
		HeldLocks:    int64(s.HeldLocks),
		Waiters:      int64(s.Waiters),
		Details:      s.Details,
	}
	if len(s.Peers) > 0 {
		p.Peers = make([]*raftpb.PeerStatus, len(s.Peers))
		for i := range s.Peers {
			p.Peers[i] = peerStatusToPB(&s.Peers[i])
		}
	}
	return p
}

// statusFromPB converts a node's status.
func statusFromPB(p *raftpb.Status) *backend.Status {
	s := &backend.Status{
		Store:        p.GetStore(),
		NodeID:       p.GetNodeId(),
		Role:         p.GetRole(),
		Leader:       p.GetLeader(),
		Term:         p.GetTerm(),
		CommitIndex:  p.GetCommitIndex(),
		AppliedIndex: p.GetAppliedIndex(),
		Locks:        intFromPB(p.GetLocks()),
		HeldLocks:    intFromPB(p.GetHeldLocks()),
		Waiters:      intFromPB(p.GetWaiters()),
		Details:      metadataFromPB(p.GetDetails()),
	}
	if ps := p.GetPeers(); len(ps) > 0 {
		s.Peers = make([]backend.PeerStatus, len(ps))
		for i, peer := range ps {
			s.Peers[i] = peerStatusFromPB(peer)
		}
	}
	return s
}

// peerStatusToPB converts one peer's replication state.
func peerStatusToPB(p *backend.PeerStatus) *raftpb.PeerStatus {
	return &raftpb.PeerStatus{
		Id:               p.ID,
		Address:          p.Address,
		Voter:            p.Voter,
		MatchIndex:       p.MatchIndex,
		LastContactNanos: int64(p.LastContact),
	}
}

// peerStatusFromPB converts one peer's replication state.
func peerStatusFromPB(p *raftpb.PeerStatus) backend.PeerStatus {
	return backend.PeerStatus{
		ID:          p.GetId(),
		Address:     p.GetAddress(),
		Voter:       p.GetVoter(),
		MatchIndex:  p.GetMatchIndex(),
		LastContact: time.Duration(p.GetLastContactNanos()),
	}
}

// healthToPB converts a store's readiness.
func healthToPB(h *backend.Health) *raftpb.HealthResponse {
	return &raftpb.HealthResponse{Serving: h.Serving, Message: h.Message}
}

// healthFromPB converts a store's readiness.
func healthFromPB(p *raftpb.HealthResponse) *backend.Health {
	return &backend.Health{Serving: p.GetServing(), Message: p.GetMessage()}
}

// backoffAdviceToPB converts backoff advice.
func backoffAdviceToPB(a *backend.BackoffAdvice) *raftpb.BackoffAdvice {
	return &raftpb.BackoffAdvice{
		InitialBackoffNanos: int64(a.InitialBackoff),
		MaxBackoffNanos:     int64(a.MaxBackoff),
		Multiplier:          a.Multiplier,
		JitterFactor:        a.JitterFactor,
	}
}

// backoffAdviceFromPB converts backoff advice.
func backoffAdviceFromPB(p *raftpb.BackoffAdvice) *backend.BackoffAdvice {
	return &backend.BackoffAdvice{
		InitialBackoff: time.Duration(p.GetInitialBackoffNanos()),
		MaxBackoff:     time.Duration(p.GetMaxBackoffNanos()),
		Multiplier:     p.GetMultiplier(),
		JitterFactor:   p.GetJitterFactor(),
	}
}

// capabilitiesToPB converts a store's capabilities.
func capabilitiesToPB(c backend.Capabilities) *raftpb.Capabilities {
	return &raftpb.Capabilities{
		Fifo:                c.FIFO,
		Priorities:          c.Priorities,
		ServerSideWait:      c.ServerSideWait,
		Metadata:            c.Metadata,
		Replicated:          c.Replicated,
		MinTtlNanos:         int64(c.MinTTL),
		MaxTtlNanos:         int64(c.MaxTTL),
		TtlGranularityNanos: int64(c.TTLGranularity),
	}
}

// capabilitiesFromPB converts a store's capabilities.
func capabilitiesFromPB(p *raftpb.Capabilities) backend.Capabilities {
	return backend.Capabilities{
		FIFO:           p.GetFifo(),
		Priorities:     p.GetPriorities(),
		ServerSideWait: p.GetServerSideWait(),
		Metadata:       p.GetMetadata(),
		Replicated:     p.GetReplicated(),
		MinTTL:         time.Duration(p.GetMinTtlNanos()),
		MaxTTL:         time.Duration(p.GetMaxTtlNanos()),
		TTLGranularity: time.Duration(p.GetTtlGranularityNanos()),
	}
}

// memberToPB converts a cluster member.
func memberToPB(m *Member) *raftpb.Member {
	return &raftpb.Member{
		Id:          m.ID,
		RaftAddress: m.RaftAddress,
		ApiAddress:  m.APIAddress,
		Voter:       m.Voter,
		Leader:      m.Leader,
	}
}

// memberFromPB converts a cluster member.
func memberFromPB(p *raftpb.Member) Member {
	return Member{
		ID:          p.GetId(),
		RaftAddress: p.GetRaftAddress(),
		APIAddress:  p.GetApiAddress(),
		Voter:       p.GetVoter(),
		Leader:      p.GetLeader(),
	}
}

// membersToPB converts a member list.
func membersToPB(ms []Member) *raftpb.MembersResponse {
	p := &raftpb.MembersResponse{Members: make([]*raftpb.Member, len(ms))}
	for i := range ms {
		p.Members[i] = memberToPB(&ms[i])
	}
	return p
}

// membersFromPB converts a member list.
func membersFromPB(p *raftpb.MembersResponse) []Member {
	ps := p.GetMembers()
	ms := make([]Member, len(ps))
	for i, m := range ps {
		ms[i] = memberFromPB(m)
	}
	return ms
}
