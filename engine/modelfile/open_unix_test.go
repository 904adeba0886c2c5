//go:build unix

package modelfile

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOpenRefusesPipe checks that a named pipe is refused at once instead
// of blocking in open(2) until a writer appears (which would be forever).
func TestOpenRefusesPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "model.gguf")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Inspect(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		var nr *NotRegularError
		if !errors.As(err, &nr) || !strings.Contains(err.Error(), "model.gguf is a named pipe (FIFO), not a regular file") {
			t.Errorf("error %v, want a NotRegularError naming the pipe", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Inspect of a named pipe still blocked after 5 s")
	}
	if _, _, err := Open("/dev/null"); err == nil || !strings.Contains(err.Error(), "/dev/null is a character device") {
		t.Errorf("/dev/null: %v", err)
	}
}
