package gguf

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPrefetch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.gguf")
	if err := os.WriteFile(path, make([]byte, 1<<16), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int64{0, 4096, 1 << 40} {
		if err := Prefetch(path, n); err != nil {
			t.Errorf("Prefetch(%d): %v", n, err)
		}
	}
	if err := Prefetch(filepath.Join(t.TempDir(), "missing"), 0); err == nil && filepath.Separator == '/' && isLinux {
		t.Error("Prefetch of a missing file gave no error")
	}
}
