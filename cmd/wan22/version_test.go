package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// fullWriter fails every write, as standard output on a full disk
// (/dev/full) or a closed pipe does.
type fullWriter struct{}

func (fullWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestVersionWriteFails: `wan22 version > /dev/full` says the line was
// not written and exits 1; it exited 0 with nothing written.
func TestVersionWriteFails(t *testing.T) {
	var stderr bytes.Buffer
	if code := runVersion(nil, fullWriter{}, &stderr); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "wan22 version: no space left on device") {
		t.Errorf("stderr %q", stderr.String())
	}
}
