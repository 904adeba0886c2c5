package safetensors

import (
	"path/filepath"
	"testing"

	"github.com/wan22/wan22/internal/atomicfile/atomictest"
)

// TestWriteMode: Write makes a file of mode 0666 less the umask (an unusual
// one, 027, so that a fixed 0644 or a private 0600 fails).
func TestWriteMode(t *testing.T) {
	atomictest.WithUmask(t, 0o027)
	path := filepath.Join(t.TempDir(), "vae.safetensors")
	if err := Write(path, []Tensor{FromFloat32("a", []int64{2}, []float32{1, 2})}, nil); err != nil {
		t.Fatal(err)
	}
	atomictest.CheckMode(t, path)
}
