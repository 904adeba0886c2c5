//go:build unix

package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInspectPipe: `wan22 inspect` on a named pipe returns an error at once
// instead of waiting for a writer forever.
func TestInspectPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "expert.gguf")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, stdout, stderr := runCLI("inspect", fifo, "/dev/null")
		done <- result{code, stdout, stderr}
	}()
	select {
	case r := <-done:
		if r.code != 1 || r.stdout != "" ||
			!strings.Contains(r.stderr, "wan22 inspect: "+fifo+" is a named pipe (FIFO), not a regular file") ||
			!strings.Contains(r.stderr, "wan22 inspect: /dev/null is a character device, not a regular file") {
			t.Errorf("status %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("inspect of a named pipe still running after 5 s")
	}
}
