package benchreport

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/wan22/wan22/internal/atomicfile/atomictest"
)

// TestWriteAtomicMode: the report has mode 0666 less the umask (an unusual
// one, 027, so that a fixed 0644 fails).
func TestWriteAtomicMode(t *testing.T) {
	atomictest.WithUmask(t, 0o027)
	path := filepath.Join(t.TempDir(), "bench.json")
	if err := WriteAtomic(path, func(w io.Writer) error { _, err := io.WriteString(w, "{}"); return err }); err != nil {
		t.Fatal(err)
	}
	atomictest.CheckMode(t, path)
}
