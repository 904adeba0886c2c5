package imageprep

import (
	"testing"

	"github.com/wan22/wan22/internal/atomicfile/atomictest"
)

// TestWritePNGAtomicMode: the preview PNG has mode 0666 less the umask.
func TestWritePNGAtomicMode(t *testing.T) {
	atomictest.CheckWrite(t, "preview.png", func(path string) error { return WritePNGAtomic(path, TestImage(8, 8)) })
}
