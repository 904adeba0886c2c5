package benchreport

import (
	"io"
	"testing"

	"github.com/wan22/wan22/internal/atomicfile/atomictest"
)

// TestWriteAtomicMode: the report has mode 0666 less the umask.
func TestWriteAtomicMode(t *testing.T) {
	atomictest.CheckWrite(t, "bench.json", func(path string) error {
		return WriteAtomic(path, func(w io.Writer) error { _, err := io.WriteString(w, "{}"); return err })
	})
}
