package imageprep

import (
	"path/filepath"
	"testing"

	"github.com/wan22/wan22/internal/atomicfile/atomictest"
)

// TestWritePNGAtomicMode: the preview PNG has mode 0666 less the umask (an
// unusual one, 027, so that a private 0600 fails).
func TestWritePNGAtomicMode(t *testing.T) {
	atomictest.WithUmask(t, 0o027)
	path := filepath.Join(t.TempDir(), "preview.png")
	if err := WritePNGAtomic(path, TestImage(8, 8)); err != nil {
		t.Fatal(err)
	}
	atomictest.CheckMode(t, path)
}
