package backend

import "testing"

func TestCloneMetadata(t *testing.T) {
	if CloneMetadata(nil) != nil || CloneMetadata(map[string]string{}) != nil {
		t.Fatal("an empty map should clone to nil")
	}
	in := map[string]string{"a": "1"}
	out := CloneMetadata(in)
	out["a"] = "2"
	if in["a"] != "1" {
		t.Fatal("the clone shares the caller's map")
	}
}
