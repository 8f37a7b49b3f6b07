package backend

import (
	"maps"
	"path"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The validators are the client's and the Raft store's gRPC service's
// guard against bad input (promise 7), so FuzzValidateRequests holds them
// to a plain restatement of the limits that validate.go and types.go
// document: each one accepts a request exactly when it keeps them, and
// refuses it with a clear, typed error otherwise.

// Plain statements of the documented rules, written apart from the code
// under test.

func specID(id string) bool {
	return id != "" && len(id) <= MaxIDLength && utf8.ValidString(id) && !strings.Contains(id, "\x00")
}

func specOptionalID(id string) bool { return id == "" || specID(id) }

func specTTL(ttl time.Duration, caps Capabilities) bool {
	return ttl > 0 && (caps.MinTTL <= 0 || ttl >= caps.MinTTL) && (caps.MaxTTL <= 0 || ttl <= caps.MaxTTL)
}

func specWait(priority int32, timeout time.Duration) bool {
	return priority >= MinPriority && priority <= MaxPriority && timeout >= 0 && timeout <= MaxWaitTimeout
}

func specMetadata(md map[string]string) bool {
	if len(md) > MaxMetadataEntries {
		return false
	}
	total := 0
	for k, v := range md {
		if k == "" || len(k) > MaxMetadataKeyLen || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return false
		}
		total += len(k) + len(v)
	}
	return total <= MaxMetadataBytes
}

func specList(req *ListRequest) bool {
	f := &req.Filter
	if f.Pattern != "" {
		if _, err := path.Match(f.Pattern, ""); err != nil {
			return false
		}
	}
	return req.Limit >= 0 && req.Limit <= MaxPageSize && req.Offset >= 0 &&
		(req.Offset == 0 || req.Cursor == "") && len(req.Cursor) <= MaxCursorLength &&
		len(f.Pattern) <= MaxIDLength && specOptionalID(f.Owner) && len(f.Metadata) <= MaxMetadataEntries &&
		(f.ExpiresBefore.IsZero() || f.ExpiresAfter.IsZero() || f.ExpiresAfter.Before(f.ExpiresBefore))
}

// specMatch is MatchFilter as ListFilter's documentation states it: every
// set field must match, and the fields about the grant need one.
func specMatch(f *ListFilter, info *LockInfo) bool {
	if f.Pattern != "" {
		if ok, _ := path.Match(f.Pattern, info.LockID); !ok {
			return false
		}
	}
	held := info.Held
	switch {
	case f.Owner != "" && (!held || info.Owner != f.Owner),
		f.OnlyHeld && !held,
		f.OnlyContested && info.WaiterCount == 0,
		!f.ExpiresBefore.IsZero() && (!held || !info.ExpiresAt.Before(f.ExpiresBefore)),
		!f.ExpiresAfter.IsZero() && (!held || !info.ExpiresAt.After(f.ExpiresAfter)),
		len(f.Metadata) > 0 && !held:
		return false
	}
	for k, v := range f.Metadata {
		if got, ok := info.Metadata[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// parseMetadata reads a metadata map from a fuzzed string: one k=v pair
// per line, "" for none. Lines without "=" are keys with empty values.
func parseMetadata(s string) map[string]string {
	if s == "" {
		return nil
	}
	md := make(map[string]string)
	for line := range strings.SplitSeq(s, "\n") {
		k, v, _ := strings.Cut(line, "=")
		md[k] = v
	}
	return md
}

// formatMetadata is parseMetadata's inverse for the seeds.
func formatMetadata(n int, value string) string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = "k" + strconv.Itoa(i) + "=" + value
	}
	return strings.Join(lines, "\n")
}

// checkVerdict compares a validator's answer with the rules'. lockID is
// the request's lock ID ("" for List, whose errors name no lock); ttlOnly
// says the request breaks no rule but the TTL's, when the error must be
// CodeInvalidTTL.
func checkVerdict(t *testing.T, what string, e *Error, want bool, lockID string, ttlOnly bool) {
	t.Helper()
	switch {
	case want && e != nil:
		t.Fatalf("%s refused a request the rules accept: %v", what, e)
	case !want && e == nil:
		t.Fatalf("%s accepted a request the rules refuse", what)
	case e == nil:
		return
	case e.Code != CodeInvalidArgument && e.Code != CodeInvalidTTL:
		t.Fatalf("%s refused with code %v, want invalid argument or invalid TTL: %v", what, e.Code, e)
	case ttlOnly && e.Code != CodeInvalidTTL:
		t.Fatalf("%s refused a bad TTL with code %v: %v", what, e.Code, e)
	case e.Message == "":
		t.Fatalf("%s refused with an empty message: %#v", what, e)
	}
	// An error names the lock once its ID is known to be good.
	wantLock := ""
	if specID(lockID) {
		wantLock = lockID
	}
	if e.LockID != wantLock {
		t.Fatalf("%s error names lock %q, want %q: %v", what, e.LockID, wantLock, e)
	}
}

// FuzzValidateRequests builds every kind of request from the same fuzzed
// fields and checks each validator against the rules, and MatchFilter
// against ListFilter's documentation for every filter ValidateList
// accepts. No validator may panic or change the request it checks.
func FuzzValidateRequests(f *testing.F) {
	long := strings.Repeat("a", MaxIDLength)
	type seed struct {
		lockID, clientID, requestID      string
		ttl, minTTL, maxTTL, wait, ver   int64
		priority                         int32
		md                               string
		limit, offset                    int
		cursor, pattern, owner, filterMD string
		before, after                    int64
		flags                            uint8
	}
	sec := int64(time.Second)
	for _, s := range []seed{
		{"jobs/nightly", "client-1", "req-1", 30 * sec, 0, 0, 0, 1, 0, "env=prod", 0, 0, "", "jobs/*", "client-1", "env=prod", 0, 0, 0xff},
		{"jobs/nightly", "client-1", "", sec, sec, sec, int64(MaxWaitTimeout), 7, MaxPriority, "", MaxPageSize, 0, "cursor", "", "", "", 2e9, 1e9, 0},
		{long, long, long, 1, 0, 0, 0, 1, MinPriority, formatMetadata(MaxMetadataEntries, "v"), 1, 5, "", "[a-c]*", "", "", 0, 0, 1},
		{long + "a", "é", "\xff", 0, 0, 0, -1, 0, MaxPriority + 1, formatMetadata(MaxMetadataEntries+1, "v"), MaxPageSize + 1, -1, "c", "[", "\x00", "", 1e9, 2e9, 2},
		{"a\x00b", "", "r", -sec, 2 * sec, sec, int64(MaxWaitTimeout) + 1, -5, MinPriority - 1, "=v", -1, 1, "c", `a\`, "o", formatMetadata(MaxMetadataEntries+1, ""), 1, 1, 4},
		{"x", "c", "r", sec - 1, sec, 0, 0, 1, 0, "k=" + strings.Repeat("v", MaxMetadataBytes-1), 0, 0, strings.Repeat("c", MaxCursorLength+1), strings.Repeat("*", MaxIDLength+1), "", "", 0, 0, 8},
		{"x", "c", "", 2 * sec, 0, sec, 0, 1, 0, strings.Repeat("k", MaxMetadataKeyLen+1) + "=v", 0, 0, "", "x", "c", "a=\xff", 0, 5, 3},
		{"ü/\u00e9", "c", "", 1, 0, 0, 1, 1, 0, "\xff=v\nk=\xfe", 0, 0, "", "?/*", "c", "k=v\nk2=v2", 10, 0, 7},
	} {
		f.Add(s.lockID, s.clientID, s.requestID, s.ttl, s.minTTL, s.maxTTL, s.wait, s.ver, s.priority,
			s.md, s.limit, s.offset, s.cursor, s.pattern, s.owner, s.filterMD, s.before, s.after, s.flags)
	}
	f.Fuzz(func(t *testing.T, lockID, clientID, requestID string, ttl, minTTL, maxTTL, wait, version int64,
		priority int32, mdSpec string, limit, offset int, cursor, pattern, owner, filterMD string,
		before, after int64, flags uint8) {
		caps := Capabilities{MinTTL: time.Duration(minTTL), MaxTTL: time.Duration(maxTTL)}
		md := parseMetadata(mdSpec)
		mdCopy := maps.Clone(md)
		ids := specID(lockID) && specID(clientID) && specOptionalID(requestID)
		ttlOK := specTTL(time.Duration(ttl), caps)
		queueOK := ids && specWait(priority, time.Duration(wait)) && specMetadata(md)

		acq := AcquireRequest{LockID: lockID, ClientID: clientID, TTL: time.Duration(ttl), Wait: flags&1 != 0,
			WaitTimeout: time.Duration(wait), Priority: priority, Metadata: md, RequestID: requestID}
		acqCopy := acq
		checkVerdict(t, "ValidateAcquire", ValidateAcquire(&acq, caps), queueOK && ttlOK, lockID, queueOK && !ttlOK)
		enq := EnqueueRequest{LockID: lockID, ClientID: clientID, TTL: time.Duration(ttl),
			WaitTimeout: time.Duration(wait), Priority: priority, Metadata: md, RequestID: requestID}
		enqCopy := enq
		checkVerdict(t, "ValidateEnqueue", ValidateEnqueue(&enq, caps), queueOK && ttlOK, lockID, queueOK && !ttlOK)
		if !reflect.DeepEqual(acq, acqCopy) || !reflect.DeepEqual(enq, enqCopy) || !maps.Equal(md, mdCopy) {
			t.Fatal("a validator changed the request it checked")
		}

		ownerOK := ids && version > 0
		rel := ReleaseRequest{LockID: lockID, ClientID: clientID, Version: version, RequestID: requestID}
		checkVerdict(t, "ValidateRelease", ValidateRelease(&rel), ownerOK, lockID, false)
		ren := RenewRequest{LockID: lockID, ClientID: clientID, Version: version, TTL: time.Duration(ttl), RequestID: requestID}
		checkVerdict(t, "ValidateRenew", ValidateRenew(&ren, caps), ownerOK && ttlOK, lockID, ownerOK && !ttlOK)
		cw := CancelWaitRequest{LockID: lockID, ClientID: clientID, RequestID: requestID}
		checkVerdict(t, "ValidateCancelWait", ValidateCancelWait(&cw), ids, lockID, false)
		get := GetRequest{LockID: lockID, IncludeWaiters: flags&2 != 0, Stale: flags&4 != 0}
		checkVerdict(t, "ValidateGet", ValidateGet(&get), specID(lockID), lockID, false)

		filter := ListFilter{Pattern: pattern, Owner: owner, OnlyHeld: flags&8 != 0, OnlyContested: flags&16 != 0,
			Metadata: parseMetadata(filterMD)}
		if before != 0 {
			filter.ExpiresBefore = time.Unix(0, before)
		}
		if after != 0 {
			filter.ExpiresAfter = time.Unix(0, after)
		}
		list := ListRequest{Filter: filter, Limit: limit, Offset: offset, Cursor: cursor}
		listOK := specList(&list)
		checkVerdict(t, "ValidateList", ValidateList(&list), listOK, "", false)

		// MatchFilter must not panic on any filter; on one ValidateList
		// accepts it must read the filter as documented.
		info := LockInfo{Lock: Lock{LockID: lockID, Owner: clientID, ExpiresAt: time.Unix(0, ttl), Metadata: md},
			Held: flags&32 != 0, WaiterCount: int(flags >> 6)}
		got := MatchFilter(&filter, &info)
		if listOK && got != specMatch(&filter, &info) {
			t.Fatalf("MatchFilter(%+v, %+v) = %v, against the documentation", filter, info, got)
		}
		matchPattern(pattern, lockID)
	})
}
