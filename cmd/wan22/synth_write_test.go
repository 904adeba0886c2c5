package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/wan22/wan22/internal/atomicfile"
)

// errAccessDenied stands for Windows' refusal of a rename while another
// program holds the file, which Linux cannot produce.
var errAccessDenied = errors.New("Access is denied.")

// TestWriteAtomicInnerKept: when the writer finished the file but its own
// rename inside the private folder was refused (a *KeptError naming the
// finished file, kept in that folder), writeAtomic moves that file on to the
// target instead of deleting the folder with it.
func TestWriteAtomicInnerKept(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "model.gguf")
	write := func(path string) error {
		kept := filepath.Join(filepath.Dir(path), "model.finished.gguf")
		if err := os.WriteFile(kept, []byte("hours of work"), 0o666); err != nil {
			return err
		}
		return fmt.Errorf("gguf: %w", &atomicfile.KeptError{Target: path, Kept: kept, Err: errAccessDenied})
	}
	if err := writeAtomic(context.Background(), target, write); err != nil {
		t.Fatalf("writeAtomic = %v, want the kept file moved into place", err)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "hours of work" {
		t.Errorf("%s: %q, %v; want the finished file", target, b, err)
	}
	if names := dirEntries(t, dir); !slices.Equal(names, []string{"model.gguf"}) {
		t.Errorf("the folder holds %q, want only model.gguf", names)
	}
	if p := atomicfile.Pending(); len(p) != 0 {
		t.Errorf("still registered: %q", p)
	}
}

// TestWriteAtomicFinalMoveHeld: the final move is atomicfile.Rename's
// (renameOutput), and when it keeps the finished file because another
// program holds the target, writeAtomic returns its *KeptError and never
// deletes the kept file: beside the target, the private folder goes; still
// in the private folder, that folder stays, unregistered (a quit must not
// remove it), and the error names the file there.
func TestWriteAtomicFinalMoveHeld(t *testing.T) {
	for _, moved := range []bool{true, false} {
		t.Run(fmt.Sprint("moved=", moved), func(t *testing.T) {
			dir := t.TempDir()
			target := filepath.Join(dir, "model.gguf")
			old := renameOutput
			t.Cleanup(func() { renameOutput = old })
			// What atomicfile.Rename does when the target stays held.
			renameOutput = func(from, to string) error {
				kept := from
				if moved {
					kept = filepath.Join(dir, "model.finished.gguf")
					if err := os.Rename(from, kept); err != nil {
						return err
					}
				}
				return &atomicfile.KeptError{Target: to, Kept: kept, Err: errAccessDenied}
			}
			write := func(path string) error { return os.WriteFile(path, []byte("hours of work"), 0o666) }
			err := writeAtomic(context.Background(), target, write)
			ke, ok := errors.AsType[*atomicfile.KeptError](err)
			if !ok {
				t.Fatalf("writeAtomic = %v, want the *KeptError", err)
			}
			if b, rerr := os.ReadFile(ke.Kept); rerr != nil || string(b) != "hours of work" {
				t.Errorf("kept %s: %q, %v; want the finished file", ke.Kept, b, rerr)
			}
			if !strings.Contains(err.Error(), ke.Kept) {
				t.Errorf("the error does not name %s: %v", ke.Kept, err)
			}
			names := dirEntries(t, dir)
			if moved && !slices.Equal(names, []string{"model.finished.gguf"}) {
				t.Errorf("the folder holds %q, want only model.finished.gguf", names)
			}
			if !moved && (len(names) != 1 || !strings.HasPrefix(names[0], ".model.gguf.wan22-partial-") || !inside(filepath.Join(dir, names[0]), ke.Kept)) {
				t.Errorf("the folder holds %q, want the private folder holding %s", names, ke.Kept)
			}
			if p := atomicfile.Pending(); len(p) != 0 {
				t.Errorf("still registered: %q (a quit would delete the kept file)", p)
			}
		})
	}
}

// TestWriteAtomicMoveFails: a final move that fails for another reason (a
// folder now at the target) is reported, and nothing is left behind.
func TestWriteAtomicMoveFails(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "model.gguf")
	write := func(path string) error {
		if err := os.MkdirAll(filepath.Join(target, "x"), 0o777); err != nil {
			return err
		}
		return os.WriteFile(path, []byte("hours of work"), 0o666)
	}
	err := writeAtomic(context.Background(), target, write)
	if err == nil || !strings.Contains(err.Error(), "moving the finished file into place") {
		t.Fatalf("writeAtomic = %v, want the move's error", err)
	}
	if names := dirEntries(t, dir); !slices.Equal(names, []string{"model.gguf"}) {
		t.Errorf("the folder holds %q, want only the folder in the way", names)
	}
	if p := atomicfile.Pending(); len(p) != 0 {
		t.Errorf("still registered: %q", p)
	}
}

// TestSynthWriteFailure: a full disk (ENOSPC) or a file size limit (EFBIG)
// met while writing is said in words with what to do, not only as the
// write error that names the removed temporary file; other errors pass.
func TestSynthWriteFailure(t *testing.T) {
	wrap := func(errno syscall.Errno) error {
		return fmt.Errorf("dit: writing synthetic model: gguf: tensor \"x\": %w",
			&os.PathError{Op: "write", Path: ".m.gguf.wan22-partial-1/.m.gguf.tmp-2", Err: errno})
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{wrap(syscall.ENOSPC), "m.gguf was not written: the disk became full while writing"},
		{wrap(syscall.EFBIG), "m.gguf was not written: the file is larger than this file system or the process's file size limit"},
		{errors.New("other"), "other"},
		// The finished file kept under another name when its rename failed for want of space: not "nothing was
		// left behind".
		{&atomicfile.KeptError{Target: "m.gguf", Kept: ".m.gguf.kept", Err: syscall.ENOSPC}, (&atomicfile.KeptError{Target: "m.gguf", Kept: ".m.gguf.kept", Err: syscall.ENOSPC}).Error()},
	} {
		got := synthWriteFailure("m.gguf", c.err)
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("synthWriteFailure(%v) = %q, want it to start %q", c.err, got, c.want)
		}
	}
}
