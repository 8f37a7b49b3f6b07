package backend

import (
	"fmt"
	"path"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const lockID = "jobs/nightly"

func TestValidateID(t *testing.T) {
	e2 := "é" // two bytes
	tests := []struct {
		name string
		id   string
		ok   bool
	}{
		{"empty", "", false},
		{"one byte", "a", true},
		{"typical", "jobs/nightly-backup:42", true},
		{"exactly max ASCII", strings.Repeat("a", MaxIDLength), true},
		{"one over max ASCII", strings.Repeat("a", MaxIDLength+1), false},
		{"exactly max multi-byte", strings.Repeat(e2, MaxIDLength/2), true},
		{"one over max multi-byte", strings.Repeat(e2, MaxIDLength/2) + "a", false},
		{"multi-byte start", "élan", true},
		{"multi-byte only", "锁/任务", true},
		{"four-byte rune", "lock-🔒", true},
		{"replacement char is valid", "\uFFFD", true},
		{"ASCII after multi-byte", "é" + strings.Repeat("x", 50), true},

		{"invalid byte alone", "\xff", false},
		{"invalid byte at start", "\xffabc", false},
		{"invalid byte in middle", "ab\xffc", false},
		{"invalid byte at end", "abc\xff", false},
		{"invalid after multi-byte", "é\xff", false},
		{"invalid later after multi-byte", "éabc\xfedef", false},
		{"truncated rune at end", "abc\xc3", false},
		{"truncated rune after multi-byte", "éa\xe4\xb8", false},
		{"overlong encoding", "\xc0\xaf", false},
		{"surrogate half", "\xed\xa0\x80", false},
		{"bare continuation byte", "a\x80b", false},

		{"NUL alone", "\x00", false},
		{"NUL at start", "\x00abc", false},
		{"NUL in middle", "ab\x00c", false},
		{"NUL at end", "abc\x00", false},
		{"NUL right after multi-byte", "é\x00", false},
		{"NUL later after multi-byte", "éab\x00c", false},
		{"NUL before multi-byte", "a\x00é", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ValidateID("client ID", tt.id)
			if tt.ok {
				checkErr(t, e, CodeUnknown, "")
				return
			}
			checkErr(t, e, CodeInvalidArgument, "")
			// The message names what was wrong so callers can tell IDs apart.
			if !strings.Contains(e.Message, "client ID") {
				t.Errorf("message %q does not name the kind", e.Message)
			}
		})
	}
}

// FuzzValidateID checks ValidateID against a plain statement of its rule.
func FuzzValidateID(f *testing.F) {
	for _, s := range []string{
		"", "a", "jobs/1", "é", "é\x00", "\x00", "a\x00", "\xff", "é\xff",
		strings.Repeat("a", MaxIDLength), strings.Repeat("a", MaxIDLength+1),
		strings.Repeat("é", MaxIDLength/2), "🔒\xc3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		want := id != "" && len(id) <= MaxIDLength && utf8.ValidString(id) && !strings.Contains(id, "\x00")
		e := ValidateID("lock ID", id)
		if got := e == nil; got != want {
			t.Fatalf("ValidateID(%q) = %v, want accepted=%v", id, e, want)
		}
		if e != nil && e.Code != CodeInvalidArgument {
			t.Fatalf("ValidateID(%q) code = %q, want %q", id, e.Code, CodeInvalidArgument)
		}
	})
}

func TestValidateTTL(t *testing.T) {
	unbounded := Capabilities{}
	minOnly := Capabilities{MinTTL: time.Second}
	maxOnly := Capabilities{MaxTTL: time.Minute}
	both := Capabilities{MinTTL: time.Second, MaxTTL: time.Minute}
	tests := []struct {
		name string
		ttl  time.Duration
		caps Capabilities
		ok   bool
	}{
		{"zero", 0, unbounded, false},
		{"negative", -time.Second, unbounded, false},
		{"most negative", time.Duration(-1 << 63), unbounded, false},
		{"zero with bounds", 0, both, false},
		{"one nanosecond unbounded", 1, unbounded, true},
		{"huge unbounded", 1000 * time.Hour, unbounded, true},
		{"below min", time.Second - 1, minOnly, false},
		{"at min", time.Second, minOnly, true},
		{"huge with min only", 1000 * time.Hour, minOnly, true},
		{"tiny with max only", 1, maxOnly, true},
		{"at max", time.Minute, maxOnly, true},
		{"above max", time.Minute + 1, maxOnly, false},
		{"below both", time.Millisecond, both, false},
		{"inside both", 30 * time.Second, both, true},
		{"above both", time.Hour, both, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ValidateTTL(lockID, tt.ttl, tt.caps)
			if tt.ok {
				checkErr(t, e, CodeUnknown, "")
			} else {
				checkErr(t, e, CodeInvalidTTL, lockID)
			}
		})
	}
}

// entries returns n metadata pairs with distinct short keys.
func entries(n int) map[string]string {
	md := make(map[string]string, n)
	for i := range n {
		md[fmt.Sprintf("k%d", i)] = "v"
	}
	return md
}

func TestValidateMetadata(t *testing.T) {
	half := MaxMetadataBytes / 2
	tests := []struct {
		name string
		md   map[string]string
		ok   bool
	}{
		{"nil", nil, true},
		{"empty", map[string]string{}, true},
		{"typical", map[string]string{"host": "db-1", "région": "eu-ouest"}, true},
		{"max entries", entries(MaxMetadataEntries), true},
		{"too many entries", entries(MaxMetadataEntries + 1), false},
		{"max key length", map[string]string{strings.Repeat("k", MaxMetadataKeyLen): "v"}, true},
		{"key too long", map[string]string{strings.Repeat("k", MaxMetadataKeyLen+1): "v"}, false},
		{"empty key", map[string]string{"": "v"}, false},
		{"empty key among others", map[string]string{"a": "1", "": "2", "b": "3"}, false},
		{"empty value", map[string]string{"k": ""}, true},
		{"max total in one pair", map[string]string{"k": strings.Repeat("v", MaxMetadataBytes-1)}, true},
		{"total one over in one pair", map[string]string{"k": strings.Repeat("v", MaxMetadataBytes)}, false},
		{"max total across pairs", map[string]string{"a": strings.Repeat("v", half-1), "b": strings.Repeat("v", half-1)}, true},
		{"total one over across pairs", map[string]string{"a": strings.Repeat("v", half-1), "b": strings.Repeat("v", half)}, false},
		{"invalid UTF-8 key", map[string]string{"k\xff": "v"}, false},
		{"invalid UTF-8 value", map[string]string{"k": "v\xff"}, false},
		{"invalid UTF-8 value after multi-byte", map[string]string{"k": "é\xc3"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ValidateMetadata(lockID, tt.md)
			if tt.ok {
				checkErr(t, e, CodeUnknown, "")
			} else {
				checkErr(t, e, CodeInvalidArgument, lockID)
			}
		})
	}
}

// reqCase is one row of the request validators' tables: want is
// CodeUnknown for a request that must pass, and wantLock is the LockID the
// rejection must carry ("" where the lock ID itself is the problem).
type reqCase[R any] struct {
	name     string
	edit     func(*R)
	want     Code
	wantLock string
}

var testCaps = Capabilities{MinTTL: 10 * time.Millisecond, MaxTTL: time.Hour}

var (
	longID = strings.Repeat("x", MaxIDLength+1)
	nulID  = "a\x00b"
	badID  = "é\xff"
)

func TestValidateAcquire(t *testing.T) {
	checkErr(t, ValidateAcquire(nil, testCaps), CodeInvalidArgument, "")
	tests := []reqCase[AcquireRequest]{
		{"minimal", func(*AcquireRequest) {}, CodeUnknown, ""},
		{"everything set", func(r *AcquireRequest) {
			r.Wait, r.WaitTimeout, r.Priority = true, time.Minute, 7
			r.Metadata = map[string]string{"k": "v"}
			r.RequestID = "req-1"
		}, CodeUnknown, ""},
		{"empty lock ID", func(r *AcquireRequest) { r.LockID = "" }, CodeInvalidArgument, ""},
		{"lock ID too long", func(r *AcquireRequest) { r.LockID = longID }, CodeInvalidArgument, ""},
		{"lock ID with NUL", func(r *AcquireRequest) { r.LockID = nulID }, CodeInvalidArgument, ""},
		{"empty client ID", func(r *AcquireRequest) { r.ClientID = "" }, CodeInvalidArgument, lockID},
		{"client ID invalid UTF-8", func(r *AcquireRequest) { r.ClientID = badID }, CodeInvalidArgument, lockID},
		{"request ID too long", func(r *AcquireRequest) { r.RequestID = longID }, CodeInvalidArgument, lockID},
		{"request ID with NUL", func(r *AcquireRequest) { r.RequestID = nulID }, CodeInvalidArgument, lockID},
		{"zero TTL", func(r *AcquireRequest) { r.TTL = 0 }, CodeInvalidTTL, lockID},
		{"negative TTL", func(r *AcquireRequest) { r.TTL = -time.Second }, CodeInvalidTTL, lockID},
		{"TTL below min", func(r *AcquireRequest) { r.TTL = time.Millisecond }, CodeInvalidTTL, lockID},
		{"TTL above max", func(r *AcquireRequest) { r.TTL = time.Hour + 1 }, CodeInvalidTTL, lockID},
		{"TTL at max", func(r *AcquireRequest) { r.TTL = time.Hour }, CodeUnknown, ""},
		{"wait timeout negative", func(r *AcquireRequest) { r.WaitTimeout = -1 }, CodeInvalidArgument, lockID},
		{"wait timeout at max", func(r *AcquireRequest) { r.WaitTimeout = MaxWaitTimeout }, CodeUnknown, ""},
		{"wait timeout above max", func(r *AcquireRequest) { r.WaitTimeout = MaxWaitTimeout + 1 }, CodeInvalidArgument, lockID},
		{"priority at max", func(r *AcquireRequest) { r.Priority = MaxPriority }, CodeUnknown, ""},
		{"priority at min", func(r *AcquireRequest) { r.Priority = MinPriority }, CodeUnknown, ""},
		{"priority above max", func(r *AcquireRequest) { r.Priority = MaxPriority + 1 }, CodeInvalidArgument, lockID},
		{"priority below min", func(r *AcquireRequest) { r.Priority = MinPriority - 1 }, CodeInvalidArgument, lockID},
		{"bad metadata", func(r *AcquireRequest) { r.Metadata = map[string]string{"": "v"} }, CodeInvalidArgument, lockID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := AcquireRequest{LockID: lockID, ClientID: "client-1", TTL: time.Second}
			tt.edit(&r)
			checkErr(t, ValidateAcquire(&r, testCaps), tt.want, tt.wantLock)
		})
	}
}

func TestValidateEnqueue(t *testing.T) {
	checkErr(t, ValidateEnqueue(nil, testCaps), CodeInvalidArgument, "")
	tests := []reqCase[EnqueueRequest]{
		{"minimal", func(*EnqueueRequest) {}, CodeUnknown, ""},
		{"everything set", func(r *EnqueueRequest) {
			r.WaitTimeout, r.Priority = MaxWaitTimeout, MinPriority
			r.Metadata = map[string]string{"k": "v"}
			r.RequestID = "req-1"
		}, CodeUnknown, ""},
		{"empty lock ID", func(r *EnqueueRequest) { r.LockID = "" }, CodeInvalidArgument, ""},
		{"lock ID invalid UTF-8", func(r *EnqueueRequest) { r.LockID = badID }, CodeInvalidArgument, ""},
		{"client ID too long", func(r *EnqueueRequest) { r.ClientID = longID }, CodeInvalidArgument, lockID},
		{"request ID invalid UTF-8", func(r *EnqueueRequest) { r.RequestID = badID }, CodeInvalidArgument, lockID},
		{"zero TTL", func(r *EnqueueRequest) { r.TTL = 0 }, CodeInvalidTTL, lockID},
		{"TTL above max", func(r *EnqueueRequest) { r.TTL = 2 * time.Hour }, CodeInvalidTTL, lockID},
		{"wait timeout negative", func(r *EnqueueRequest) { r.WaitTimeout = -time.Second }, CodeInvalidArgument, lockID},
		{"wait timeout above max", func(r *EnqueueRequest) { r.WaitTimeout = MaxWaitTimeout + time.Second }, CodeInvalidArgument, lockID},
		{"priority above max", func(r *EnqueueRequest) { r.Priority = MaxPriority + 1 }, CodeInvalidArgument, lockID},
		{"priority below min", func(r *EnqueueRequest) { r.Priority = MinPriority - 1 }, CodeInvalidArgument, lockID},
		{"too much metadata", func(r *EnqueueRequest) { r.Metadata = entries(MaxMetadataEntries + 1) }, CodeInvalidArgument, lockID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := EnqueueRequest{LockID: lockID, ClientID: "client-1", TTL: time.Second}
			tt.edit(&r)
			checkErr(t, ValidateEnqueue(&r, testCaps), tt.want, tt.wantLock)
		})
	}
}

func TestValidateRelease(t *testing.T) {
	checkErr(t, ValidateRelease(nil), CodeInvalidArgument, "")
	tests := []reqCase[ReleaseRequest]{
		{"minimal", func(*ReleaseRequest) {}, CodeUnknown, ""},
		{"with request ID", func(r *ReleaseRequest) { r.RequestID = "req-1" }, CodeUnknown, ""},
		{"empty lock ID", func(r *ReleaseRequest) { r.LockID = "" }, CodeInvalidArgument, ""},
		{"lock ID with NUL", func(r *ReleaseRequest) { r.LockID = nulID }, CodeInvalidArgument, ""},
		{"empty client ID", func(r *ReleaseRequest) { r.ClientID = "" }, CodeInvalidArgument, lockID},
		{"client ID with NUL", func(r *ReleaseRequest) { r.ClientID = nulID }, CodeInvalidArgument, lockID},
		{"request ID too long", func(r *ReleaseRequest) { r.RequestID = longID }, CodeInvalidArgument, lockID},
		{"zero version", func(r *ReleaseRequest) { r.Version = 0 }, CodeInvalidArgument, lockID},
		{"negative version", func(r *ReleaseRequest) { r.Version = -5 }, CodeInvalidArgument, lockID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ReleaseRequest{LockID: lockID, ClientID: "client-1", Version: 1}
			tt.edit(&r)
			checkErr(t, ValidateRelease(&r), tt.want, tt.wantLock)
		})
	}
}

func TestValidateRenew(t *testing.T) {
	checkErr(t, ValidateRenew(nil, testCaps), CodeInvalidArgument, "")
	tests := []reqCase[RenewRequest]{
		{"minimal", func(*RenewRequest) {}, CodeUnknown, ""},
		{"large version", func(r *RenewRequest) { r.Version = 1 << 62 }, CodeUnknown, ""},
		{"empty lock ID", func(r *RenewRequest) { r.LockID = "" }, CodeInvalidArgument, ""},
		{"lock ID too long", func(r *RenewRequest) { r.LockID = longID }, CodeInvalidArgument, ""},
		{"client ID invalid UTF-8", func(r *RenewRequest) { r.ClientID = badID }, CodeInvalidArgument, lockID},
		{"request ID with NUL", func(r *RenewRequest) { r.RequestID = nulID }, CodeInvalidArgument, lockID},
		{"zero version", func(r *RenewRequest) { r.Version = 0 }, CodeInvalidArgument, lockID},
		{"negative version", func(r *RenewRequest) { r.Version = -1 }, CodeInvalidArgument, lockID},
		{"zero TTL", func(r *RenewRequest) { r.TTL = 0 }, CodeInvalidTTL, lockID},
		{"TTL below min", func(r *RenewRequest) { r.TTL = time.Millisecond }, CodeInvalidTTL, lockID},
		{"TTL above max", func(r *RenewRequest) { r.TTL = time.Hour + 1 }, CodeInvalidTTL, lockID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := RenewRequest{LockID: lockID, ClientID: "client-1", Version: 3, TTL: time.Second}
			tt.edit(&r)
			checkErr(t, ValidateRenew(&r, testCaps), tt.want, tt.wantLock)
		})
	}
}

func TestValidateGet(t *testing.T) {
	checkErr(t, ValidateGet(nil), CodeInvalidArgument, "")
	tests := []reqCase[GetRequest]{
		{"minimal", func(*GetRequest) {}, CodeUnknown, ""},
		{"flags set", func(r *GetRequest) { r.IncludeWaiters, r.Stale = true, true }, CodeUnknown, ""},
		{"empty lock ID", func(r *GetRequest) { r.LockID = "" }, CodeInvalidArgument, ""},
		{"lock ID too long", func(r *GetRequest) { r.LockID = longID }, CodeInvalidArgument, ""},
		{"lock ID with NUL", func(r *GetRequest) { r.LockID = nulID }, CodeInvalidArgument, ""},
		{"lock ID invalid UTF-8", func(r *GetRequest) { r.LockID = badID }, CodeInvalidArgument, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := GetRequest{LockID: lockID}
			tt.edit(&r)
			checkErr(t, ValidateGet(&r), tt.want, tt.wantLock)
		})
	}
}

func TestValidateCancelWait(t *testing.T) {
	checkErr(t, ValidateCancelWait(nil), CodeInvalidArgument, "")
	tests := []reqCase[CancelWaitRequest]{
		{"minimal", func(*CancelWaitRequest) {}, CodeUnknown, ""},
		{"with request ID", func(r *CancelWaitRequest) { r.RequestID = "req-1" }, CodeUnknown, ""},
		{"empty lock ID", func(r *CancelWaitRequest) { r.LockID = "" }, CodeInvalidArgument, ""},
		{"lock ID invalid UTF-8", func(r *CancelWaitRequest) { r.LockID = badID }, CodeInvalidArgument, ""},
		{"empty client ID", func(r *CancelWaitRequest) { r.ClientID = "" }, CodeInvalidArgument, lockID},
		{"client ID too long", func(r *CancelWaitRequest) { r.ClientID = longID }, CodeInvalidArgument, lockID},
		{"request ID with NUL", func(r *CancelWaitRequest) { r.RequestID = nulID }, CodeInvalidArgument, lockID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := CancelWaitRequest{LockID: lockID, ClientID: "client-1"}
			tt.edit(&r)
			checkErr(t, ValidateCancelWait(&r), tt.want, tt.wantLock)
		})
	}
}

func TestValidateList(t *testing.T) {
	checkErr(t, ValidateList(nil), CodeInvalidArgument, "")
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []reqCase[ListRequest]{
		{"zero request", func(*ListRequest) {}, CodeUnknown, ""},
		{"limit negative", func(r *ListRequest) { r.Limit = -1 }, CodeInvalidArgument, ""},
		{"limit at max", func(r *ListRequest) { r.Limit = MaxPageSize }, CodeUnknown, ""},
		{"limit above max", func(r *ListRequest) { r.Limit = MaxPageSize + 1 }, CodeInvalidArgument, ""},
		{"offset", func(r *ListRequest) { r.Offset = 5 }, CodeUnknown, ""},
		{"offset negative", func(r *ListRequest) { r.Offset = -1 }, CodeInvalidArgument, ""},
		{"cursor", func(r *ListRequest) { r.Cursor = EncodeCursor("jobs/a") }, CodeUnknown, ""},
		{"cursor and offset", func(r *ListRequest) { r.Cursor, r.Offset = EncodeCursor("jobs/a"), 1 }, CodeInvalidArgument, ""},
		{"cursor at max length", func(r *ListRequest) { r.Cursor = strings.Repeat("A", MaxCursorLength) }, CodeUnknown, ""},
		{"cursor too long", func(r *ListRequest) { r.Cursor = strings.Repeat("A", MaxCursorLength+1) }, CodeInvalidArgument, ""},
		{"pattern", func(r *ListRequest) { r.Filter.Pattern = "jobs/*" }, CodeUnknown, ""},
		{"pattern with class", func(r *ListRequest) { r.Filter.Pattern = "jobs/[a-c]?" }, CodeUnknown, ""},
		{"pattern at max length", func(r *ListRequest) { r.Filter.Pattern = strings.Repeat("a", MaxIDLength) }, CodeUnknown, ""},
		{"pattern too long", func(r *ListRequest) { r.Filter.Pattern = strings.Repeat("a", MaxIDLength+1) }, CodeInvalidArgument, ""},
		{"pattern open bracket", func(r *ListRequest) { r.Filter.Pattern = "[" }, CodeInvalidArgument, ""},
		{"pattern unclosed class late", func(r *ListRequest) { r.Filter.Pattern = "jobs/[a-" }, CodeInvalidArgument, ""},
		{"pattern bad after star", func(r *ListRequest) { r.Filter.Pattern = "*/[" }, CodeInvalidArgument, ""},
		{"pattern trailing backslash", func(r *ListRequest) { r.Filter.Pattern = `jobs\` }, CodeInvalidArgument, ""},
		{"owner", func(r *ListRequest) { r.Filter.Owner = "client-1" }, CodeUnknown, ""},
		{"owner with NUL", func(r *ListRequest) { r.Filter.Owner = nulID }, CodeInvalidArgument, ""},
		{"owner too long", func(r *ListRequest) { r.Filter.Owner = longID }, CodeInvalidArgument, ""},
		{"owner invalid UTF-8", func(r *ListRequest) { r.Filter.Owner = badID }, CodeInvalidArgument, ""},
		{"metadata filter at max", func(r *ListRequest) { r.Filter.Metadata = entries(MaxMetadataEntries) }, CodeUnknown, ""},
		{"metadata filter too big", func(r *ListRequest) { r.Filter.Metadata = entries(MaxMetadataEntries + 1) }, CodeInvalidArgument, ""},
		{"expires before only", func(r *ListRequest) { r.Filter.ExpiresBefore = now }, CodeUnknown, ""},
		{"expires after only", func(r *ListRequest) { r.Filter.ExpiresAfter = now }, CodeUnknown, ""},
		{"expiry window", func(r *ListRequest) {
			r.Filter.ExpiresAfter, r.Filter.ExpiresBefore = now, now.Add(time.Nanosecond)
		}, CodeUnknown, ""},
		{"empty expiry window, equal", func(r *ListRequest) {
			r.Filter.ExpiresAfter, r.Filter.ExpiresBefore = now, now
		}, CodeInvalidArgument, ""},
		{"empty expiry window, reversed", func(r *ListRequest) {
			r.Filter.ExpiresAfter, r.Filter.ExpiresBefore = now.Add(time.Second), now
		}, CodeInvalidArgument, ""},
		{"every filter field", func(r *ListRequest) {
			r.Limit, r.Cursor, r.IncludeWaiters, r.Stale = 10, EncodeCursor("a"), true, true
			r.Filter = ListFilter{
				Pattern: "jobs/*", Owner: "c", OnlyHeld: true, OnlyContested: true,
				ExpiresAfter: now, ExpiresBefore: now.Add(time.Hour),
				Metadata: map[string]string{"k": "v"},
			}
		}, CodeUnknown, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r ListRequest
			tt.edit(&r)
			checkErr(t, ValidateList(&r), tt.want, tt.wantLock)
		})
	}
}

func TestMatchFilter(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	held := LockInfo{
		Lock: Lock{
			LockID: "jobs/a", Owner: "c1", Version: 3, ExpiresAt: now,
			Metadata: map[string]string{"env": "prod", "team": "db"},
		},
		Held: true, WaiterCount: 2,
	}
	heldFree := held // held, nobody waiting, no metadata
	heldFree.WaiterCount = 0
	heldFree.Metadata = nil
	uncontested := held
	uncontested.WaiterCount = 0
	// An unheld lock that still has waiters. Its stale grant fields must not
	// make it match filters that only held locks can match.
	unheld := LockInfo{
		Lock:        Lock{LockID: "jobs/b", Owner: "c1", ExpiresAt: now, Metadata: map[string]string{"env": "prod"}},
		WaiterCount: 1,
	}
	unheldIdle := LockInfo{Lock: Lock{LockID: "other/c"}}

	all := ListFilter{
		Pattern: "jobs/?", Owner: "c1", OnlyHeld: true, OnlyContested: true,
		ExpiresAfter: now.Add(-time.Second), ExpiresBefore: now.Add(time.Second),
		Metadata: map[string]string{"env": "prod", "team": "db"},
	}
	without := func(edit func(*ListFilter)) ListFilter {
		f := all
		edit(&f)
		return f
	}

	tests := []struct {
		name string
		f    ListFilter
		info LockInfo
		want bool
	}{
		{"zero filter, held", ListFilter{}, held, true},
		{"zero filter, unheld", ListFilter{}, unheld, true},
		{"zero filter, idle", ListFilter{}, unheldIdle, true},

		{"pattern matches", ListFilter{Pattern: "jobs/*"}, held, true},
		{"pattern matches unheld", ListFilter{Pattern: "jobs/*"}, unheld, true},
		{"pattern exact", ListFilter{Pattern: "jobs/a"}, held, true},
		{"pattern other ID", ListFilter{Pattern: "jobs/b"}, held, false},
		{"pattern other prefix", ListFilter{Pattern: "other/*"}, held, false},
		{"star does not cross slash", ListFilter{Pattern: "*"}, held, false},
		{"question mark", ListFilter{Pattern: "jobs/?"}, held, true},
		{"character class", ListFilter{Pattern: "jobs/[b-z]"}, held, false},
		{"malformed pattern matches nothing", ListFilter{Pattern: "jobs/["}, held, false},

		{"owner matches", ListFilter{Owner: "c1"}, held, true},
		{"owner differs", ListFilter{Owner: "c2"}, held, false},
		{"owner on unheld with stale owner", ListFilter{Owner: "c1"}, unheld, false},

		{"only held, held", ListFilter{OnlyHeld: true}, held, true},
		{"only held, unheld", ListFilter{OnlyHeld: true}, unheld, false},

		{"contested, held with waiters", ListFilter{OnlyContested: true}, held, true},
		{"contested, held without waiters", ListFilter{OnlyContested: true}, heldFree, false},
		{"contested, unheld with waiters", ListFilter{OnlyContested: true}, unheld, true},
		{"contested, idle", ListFilter{OnlyContested: true}, unheldIdle, false},

		{"expires before, later bound", ListFilter{ExpiresBefore: now.Add(time.Nanosecond)}, held, true},
		{"expires before is strict", ListFilter{ExpiresBefore: now}, held, false},
		{"expires before, earlier bound", ListFilter{ExpiresBefore: now.Add(-time.Hour)}, held, false},
		{"expires before, unheld", ListFilter{ExpiresBefore: now.Add(time.Hour)}, unheld, false},
		{"expires after, earlier bound", ListFilter{ExpiresAfter: now.Add(-time.Nanosecond)}, held, true},
		{"expires after is strict", ListFilter{ExpiresAfter: now}, held, false},
		{"expires after, later bound", ListFilter{ExpiresAfter: now.Add(time.Hour)}, held, false},
		{"expires after, unheld", ListFilter{ExpiresAfter: now.Add(-time.Hour)}, unheld, false},
		{"inside window", ListFilter{ExpiresAfter: now.Add(-time.Second), ExpiresBefore: now.Add(time.Second)}, held, true},
		{"window before expiry", ListFilter{ExpiresAfter: now.Add(-2 * time.Second), ExpiresBefore: now.Add(-time.Second)}, held, false},
		{"window after expiry", ListFilter{ExpiresAfter: now.Add(time.Second), ExpiresBefore: now.Add(2 * time.Second)}, held, false},

		{"metadata one pair", ListFilter{Metadata: map[string]string{"env": "prod"}}, held, true},
		{"metadata every pair", ListFilter{Metadata: map[string]string{"env": "prod", "team": "db"}}, held, true},
		{"metadata wrong value", ListFilter{Metadata: map[string]string{"env": "dev"}}, held, false},
		{"metadata missing key", ListFilter{Metadata: map[string]string{"zone": "a"}}, held, false},
		{"metadata missing key, empty value", ListFilter{Metadata: map[string]string{"zone": ""}}, held, false},
		{"metadata one of two wrong", ListFilter{Metadata: map[string]string{"env": "prod", "team": "web"}}, held, false},
		{"metadata on grant without metadata", ListFilter{Metadata: map[string]string{"env": "prod"}}, heldFree, false},
		{"metadata on unheld with stale metadata", ListFilter{Metadata: map[string]string{"env": "prod"}}, unheld, false},
		{"empty metadata filter, unheld", ListFilter{Metadata: map[string]string{}}, unheld, true},

		{"all fields match", all, held, true},
		{"all fields, unheld", all, unheld, false},
		{"all but pattern", without(func(f *ListFilter) { f.Pattern = "jobs/b" }), held, false},
		{"all but owner", without(func(f *ListFilter) { f.Owner = "c2" }), held, false},
		{"all but contested", all, uncontested, false},
		{"all but expires before", without(func(f *ListFilter) { f.ExpiresBefore = now }), held, false},
		{"all but expires after", without(func(f *ListFilter) { f.ExpiresAfter = now }), held, false},
		{"all but metadata", without(func(f *ListFilter) { f.Metadata = map[string]string{"env": "dev"} }), held, false},
		{"pattern and contested on unheld", ListFilter{Pattern: "jobs/*", OnlyContested: true}, unheld, true},
		{"pattern and only held on unheld", ListFilter{Pattern: "jobs/*", OnlyHeld: true}, unheld, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, info := tt.f, tt.info
			if got := MatchFilter(&f, &info); got != tt.want {
				t.Errorf("MatchFilter(%+v, %q held=%v) = %v, want %v", tt.f, tt.info.LockID, tt.info.Held, got, tt.want)
			}
		})
	}
}

// matchPattern's shortcuts must agree with path.Match on every pattern the
// validators accept.
func FuzzMatchPattern(f *testing.F) {
	for _, seed := range [][2]string{
		{"jobs/*", "jobs/a"}, {"jobs/*", "jobs/a/b"}, {"*", "a/b"}, {"*", ""},
		{"jobs/nightly", "jobs/nightly"}, {"j?bs/*", "jobs/x"}, {`a\*`, "a*"},
		{"[a-c]*", "b/c"}, {"jobs*", "jobs"}, {"", "x"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pattern, id string) {
		if pattern == "" {
			return
		}
		want, err := path.Match(pattern, id)
		if err != nil {
			return // ValidateList refuses such a pattern
		}
		if got := matchPattern(pattern, id); got != want {
			t.Fatalf("matchPattern(%q, %q) = %v, path.Match says %v", pattern, id, got, want)
		}
	})
}
