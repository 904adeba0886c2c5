package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wan22/wan22/internal/atomicfile"
)

// synthWriters counts the write goroutines writeAtomic started; tests wait
// for them to check that a cancelled write leaves nothing behind.
var synthWriters sync.WaitGroup

// writeAtomic runs write, which writes a complete file at the path it is
// given, into a private folder next to path, and renames the result to path
// when it is done: path is created (or, after the -force check, replaced)
// only by a complete file.
//
// When ctx is cancelled first, writeAtomic removes the private folder with
// the partial file in it and returns ctx.Err() at once. The writers in
// engine take no context, so write goes on to an unlinked file until it
// finishes or the process exits — which the CLI does right away — and then
// cleans up after itself. On systems that cannot remove an open file
// (Windows) the folder is removed when write returns.
//
// A finished file is never deleted because a rename failed: the final move
// is renameOutput's (atomicfile.Rename: retried while another program holds
// a file, then kept beside path as a *atomicfile.KeptError says), and a
// file write kept in the private folder (its own rename inside the folder
// refused) is moved on to path the same way.
func writeAtomic(ctx context.Context, path string, write func(path string) error) error {
	return writeAtomicProgress(ctx, path, write, nil)
}

// writeAtomicProgress is writeAtomic that, when progress is not nil, calls
// it about four times a second with the bytes written so far (the size of
// the files in the private folder), never after it returns.
func writeAtomicProgress(ctx context.Context, path string, write func(path string) error, progress func(written int64)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := atomicfile.MkdirTemp(dir, "."+base+".wan22-partial-") // registered: a second Ctrl-C removes it (cli_signal.go)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	if progress != nil {
		stop := make(chan struct{})
		var polling sync.WaitGroup
		defer func() { close(stop); polling.Wait() }()
		polling.Add(1)
		go func() {
			defer polling.Done()
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					progress(folderBytes(tmp))
				}
			}
		}()
	}
	synthWriters.Add(1)
	go func() {
		defer synthWriters.Done()
		err := write(filepath.Join(tmp, base))
		if _, kept := errors.AsType[*atomicfile.KeptError](err); (err != nil && !kept) || ctx.Err() != nil {
			atomicfile.Remove(tmp)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if ctx.Err() != nil { // cancelled as write finished
			atomicfile.Remove(tmp)
			return ctx.Err()
		}
		finished := filepath.Join(tmp, base)
		if err != nil {
			ke, ok := errors.AsType[*atomicfile.KeptError](err)
			if !ok {
				return err
			}
			finished = ke.Kept // complete, and in tmp or beside it
		}
		return moveFinished(tmp, finished, path)
	case <-ctx.Done():
		atomicfile.Remove(tmp)
		return ctx.Err()
	}
}

// renameOutput renames a finished file onto its target (a variable for the
// tests: Windows' refusals cannot be made on Linux).
var renameOutput = atomicfile.Rename

// moveFinished renames the finished file onto path and removes the private
// folder tmp, unless the file had to be kept in it: then tmp is forgotten
// (RemovePending must not delete it) and the error names the kept file.
func moveFinished(tmp, finished, path string) error {
	err := renameOutput(finished, path)
	if ke, ok := errors.AsType[*atomicfile.KeptError](err); ok {
		if inside(tmp, ke.Kept) {
			atomicfile.Forget(tmp)
		} else {
			atomicfile.Remove(tmp)
		}
		return err
	}
	if err != nil {
		atomicfile.Remove(tmp)
		return fmt.Errorf("moving the finished file into place: %w", err)
	}
	return atomicfile.Remove(tmp)
}

// inside reports whether path is dir or in it.
func inside(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// folderBytes is the size of the regular files in dir (not its folders').
func folderBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
