package backend

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestCursorRoundTrip(t *testing.T) {
	ids := []string{
		"a",
		"jobs/nightly",
		"a?b&c=d#e f%20",
		"a+b/c=d",
		"锁/任务-🔒",
		"\xfb\xff\xbf", // "+/+/" in standard base64
		"\xff\xfe\xfd\x00\x01",
		strings.Repeat("z", MaxIDLength),
		strings.Repeat("é", MaxIDLength/2),
	}
	for _, id := range ids {
		c := EncodeCursor(id)
		if c == "" {
			t.Errorf("EncodeCursor(%q) is empty, which means the first page", id)
		}
		// The cursor goes into URLs and query strings unescaped.
		if i := strings.IndexFunc(c, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}); i >= 0 {
			t.Errorf("EncodeCursor(%q) = %q has a character that is not URL-safe at %d", id, c, i)
		}
		// Any cursor Page hands out must pass ValidateList.
		if len(c) > MaxCursorLength {
			t.Errorf("EncodeCursor(%q) is %d bytes, more than MaxCursorLength", id, len(c))
		}
		got, e := DecodeCursor(c)
		if e != nil {
			t.Errorf("DecodeCursor(EncodeCursor(%q)) failed: %v", id, e)
			continue
		}
		if got != id {
			t.Errorf("DecodeCursor(EncodeCursor(%q)) = %q", id, got)
		}
	}
}

func TestDecodeCursorMalformed(t *testing.T) {
	for _, c := range []string{
		"!!!!",
		"a",    // a length no encoding produces
		"YQ==", // padded: the cursor alphabet has no padding
		"+/+/", // standard alphabet, not URL-safe
		"YW Jj",
		"YWJj\x00",
		"é",
	} {
		got, e := DecodeCursor(c)
		if e == nil {
			t.Errorf("DecodeCursor(%q) = %q, want an error", c, got)
			continue
		}
		checkErr(t, e, CodeInvalidArgument, "")
		if e.Err == nil {
			t.Errorf("DecodeCursor(%q): the decoding error is not kept as the cause", c)
		}
	}
}

// locks returns LockInfos with the given IDs, which must be sorted.
func locks(ids ...string) []LockInfo {
	out := make([]LockInfo, len(ids))
	for i, id := range ids {
		out[i] = LockInfo{Lock: Lock{LockID: id, Owner: "c", Version: int64(i + 1)}, Held: true}
	}
	return out
}

// numbered returns n locks named lock-0000, lock-0001, ...
func numbered(n int) []LockInfo {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("lock-%04d", i)
	}
	return locks(ids...)
}

func lockIDs(infos []LockInfo) []string {
	ids := make([]string, len(infos))
	for i, l := range infos {
		ids[i] = l.LockID
	}
	return ids
}

func TestPage(t *testing.T) {
	ten := locks("a", "b", "c", "d", "e", "f", "g", "h", "i", "j")
	tests := []struct {
		name    string
		matches []LockInfo
		req     ListRequest
		want    []string
		next    string // lock ID the next cursor must resume after; "" for none
	}{
		{"first page", ten, ListRequest{Limit: 3}, []string{"a", "b", "c"}, "c"},
		{"offset", ten, ListRequest{Limit: 3, Offset: 4}, []string{"e", "f", "g"}, "g"},
		{"offset to exact end", ten, ListRequest{Limit: 3, Offset: 7}, []string{"h", "i", "j"}, ""},
		{"offset to short last page", ten, ListRequest{Limit: 3, Offset: 8}, []string{"i", "j"}, ""},
		{"offset at end", ten, ListRequest{Limit: 3, Offset: 10}, []string{}, ""},
		{"offset past end", ten, ListRequest{Limit: 3, Offset: 50}, []string{}, ""},
		{"cursor", ten, ListRequest{Limit: 3, Cursor: EncodeCursor("c")}, []string{"d", "e", "f"}, "f"},
		{"cursor to exact end", ten, ListRequest{Limit: 3, Cursor: EncodeCursor("g")}, []string{"h", "i", "j"}, ""},
		{"cursor after last", ten, ListRequest{Limit: 3, Cursor: EncodeCursor("j")}, []string{}, ""},
		{"cursor past every ID", ten, ListRequest{Limit: 3, Cursor: EncodeCursor("zzz")}, []string{}, ""},
		{"cursor before every ID", ten, ListRequest{Limit: 2, Cursor: EncodeCursor("0")}, []string{"a", "b"}, "b"},
		{"cursor of a vanished ID", ten, ListRequest{Limit: 2, Cursor: EncodeCursor("cc")}, []string{"d", "e"}, "e"},
		{"cursor is a prefix of an ID", locks("a", "ab", "b"), ListRequest{Cursor: EncodeCursor("a")}, []string{"ab", "b"}, ""},
		{"byte order, not rune order", locks("Z", "a", "é"), ListRequest{Cursor: EncodeCursor("a")}, []string{"é"}, ""},
		{"default limit fits all", ten, ListRequest{}, lockIDs(ten), ""},
		{"limit larger than matches", ten, ListRequest{Limit: MaxPageSize}, lockIDs(ten), ""},
		{"limit one", ten, ListRequest{Limit: 1}, []string{"a"}, "a"},
		{"no matches", nil, ListRequest{Limit: 3}, []string{}, ""},
		{"no matches with cursor", nil, ListRequest{Cursor: EncodeCursor("a")}, []string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			res, err := Page(tt.matches, &req)
			if err != nil {
				t.Fatalf("Page: %v", err)
			}
			if got := lockIDs(res.Locks); !slices.Equal(got, tt.want) {
				t.Errorf("page = %q, want %q", got, tt.want)
			}
			var next string
			if tt.next != "" {
				next = EncodeCursor(tt.next)
			}
			if res.NextCursor != next {
				t.Errorf("NextCursor = %q, want %q", res.NextCursor, next)
			}
			if res.Total != len(tt.matches) {
				t.Errorf("Total = %d, want %d", res.Total, len(tt.matches))
			}
		})
	}
}

func TestPageDefaultLimit(t *testing.T) {
	all := numbered(2*DefaultPageSize + DefaultPageSize/2)
	var pages [][]string
	req := &ListRequest{}
	for {
		res, err := Page(all, req)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, lockIDs(res.Locks))
		if res.NextCursor == "" {
			break
		}
		req = &ListRequest{Cursor: res.NextCursor}
	}
	want := []int{DefaultPageSize, DefaultPageSize, DefaultPageSize / 2}
	if len(pages) != len(want) {
		t.Fatalf("%d pages, want %d", len(pages), len(want))
	}
	for i, p := range pages {
		if len(p) != want[i] {
			t.Errorf("page %d has %d locks, want %d", i, len(p), want[i])
		}
	}
}

func TestPageMalformedCursor(t *testing.T) {
	res, err := Page(locks("a", "b"), &ListRequest{Cursor: "not a cursor!"})
	if err == nil {
		t.Fatalf("Page = %+v, want an error", res)
	}
	if !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Page error %v is not ErrInvalidArgument", err)
	}
	if CodeOf(err) != CodeInvalidArgument {
		t.Errorf("CodeOf = %q, want %q", CodeOf(err), CodeInvalidArgument)
	}
}

// TestPageAcrossChanges checks the promise that makes cursors better than
// offsets: a page boundary survives locks coming and going between calls.
func TestPageAcrossChanges(t *testing.T) {
	first, err := Page(locks("a", "b", "c", "d", "e", "f", "g"), &ListRequest{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := lockIDs(first.Locks); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("first page = %q", got)
	}
	tests := []struct {
		name  string
		after []string
		want  []string
	}{
		{"last returned lock gone", []string{"a", "b", "d", "e", "f", "g"}, []string{"d", "e", "f"}},
		{"several gone", []string{"a", "b", "f", "g"}, []string{"f", "g"}},
		{"earlier locks gone", []string{"d", "e", "f", "g"}, []string{"d", "e", "f"}},
		{"earlier lock added", []string{"0", "a", "b", "c", "d", "e", "f", "g"}, []string{"d", "e", "f"}},
		{"lock added just after", []string{"a", "b", "c", "ca", "d", "e", "f", "g"}, []string{"ca", "d", "e"}},
		{"everything after gone", []string{"a", "b", "c"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Page(locks(tt.after...), &ListRequest{Limit: 3, Cursor: first.NextCursor})
			if err != nil {
				t.Fatal(err)
			}
			if got := lockIDs(res.Locks); !slices.Equal(got, tt.want) {
				t.Errorf("next page = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPageWalk(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 10, 99, 100, 101, 250} {
		for _, limit := range []int{0, 1, 3, 7, 10, 100, MaxPageSize} {
			all := numbered(n)
			size := limit
			if size == 0 {
				size = DefaultPageSize
			}
			wantPages := max(1, (n+size-1)/size)

			t.Run(fmt.Sprintf("cursor/n=%d/limit=%d", n, limit), func(t *testing.T) {
				var seen []string
				req := &ListRequest{Limit: limit}
				for pages := 1; ; pages++ {
					if pages > wantPages {
						t.Fatalf("more than %d pages", wantPages)
					}
					res, err := Page(all, req)
					if err != nil {
						t.Fatal(err)
					}
					if len(res.Locks) > size {
						t.Fatalf("page of %d locks, limit %d", len(res.Locks), size)
					}
					seen = append(seen, lockIDs(res.Locks)...)
					if res.NextCursor == "" {
						if pages != wantPages {
							t.Errorf("%d pages, want %d", pages, wantPages)
						}
						break
					}
					if len(res.Locks) == 0 {
						t.Fatal("empty page with a next cursor")
					}
					req = &ListRequest{Limit: limit, Cursor: res.NextCursor}
				}
				if want := lockIDs(all); !slices.Equal(seen, want) {
					t.Errorf("walk visited %d locks %q..., want each of %d once in order", len(seen), head(seen), len(want))
				}
			})

			t.Run(fmt.Sprintf("offset/n=%d/limit=%d", n, limit), func(t *testing.T) {
				var seen []string
				for off := 0; ; {
					res, err := Page(all, &ListRequest{Limit: limit, Offset: off})
					if err != nil {
						t.Fatal(err)
					}
					seen = append(seen, lockIDs(res.Locks)...)
					off += len(res.Locks)
					if res.NextCursor == "" {
						break
					}
				}
				if want := lockIDs(all); !slices.Equal(seen, want) {
					t.Errorf("walk visited %d locks, want each of %d once in order", len(seen), len(want))
				}
			})
		}
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }

// TestPageDoesNotExposeRest checks that a caller appending to a page cannot
// overwrite the driver's slice beyond it.
func TestPageDoesNotExposeRest(t *testing.T) {
	all := locks("a", "b", "c", "d")
	res, err := Page(all, &ListRequest{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	_ = append(res.Locks, LockInfo{Lock: Lock{LockID: "intruder"}})
	if all[2].LockID != "c" {
		t.Errorf("appending to a page overwrote the next match with %q", all[2].LockID)
	}
}
