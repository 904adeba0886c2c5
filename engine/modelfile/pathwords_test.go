package modelfile

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOpenMissingPathOnce: a missing file is "PATH: no such file or
// directory", its path once, not the os package's "stat PATH: no such file
// or directory", which a caller that names the file too ("high-noise
// expert PATH: cannot be read: …") printed with the path twice over; so is
// any other error of the os package about the path, as Open and the
// readers meet them (the file read, or gone after Open's checks). The
// error still matches the os package's (errors.Is, errors.As).
func TestOpenMissingPathOnce(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "high.gguf")
	_, _, err := Open(missing)
	requirePathWords(t, "Open", err, missing, missing+": no such file or directory", fs.ErrNotExist)
	requirePathWords(t, "CheckRegular", CheckRegular(missing), missing, missing+": no such file or directory", fs.ErrNotExist)

	for _, c := range []struct {
		what string
		err  error
		want string
		is   error
	}{
		{"a read", &fs.PathError{Op: "read", Path: missing, Err: syscall.EISDIR}, missing + ": is a directory", syscall.EISDIR},
		{"a reader's", fmt.Errorf("safetensors: %w", &fs.PathError{Op: "open", Path: missing, Err: syscall.ENOENT}), missing + ": no such file or directory", fs.ErrNotExist},
	} {
		requirePathWords(t, c.what, withHint(missing, c.err), missing, c.want, c.is)
	}
}

// requirePathWords fails unless err is want, names path once and matches
// is and a *fs.PathError about path.
func requirePathWords(t *testing.T, what string, err error, path, want string, is error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	var pe *fs.PathError
	if err.Error() != want || strings.Count(err.Error(), path) != 1 || !errors.Is(err, is) || !errors.As(err, &pe) || pe.Path != path {
		t.Errorf("%s: %q; want %q, matching %v and its *fs.PathError", what, err, want, is)
	}
}
