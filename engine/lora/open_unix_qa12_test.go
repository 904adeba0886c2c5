//go:build unix

package lora

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOpenPipe: a named pipe given as a LoRA is refused unread, as a model
// is; the old Open waited for a writer forever, and a Ctrl-C did not stop it.
func TestOpenPipe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pipe.safetensors")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Open(path)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "named pipe") {
			t.Errorf("Open(a named pipe): %v, want it refused as one", err)
		}
	case <-time.After(5 * time.Second):
		f, err := os.OpenFile(path, os.O_WRONLY, 0) // let the reader go
		if err == nil {
			f.Close()
		}
		t.Fatal("Open(a named pipe) waited for a writer")
	}
}
