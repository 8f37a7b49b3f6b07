package backend

import (
	"errors"
	"testing"
)

// checkErr fails the test unless e is nil when want is CodeUnknown, or, for
// any other code, an *Error with that code, matching its sentinel and no
// other, and naming lockID.
func checkErr(t *testing.T, e *Error, want Code, lockID string) {
	t.Helper()
	if want == CodeUnknown {
		if e != nil {
			t.Fatalf("got error %q, want nil", e)
		}
		return
	}
	if e == nil {
		t.Fatalf("got nil, want an error with code %q", want)
	}
	// Through the error interface, as callers see it.
	var err error = e
	if !errors.Is(err, want.Sentinel()) {
		t.Errorf("errors.Is(%q, sentinel of %q) = false", err, want)
	}
	for _, other := range []Code{CodeInvalidArgument, CodeInvalidTTL} {
		if other != want && errors.Is(err, other.Sentinel()) {
			t.Errorf("errors.Is(%q, sentinel of %q) = true, want false", err, other)
		}
	}
	if e.Code != want {
		t.Errorf("Code = %q, want %q", e.Code, want)
	}
	if e.LockID != lockID {
		t.Errorf("LockID = %q, want %q", e.LockID, lockID)
	}
	if e.Error() == "" {
		t.Error("Error() is empty")
	}
}
