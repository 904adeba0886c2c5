package fserr

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWithoutPath: the reason of an *fs.PathError, also wrapped, without
// its operation and path; other errors, and nil, as they are.
func TestWithoutPath(t *testing.T) {
	_, err := os.Open(filepath.Join(t.TempDir(), "absent"))
	if got := WithoutPath(err); got != syscall.ENOENT || !errors.Is(got, fs.ErrNotExist) {
		t.Errorf("WithoutPath(%v) = %v, want the bare reason", err, got)
	}
	pe := &fs.PathError{Op: "mkdir", Path: "/x", Err: syscall.EROFS}
	if got := WithoutPath(fmt.Errorf("making it: %w", pe)); got != syscall.EROFS {
		t.Errorf("wrapped: %v", got)
	}
	other := errors.New("no space")
	if got := WithoutPath(other); got != other {
		t.Errorf("WithoutPath(%v) = %v", other, got)
	}
	if got := WithoutPath(nil); got != nil {
		t.Errorf("WithoutPath(nil) = %v", got)
	}
}
