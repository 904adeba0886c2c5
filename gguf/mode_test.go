package gguf

import (
	"testing"

	"github.com/wan22/wan22/internal/atomicfile/atomictest"
)

// TestWriteFileMode: WriteFile makes a file of mode 0666 less the umask.
func TestWriteFileMode(t *testing.T) {
	w := NewWriter()
	if err := w.AddTensor("a", TypeF32, []int64{2}, make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	atomictest.CheckWrite(t, "m.gguf", w.WriteFile)
}
