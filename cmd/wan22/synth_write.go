package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

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
func writeAtomic(ctx context.Context, path string, write func(path string) error) error {
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
	synthWriters.Add(1)
	go func() {
		defer synthWriters.Done()
		err := write(filepath.Join(tmp, base))
		if err != nil || ctx.Err() != nil {
			atomicfile.Remove(tmp)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil { // cancelled as write finished: the goroutine removed tmp
			return err
		}
		if err := os.Rename(filepath.Join(tmp, base), path); err != nil {
			atomicfile.Remove(tmp)
			return fmt.Errorf("moving the finished file into place: %w", err)
		}
		return atomicfile.Remove(tmp)
	case <-ctx.Done():
		atomicfile.Remove(tmp)
		return ctx.Err()
	}
}
