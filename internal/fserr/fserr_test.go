package fserr

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
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

// TestNamed: an *fs.PathError about the path is "PATH: CAUSE", the path
// Go-quoted when it holds a control character, and still matches the
// os package's error; an error about another path, or of another kind,
// keeps its words after the path; nil stays nil.
func TestNamed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m\x1b[31m.gguf")
	_, err := os.Open(path)
	got := Named(path, err)
	if want := strconv.Quote(path) + ": no such file or directory"; got == nil || got.Error() != want {
		t.Errorf("Named(%v) = %v, want %q", err, got, want)
	}
	var pe *fs.PathError
	if !errors.Is(got, fs.ErrNotExist) || !errors.As(got, &pe) || pe != err {
		t.Errorf("Named(%v) does not match the os package's error", err)
	}
	other := &fs.PathError{Op: "open", Path: "/other", Err: syscall.EACCES}
	if got := Named("/m", other).Error(); got != "/m: open /other: permission denied" {
		t.Errorf("another path: %q", got)
	}
	if got := Named("/m", io.EOF).Error(); got != "/m: EOF" {
		t.Errorf("another error: %q", got)
	}
	if got := Named("/m", nil); got != nil {
		t.Errorf("Named(nil) = %v", got)
	}
}
