package backend

import (
	"encoding/base64"
	"sort"
)

// EncodeCursor makes the opaque List cursor that resumes after lockID.
func EncodeCursor(lockID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(lockID))
}

// DecodeCursor returns the lock ID a cursor resumes after.
func DecodeCursor(cursor string) (string, *Error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return "", &Error{Code: CodeInvalidArgument, Message: "malformed list cursor", Err: err}
	}
	return string(b), nil
}

// Page cuts one page out of matches, which must hold every lock that matches
// req.Filter, sorted by lock ID. Drivers that filter in process use it so that
// every store pages the same way: the cursor resumes strictly after the last
// lock ID returned, so a page boundary survives locks appearing and
// disappearing between calls (a lock is never returned twice, and one that
// exists throughout is never skipped).
func Page(matches []LockInfo, req *ListRequest) (*ListResult, error) {
	start := 0
	if req.Cursor != "" {
		after, e := DecodeCursor(req.Cursor)
		if e != nil {
			return nil, e
		}
		start = sort.Search(len(matches), func(i int) bool { return matches[i].LockID > after })
	} else {
		start = min(req.Offset, len(matches))
	}
	limit := req.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	end := min(start+limit, len(matches))
	res := &ListResult{Locks: matches[start:end:end], Total: len(matches)}
	if end < len(matches) && end > start {
		res.NextCursor = EncodeCursor(matches[end-1].LockID)
	}
	return res, nil
}
