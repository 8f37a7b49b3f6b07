package bench

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkDiskSync is the floor under every store's contended hand-offs
// with fsync on: a hand-off is a release that must be on disk before the
// next holder may learn of its grant, and the next release cannot start
// before that, so hand-offs cannot come faster than one fsync each. It
// writes 1 KiB and syncs it, b.N times, in a file where the benchmark's
// servers keep their data (the system's temporary directory).
//
//	go test -run '^$' -bench DiskSync -benchtime 2000x ./
func BenchmarkDiskSync(b *testing.B) {
	dir := b.TempDir()
	f, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1024)
	var off int64
	b.ResetTimer()
	for range b.N {
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
		off += int64(len(buf))
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}
