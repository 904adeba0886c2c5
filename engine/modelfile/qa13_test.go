package modelfile

// The thirteenth QA pass over wan22 inspect: what Open says of a path it
// cannot stat, open or read.

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOpenOSErrors: a name too long for the system, a path through a file,
// a file this user may not read and a read error of the disk each say what
// is wrong and what to do, once, with the path, instead of Go's "stat X:
// file name too long", "open X: permission denied" or "reading X: read X:
// input/output error"; the error still matches the system's.
func TestOpenOSErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "high.gguf")
	if err := os.WriteFile(file, []byte("GGUF"), 0o644); err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(dir, strings.Repeat("a", 300)+".gguf")
	through := filepath.Join(file, "low.gguf")
	for _, c := range []struct {
		path, want string
		is         error
	}{
		{long, long + ": the name is too long for this system", syscall.ENAMETOOLONG},
		{through, through + ": a part of the path before the file name is a file, not a folder (" + file + "); check the path", syscall.ENOTDIR},
	} {
		_, _, err := Open(c.path)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || !errors.Is(err, c.is) || strings.Contains(err.Error(), "stat ") {
			t.Errorf("Open(%.80q…): %v; want it to start %q and match %v", c.path, err, c.want, c.is)
		}
	}

	// Permissions bind only for a user other than root.
	locked := filepath.Join(dir, "locked.gguf")
	if err := os.WriteFile(locked, []byte("GGUF"), 0o000); err != nil {
		t.Fatal(err)
	}
	if f, err := os.Open(locked); err == nil {
		f.Close()
		t.Log("permissions do not bind for this user: the unreadable file is checked through explainOS only")
	} else {
		_, _, err := Open(locked)
		want := locked + ": permission denied: this user may not read the file"
		if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, fs.ErrPermission) {
			t.Errorf("Open(%s): %v; want it to start %q", locked, err, want)
		}
	}

	for _, c := range []struct {
		op   string
		err  error
		want string
	}{
		{"open", syscall.EACCES, locked + ": permission denied: this user may not read the file, or may not enter a folder on its path;"},
		{"stat", syscall.EACCES, locked + ": permission denied"},
		{"read", syscall.EIO, locked + ": input/output error: the disk or network drive could not read it"},
	} {
		perr := &fs.PathError{Op: c.op, Path: locked, Err: c.err}
		got := explainOS(locked, perr)
		if !strings.HasPrefix(got.Error(), c.want) || !errors.Is(got, c.err) || strings.Contains(got.Error(), c.op+" "+locked) {
			t.Errorf("explainOS(%v) = %v; want it to start %q and match %v", perr, got, c.want, c.err)
		}
	}
}
