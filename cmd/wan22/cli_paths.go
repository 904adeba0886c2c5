package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// outputKind is what an output path names.
type outputKind int

const (
	newFile      outputKind = iota // a file that must not exist yet (--out, bench --json)
	newFolder                      // a folder made by the run (--frames-dir)
	replacedFile                   // a file replaced when it exists (--preview)
)

// checkOutputPath checks, before anything loads, that the output flagName
// names can be written at path: its folder exists and is writable, path is
// not a folder where a file goes, and nothing is there unless kind is
// replacedFile.
func checkOutputPath(flagName, path string, kind outputKind) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s %s: the folder %s does not exist: create it first", flagName, path, dir)
	case err != nil:
		return fmt.Errorf("%s %s: %w", flagName, path, err)
	case !st.IsDir():
		return fmt.Errorf("%s %s: %s is not a folder", flagName, path, dir)
	}
	if st, err := os.Lstat(path); err == nil {
		switch {
		case st.IsDir() && kind != newFolder:
			return fmt.Errorf("%s %s is a folder: give a file name", flagName, path)
		case kind != replacedFile:
			return fmt.Errorf("%s %s already exists: choose another name or remove it", flagName, path)
		}
	}
	// Writable: the outputs are written through a temporary file in dir.
	probe, err := os.CreateTemp(dir, ".wan22-write-check-*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the probe's own name says nothing to the user
		}
		return fmt.Errorf("%s %s: cannot write in the folder %s: %w", flagName, path, dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}
