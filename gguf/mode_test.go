package gguf

import (
	"path/filepath"
	"testing"

	"github.com/wan22/wan22/internal/atomicfile/atomictest"
)

// TestWriteFileMode: WriteFile makes a file of mode 0666 less the umask (an
// unusual one, 027, so that a fixed 0644 fails).
func TestWriteFileMode(t *testing.T) {
	atomictest.WithUmask(t, 0o027)
	w := NewWriter()
	if err := w.AddTensor("a", TypeF32, []int64{2}, make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	atomictest.CheckMode(t, path)
}
