package backend

import (
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on what a request may carry. The client checks every request
// against them before it reaches a driver, and a server that receives
// requests from the network (the Raft store's gRPC service) checks them again.
const (
	MaxIDLength         = 256  // bytes, for lock IDs, client IDs and request IDs
	MaxMetadataEntries  = 32   // pairs per grant
	MaxMetadataKeyLen   = 128  // bytes
	MaxMetadataBytes    = 4096 // keys and values together
	MaxPageSize         = 1000 // locks per List page
	DefaultPageSize     = 100
	MaxCursorLength     = 1024 // bytes
	MaxPriority         = 1 << 20
	MinPriority         = -MaxPriority
	MaxWaitTimeout      = 24 * time.Hour
	maxPatternLength    = MaxIDLength
	maxFilterMetaLength = MaxMetadataEntries
)

func invalid(lockID, format string, args ...any) *Error {
	e := Errorf(CodeInvalidArgument, format, args...)
	e.LockID = lockID
	return e
}

// ValidateID checks a lock, client or request ID: non-empty, at most
// MaxIDLength bytes, valid UTF-8 with no NUL (stores use NUL-free keys).
func ValidateID(kind, id string) *Error {
	switch {
	case id == "":
		return Errorf(CodeInvalidArgument, "%s is empty", kind)
	case len(id) > MaxIDLength:
		return Errorf(CodeInvalidArgument, "%s is %d bytes, more than %d", kind, len(id), MaxIDLength)
	}
	// One pass over the common all-ASCII ID; UTF-8 decoding only from the
	// first byte that needs it. Every request checks two or three IDs, so
	// this is on every lock operation's path.
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case b == 0:
			return Errorf(CodeInvalidArgument, "%s contains a NUL byte", kind)
		case b >= utf8.RuneSelf:
			rest := id[i:]
			if !utf8.ValidString(rest) {
				return Errorf(CodeInvalidArgument, "%s is not valid UTF-8", kind)
			}
			if strings.IndexByte(rest, 0) >= 0 {
				return Errorf(CodeInvalidArgument, "%s contains a NUL byte", kind)
			}
			return nil
		}
	}
	return nil
}

func validateOptionalID(kind, id string) *Error {
	if id == "" {
		return nil
	}
	return ValidateID(kind, id)
}

// ValidateTTL checks ttl against the store's range.
func ValidateTTL(lockID string, ttl time.Duration, caps Capabilities) *Error {
	var e *Error
	switch {
	case ttl <= 0:
		e = Errorf(CodeInvalidTTL, "TTL %v is not positive", ttl)
	case caps.MinTTL > 0 && ttl < caps.MinTTL:
		e = Errorf(CodeInvalidTTL, "TTL %v is below the store's minimum %v", ttl, caps.MinTTL)
	case caps.MaxTTL > 0 && ttl > caps.MaxTTL:
		e = Errorf(CodeInvalidTTL, "TTL %v is above the store's maximum %v", ttl, caps.MaxTTL)
	}
	if e != nil {
		e.LockID = lockID
	}
	return e
}

// ValidateMetadata checks the size of a metadata map.
func ValidateMetadata(lockID string, md map[string]string) *Error {
	if len(md) > MaxMetadataEntries {
		return invalid(lockID, "metadata has %d entries, more than %d", len(md), MaxMetadataEntries)
	}
	total := 0
	for k, v := range md {
		if k == "" {
			return invalid(lockID, "metadata has an empty key")
		}
		if len(k) > MaxMetadataKeyLen {
			return invalid(lockID, "metadata key is %d bytes, more than %d", len(k), MaxMetadataKeyLen)
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return invalid(lockID, "metadata is not valid UTF-8")
		}
		total += len(k) + len(v)
	}
	if total > MaxMetadataBytes {
		return invalid(lockID, "metadata is %d bytes, more than %d", total, MaxMetadataBytes)
	}
	return nil
}

func validateOwnerOp(lockID, clientID, requestID string, version int64) *Error {
	if e := ValidateID("lock ID", lockID); e != nil {
		return e
	}
	if e := ValidateID("client ID", clientID); e != nil {
		e.LockID = lockID
		return e
	}
	if e := validateOptionalID("request ID", requestID); e != nil {
		e.LockID = lockID
		return e
	}
	if version <= 0 {
		return invalid(lockID, "version %d is not positive: pass the Version of the grant", version)
	}
	return nil
}

func validateWait(lockID string, priority int32, waitTimeout time.Duration) *Error {
	if waitTimeout < 0 || waitTimeout > MaxWaitTimeout {
		return invalid(lockID, "wait timeout %v is outside [0, %v]", waitTimeout, MaxWaitTimeout)
	}
	if priority < MinPriority || priority > MaxPriority {
		return invalid(lockID, "priority %d is outside [%d, %d]", priority, MinPriority, MaxPriority)
	}
	return nil
}

// ValidateAcquire checks an AcquireRequest; nil means it is well formed.
func ValidateAcquire(req *AcquireRequest, caps Capabilities) *Error {
	if req == nil {
		return Errorf(CodeInvalidArgument, "nil acquire request")
	}
	if e := ValidateID("lock ID", req.LockID); e != nil {
		return e
	}
	if e := ValidateID("client ID", req.ClientID); e != nil {
		e.LockID = req.LockID
		return e
	}
	if e := validateOptionalID("request ID", req.RequestID); e != nil {
		e.LockID = req.LockID
		return e
	}
	if e := ValidateTTL(req.LockID, req.TTL, caps); e != nil {
		return e
	}
	if e := validateWait(req.LockID, req.Priority, req.WaitTimeout); e != nil {
		return e
	}
	return ValidateMetadata(req.LockID, req.Metadata)
}

// ValidateRelease checks a ReleaseRequest.
func ValidateRelease(req *ReleaseRequest) *Error {
	if req == nil {
		return Errorf(CodeInvalidArgument, "nil release request")
	}
	return validateOwnerOp(req.LockID, req.ClientID, req.RequestID, req.Version)
}

// ValidateRenew checks a RenewRequest.
func ValidateRenew(req *RenewRequest, caps Capabilities) *Error {
	if req == nil {
		return Errorf(CodeInvalidArgument, "nil renew request")
	}
	if e := validateOwnerOp(req.LockID, req.ClientID, req.RequestID, req.Version); e != nil {
		return e
	}
	return ValidateTTL(req.LockID, req.TTL, caps)
}

// ValidateGet checks a GetRequest.
func ValidateGet(req *GetRequest) *Error {
	if req == nil {
		return Errorf(CodeInvalidArgument, "nil get request")
	}
	return ValidateID("lock ID", req.LockID)
}

// ValidateList checks a ListRequest.
func ValidateList(req *ListRequest) *Error {
	if req == nil {
		return Errorf(CodeInvalidArgument, "nil list request")
	}
	switch {
	case req.Limit < 0 || req.Limit > MaxPageSize:
		return Errorf(CodeInvalidArgument, "page size %d is outside [0, %d]", req.Limit, MaxPageSize)
	case req.Offset < 0:
		return Errorf(CodeInvalidArgument, "offset %d is negative", req.Offset)
	case req.Offset > 0 && req.Cursor != "":
		return Errorf(CodeInvalidArgument, "give a cursor or an offset, not both")
	case len(req.Cursor) > MaxCursorLength:
		return Errorf(CodeInvalidArgument, "cursor is %d bytes, more than %d", len(req.Cursor), MaxCursorLength)
	}
	f := &req.Filter
	if len(f.Pattern) > maxPatternLength {
		return Errorf(CodeInvalidArgument, "pattern is %d bytes, more than %d", len(f.Pattern), maxPatternLength)
	}
	if f.Pattern != "" {
		if _, err := path.Match(f.Pattern, ""); err != nil {
			return Errorf(CodeInvalidArgument, "pattern %q: %v", f.Pattern, err)
		}
	}
	if f.Owner != "" {
		if e := ValidateID("owner", f.Owner); e != nil {
			return e
		}
	}
	if len(f.Metadata) > maxFilterMetaLength {
		return Errorf(CodeInvalidArgument, "metadata filter has %d entries, more than %d", len(f.Metadata), maxFilterMetaLength)
	}
	if !f.ExpiresBefore.IsZero() && !f.ExpiresAfter.IsZero() && !f.ExpiresAfter.Before(f.ExpiresBefore) {
		return Errorf(CodeInvalidArgument, "empty expiry window: after %v is not before %v", f.ExpiresAfter, f.ExpiresBefore)
	}
	return nil
}

// ValidateEnqueue checks an EnqueueRequest.
func ValidateEnqueue(req *EnqueueRequest, caps Capabilities) *Error {
	if req == nil {
		return Errorf(CodeInvalidArgument, "nil enqueue request")
	}
	if e := ValidateID("lock ID", req.LockID); e != nil {
		return e
	}
	if e := ValidateID("client ID", req.ClientID); e != nil {
		e.LockID = req.LockID
		return e
	}
	if e := validateOptionalID("request ID", req.RequestID); e != nil {
		e.LockID = req.LockID
		return e
	}
	if e := ValidateTTL(req.LockID, req.TTL, caps); e != nil {
		return e
	}
	if e := validateWait(req.LockID, req.Priority, req.WaitTimeout); e != nil {
		return e
	}
	return ValidateMetadata(req.LockID, req.Metadata)
}

// ValidateCancelWait checks a CancelWaitRequest.
func ValidateCancelWait(req *CancelWaitRequest) *Error {
	if req == nil {
		return Errorf(CodeInvalidArgument, "nil cancel-wait request")
	}
	if e := ValidateID("lock ID", req.LockID); e != nil {
		return e
	}
	if e := ValidateID("client ID", req.ClientID); e != nil {
		e.LockID = req.LockID
		return e
	}
	if e := validateOptionalID("request ID", req.RequestID); e != nil {
		e.LockID = req.LockID
		return e
	}
	return nil
}

// MatchFilter reports whether a lock matches f. Drivers that filter in
// process (rather than in their store's query language) use it so that
// every store reads a filter the same way.
func MatchFilter(f *ListFilter, info *LockInfo) bool {
	if f.Pattern != "" && !matchPattern(f.Pattern, info.LockID) {
		return false
	}
	if f.Owner != "" && (!info.Held || info.Owner != f.Owner) {
		return false
	}
	if f.OnlyHeld && !info.Held {
		return false
	}
	if f.OnlyContested && info.WaiterCount == 0 {
		return false
	}
	if !f.ExpiresBefore.IsZero() && (!info.Held || !info.ExpiresAt.Before(f.ExpiresBefore)) {
		return false
	}
	if !f.ExpiresAfter.IsZero() && (!info.Held || !info.ExpiresAt.After(f.ExpiresAfter)) {
		return false
	}
	for k, v := range f.Metadata {
		if !info.Held {
			return false
		}
		if got, ok := info.Metadata[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// matchPattern is path.Match with shortcuts for the patterns people write
// most ("jobs/*", "jobs/nightly"): a List runs it once per lock in the
// store, and path.Match costs a few hundred nanoseconds on a long ID.
func matchPattern(pattern, id string) bool {
	meta := strings.IndexAny(pattern, `*?[\`)
	switch {
	case meta < 0: // no wildcard: the pattern is the ID
		return pattern == id
	case !strings.HasPrefix(id, pattern[:meta]): // the literal prefix rules most IDs out
		return false
	case meta == len(pattern)-1 && pattern[meta] == '*': // "prefix*": the rest must not cross a '/'
		return strings.IndexByte(id[meta:], '/') < 0
	}
	ok, _ := path.Match(pattern, id)
	return ok
}
