package safetensors

import (
	"testing"

	"github.com/wan22/wan22/internal/atomicfile/atomictest"
)

// TestWriteMode: Write makes a file of mode 0666 less the umask.
func TestWriteMode(t *testing.T) {
	atomictest.CheckWrite(t, "vae.safetensors", func(path string) error {
		return Write(path, []Tensor{FromFloat32("a", []int64{2}, []float32{1, 2})}, nil)
	})
}
