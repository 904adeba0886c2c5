// Package atomicfile writes output files the way a Unix tool does, and
// never leaves half of one behind.
//
// An output is written to a hidden temporary file (or folder) beside its
// target, named ".BASE.tmp-PID-RANDOM", and renamed onto the target only when
// it is complete; a failure removes it. Temporary files are created with mode
// 0666 and folders with 0777, both less the process umask (normally 0644 and
// 0755), as os.Create and os.Mkdir do — unlike os.CreateTemp and
// os.MkdirTemp, which make them private (0600, 0700) and would hand that mode
// on to the finished output.
//
// Every temporary path in progress is registered until it is renamed or
// removed, so that a process quitting at once (a second Ctrl-C, see
// cmd/wan22) can remove them all with RemovePending without waiting for the
// writers to unwind.
package atomicfile

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
)

var (
	mu      sync.Mutex
	pending = map[string]bool{} // the temporary paths in progress
)

// Register adds a temporary path (file or folder) made by other means to the
// ones RemovePending removes. Call Forget once it is renamed or removed.
func Register(path string) {
	mu.Lock()
	pending[path] = true
	mu.Unlock()
}

// Forget drops path from the registered temporary paths.
func Forget(path string) {
	mu.Lock()
	delete(pending, path)
	mu.Unlock()
}

// Pending returns the registered temporary paths, in no particular order.
func Pending() []string {
	mu.Lock()
	defer mu.Unlock()
	out := make([]string, 0, len(pending))
	for p := range pending {
		out = append(out, p)
	}
	return out
}

// RemovePending removes every registered temporary file and folder (with
// what is in it) and forgets them. It is meant for a process about to exit
// while writers are still running; it returns the first error, having tried
// every path.
func RemovePending() error {
	var first error
	for _, p := range Pending() {
		if err := Remove(p); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Remove removes the temporary path (and what is in it) and forgets it. A
// path that is already gone is no error.
func Remove(path string) error {
	err := os.RemoveAll(path)
	Forget(path)
	return err
}

// Rename renames the temporary path onto target and forgets it. When the
// rename fails the temporary path is removed.
func Rename(path, target string) error {
	if err := os.Rename(path, target); err != nil {
		Remove(path)
		return err
	}
	Forget(path)
	return nil
}

// tries is how many random names create tries before it gives up.
const tries = 10000

// create makes a new temporary path for target with mk, registered.
func create(target string, mk func(name string) error) (string, error) {
	if target == "" {
		return "", errors.New("atomicfile: empty target path")
	}
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	for range tries {
		name := filepath.Join(dir, fmt.Sprintf(".%s.tmp-%d-%d", base, os.Getpid(), rand.Uint32()))
		_, err := makeRegistered(func() (string, error) { return name, mk(name) })
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		return name, nil
	}
	return "", fmt.Errorf("atomicfile: no free temporary name for %s after %d tries", target, tries)
}

// makeRegistered runs mk, which makes a path and returns it, and registers
// the path when mk succeeds, both under the lock that RemovePending takes: a
// quit comes before or after, never between the two (which would leave the
// path behind).
func makeRegistered(mk func() (string, error)) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	name, err := mk()
	if err != nil {
		return "", err
	}
	pending[name] = true
	return name, nil
}

// MkdirTemp is os.MkdirTemp (a new private folder in dir, "" for the system's
// temporary folder, named from pattern), registered as a temporary path in the
// same step. Use it for scratch folders that are removed, not renamed onto a
// target: Remove it when done.
func MkdirTemp(dir, pattern string) (string, error) {
	return makeRegistered(func() (string, error) { return os.MkdirTemp(dir, pattern) })
}

// TempDir creates a new temporary folder for target, mode 0777 less the
// umask, registered. Rename it onto target when complete, or Remove it.
func TempDir(target string) (string, error) {
	return create(target, func(name string) error { return os.Mkdir(name, 0o777) })
}

// File is a temporary file being written for its target. Write to the
// embedded *os.File, then Commit, or Abort (which can always be deferred).
type File struct {
	*os.File
	target string
	done   bool
}

// Create creates a new temporary file for target, open for reading and
// writing, mode 0666 less the umask, registered.
func Create(target string) (*File, error) {
	var f *os.File
	_, err := create(target, func(name string) error {
		var err error
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &File{File: f, target: target}, nil
}

// Target is the path the file will have once committed.
func (f *File) Target() string { return f.target }

// Commit closes the file and renames it onto its target, replacing a file
// there. On failure the temporary file is removed.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: Commit after Commit or Abort")
	}
	f.done = true
	if err := f.File.Close(); err != nil {
		Remove(f.Name())
		return err
	}
	return Rename(f.Name(), f.target)
}

// Abort closes and removes the temporary file. It does nothing after
// Commit or Abort.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	Remove(f.Name())
}
