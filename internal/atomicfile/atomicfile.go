// Package atomicfile writes output files the way a Unix tool does, and
// never leaves half of one behind.
//
// An output is written to a hidden temporary file (or folder) beside its
// target, named ".BASE.tmp-PID-RANDOM", and renamed onto the target only when
// it is complete; a failure before that removes it. Temporary files are
// created with mode 0666 and folders with 0777, both less the process umask
// (normally 0644 and 0755), as os.Create and os.Mkdir do — unlike
// os.CreateTemp and os.MkdirTemp, which make them private (0600, 0700) and
// would hand that mode on to the finished output.
//
// A finished output is never thrown away because its last rename failed.
// On Windows a rename fails while any program has the file (or, for a
// folder, a file in it) open — an antivirus or the search indexer reading a
// new file, Explorer's preview pane, a player showing the previous video —
// so Rename retries for a few seconds, and if the file stays held it keeps
// the finished output and returns a *KeptError naming it.
//
// Every temporary path in progress is registered until it is renamed or
// removed, so that a process quitting at once (a second Ctrl-C, see
// cmd/wan22) can remove them all with RemovePending without waiting for the
// writers to unwind. A path's writer may register a closer with it (see
// RegisterCloser): Windows cannot remove a file that is still open.
package atomicfile

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

var (
	mu sync.Mutex
	// pending maps the temporary paths in progress to their closers (nil:
	// nothing to close), each wrapped to run at most once.
	pending = map[string]func() error{}
)

// Injection points for the tests (Windows' failures cannot be made on
// Linux): the rename and removal that Rename and Remove use, the predicate
// that tells a rename failure worth retrying, and the retry's sleep.
var (
	rename      = os.Rename
	removeAll   = os.RemoveAll
	isTransient = transientRenameError // per system: rename_windows.go, rename_other.go
	sleep       = time.Sleep
)

// Rename's retry of a transient failure: the first wait, the longest, and
// the most it waits in all. A virus scan of a new video or a thumbnail
// being made takes well under a second; a program that keeps the file open
// is not waited for longer than this.
const (
	firstWait = 10 * time.Millisecond
	maxWait   = time.Second
	totalWait = 5 * time.Second
)

// Register adds a temporary path (file or folder) made by other means to the
// ones RemovePending removes. Call Forget once it is renamed or removed.
// A path already registered keeps its closer.
func Register(path string) {
	mu.Lock()
	if _, ok := pending[path]; !ok {
		pending[path] = nil
	}
	mu.Unlock()
}

// RegisterCloser registers path as Register does, with close, which closes
// what its writer holds open in it: the file, a subprocess writing it (by
// killing it and waiting for it to exit). Remove and RemovePending call it
// before removing path, at most once over all calls, since Windows cannot
// remove a file that is open. It replaces an earlier closer of path. close
// may run on another goroutine while the writer is still writing (a second
// Ctrl-C), and after the writer closed the file itself: it must allow both.
func RegisterCloser(path string, close func() error) {
	mu.Lock()
	pending[path] = once(close)
	mu.Unlock()
}

// once wraps a closer to run at most once, all callers waiting for it.
func once(close func() error) func() error {
	if close == nil {
		return nil
	}
	return sync.OnceValue(close)
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
// what is in it), and forgets those it removed. It is meant for a process
// about to exit while writers are still running. It first calls every
// registered closer, then removes the paths deepest first: a registered
// folder may hold a registered file (a writer's temporary output inside a
// scratch folder), and Windows cannot remove a folder while a file in it is
// open. A removal that fails is tried once more after the others, then the
// path stays registered, so that a later call tries again. It returns the
// first error of those last tries, having tried every path.
func RemovePending() error {
	mu.Lock()
	paths := make([]string, 0, len(pending))
	closers := make([]func() error, 0, len(pending))
	for p, close := range pending {
		paths = append(paths, p)
		if close != nil {
			closers = append(closers, close)
		}
	}
	mu.Unlock()
	for _, close := range closers {
		close() // its error shows again, and better, in the removal's
	}
	// Deepest first: a path inside a folder is longer than the folder's.
	slices.SortFunc(paths, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	var failed []string
	for _, p := range paths {
		if err := Remove(p); err != nil {
			failed = append(failed, p)
		}
	}
	var first error
	for _, p := range failed {
		if err := Remove(p); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Remove calls the closer registered with path, if any and not yet called,
// then removes path (and what is in it) and forgets it. A path that is
// already gone is no error. When the removal fails, path stays registered
// (if it was), so that RemovePending tries again.
func Remove(path string) error {
	mu.Lock()
	close := pending[path]
	mu.Unlock()
	if close != nil {
		close() // its error shows again, and better, in the removal's
	}
	if err := removeAll(path); err != nil {
		return err
	}
	Forget(path)
	return nil
}

// KeptError is the error of Rename (and File.Commit) when a finished output
// could not be renamed onto its target, most likely because another program
// had the file open: the output is kept at Kept (a visible name beside the
// target when that rename worked, else the temporary name), no longer
// registered, for the user to rename once what is in the way is gone.
type KeptError struct {
	Target string  // where the output was to go
	Kept   string  // where the finished output is
	Err    error   // the last error renaming it onto Target
	Found  Blocker // what Rename found at Target after its retries
}

// Blocker is what stood at a KeptError's target when its rename had failed
// for good. Windows answers "access denied" alike for a file another
// program has open, a folder at the target and a read-only file there, so
// Rename looks.
type Blocker int

const (
	// BlockedByProgram: a file or nothing is at the target, so most likely
	// another program has it (or the new output) open.
	BlockedByProgram Blocker = iota
	// BlockedByFolder: a folder is at the target.
	BlockedByFolder
	// BlockedByReadOnly: the file at the target is read-only.
	BlockedByReadOnly
)

// String names b for messages and %v: "another program", "a folder", "a
// read-only file".
func (b Blocker) String() string {
	switch b {
	case BlockedByProgram:
		return "another program"
	case BlockedByFolder:
		return "a folder"
	case BlockedByReadOnly:
		return "a read-only file"
	}
	return fmt.Sprintf("Blocker(%d)", int(b))
}

// blockerAt says what is at target, for a rename onto it that kept failing.
func blockerAt(target string) Blocker {
	st, err := os.Lstat(target)
	switch {
	case err != nil:
		return BlockedByProgram
	case st.IsDir():
		return BlockedByFolder
	case st.Mode().IsRegular() && st.Mode().Perm()&0o222 == 0:
		return BlockedByReadOnly
	}
	return BlockedByProgram
}

func (e *KeptError) Error() string {
	name := filepath.Base(e.Target)
	var why, fix string
	switch e.Found {
	case BlockedByFolder:
		why, fix = "a folder is there", "move that folder away"
	case BlockedByReadOnly:
		why, fix = "the file there is read-only", "remove "+name+" or make it writable"
	default:
		why = "most likely as another program has " + name + " or the new file open"
		fix = "close that program (a video player, Explorer's preview pane, an antivirus scan)"
	}
	return fmt.Sprintf("the finished output could not be renamed onto %s (%v): %s; it is kept as %s: %s, then rename it to %s",
		e.Target, e.Err, why, e.Kept, fix, name)
}

func (e *KeptError) Unwrap() error { return e.Err }

// Rename renames the temporary path onto target and forgets it. A failure
// that another program's open handle can cause (on Windows: access denied,
// sharing or lock violation) is retried with growing waits for up to
// totalWait; if it persists, the finished output is kept — renamed to a
// free visible name beside target (see keptName) if it can be, else left
// at path — and forgotten, and the error is a *KeptError naming it and
// what is at target. Any other failure (the target's folder is gone; on
// Unix, a folder at the target) removes the temporary path and returns the
// error.
func Rename(path, target string) error {
	err := rename(path, target)
	for wait, waited := firstWait, time.Duration(0); err != nil && isTransient(err) && waited+wait <= totalWait; wait = min(2*wait, maxWait) {
		sleep(wait)
		waited += wait
		err = rename(path, target)
	}
	switch {
	case err == nil:
		Forget(path)
		return nil
	case !isTransient(err):
		Remove(path)
		return err
	}
	found := blockerAt(target)
	kept := path
	if name, ok := keptName(target); ok && rename(path, name) == nil {
		kept = name
	}
	Forget(path)
	return &KeptError{Target: target, Kept: kept, Err: err, Found: found}
}

// RenameOrDiscard renames the temporary path onto target and forgets it,
// for an output that is soon written again anyway (a preview): a failure
// another program can cause is retried once, firstWait later, and any
// failure then removes the temporary path and returns the rename's error.
// It never waits for seconds or keeps a finished output as Rename does.
func RenameOrDiscard(path, target string) error {
	err := rename(path, target)
	if err != nil && isTransient(err) {
		sleep(firstWait)
		err = rename(path, target)
	}
	if err != nil {
		Remove(path)
		return err
	}
	Forget(path)
	return nil
}

// keptName is a free name beside target for an output that could not be
// renamed onto it: "clip.finished.mp4", then "clip.finished-2.mp4" and on
// ("frames.finished" for a folder without an extension). It reports false
// when none of the first hundred is free.
func keptName(target string) (string, bool) {
	ext := filepath.Ext(target)
	stem := strings.TrimSuffix(target, ext)
	for i := 1; i <= 100; i++ {
		name := stem + ".finished" + ext
		if i > 1 {
			name = fmt.Sprintf("%s.finished-%d%s", stem, i, ext)
		}
		if _, err := os.Lstat(name); errors.Is(err, os.ErrNotExist) {
			return name, true
		}
	}
	return "", false
}

// tempBase is the name of a temporary path for a target named base (its
// last element), with the random part r: ".BASE.tmp-PID-R".
func tempBase(base string, r uint32) string {
	return fmt.Sprintf(".%s.tmp-%d-%d", base, os.Getpid(), r)
}

// LongestTempName is the longest name (last element) the temporary file or
// folder of a target named base (its last element) can have in this
// process: base and some 20 to 30 characters more. A file system refuses a
// name longer than its limit (255 bytes on Linux, 255 UTF-16 units on
// Windows), so a target name that fits by a few characters still fails,
// at Create or TempDir, where its writer starts: check this one instead,
// before the work that writer waits for.
func LongestTempName(base string) string { return tempBase(base, math.MaxUint32) }

// tries is how many random names create tries before it gives up.
const tries = 10000

// create makes a new temporary path for target with mk, registered with the
// closer mk returns (nil: none).
func create(target string, mk func(name string) (close func() error, err error)) (string, error) {
	if target == "" {
		return "", errors.New("atomicfile: empty target path")
	}
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	for range tries {
		name := filepath.Join(dir, tempBase(base, rand.Uint32()))
		_, err := makeRegistered(func() (string, func() error, error) {
			close, err := mk(name)
			return name, close, err
		})
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

// makeRegistered runs mk, which makes a path and returns it with its closer
// (nil: none), and registers the path when mk succeeds, both under the lock
// that RemovePending takes: a quit comes before or after, never between the
// two (which would leave the path behind).
func makeRegistered(mk func() (string, func() error, error)) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	name, close, err := mk()
	if err != nil {
		return "", err
	}
	pending[name] = once(close)
	return name, nil
}

// MkdirTemp is os.MkdirTemp (a new private folder in dir, "" for the system's
// temporary folder, named from pattern), registered as a temporary path in the
// same step. Use it for scratch folders that are removed, not renamed onto a
// target: Remove it when done.
func MkdirTemp(dir, pattern string) (string, error) {
	return makeRegistered(func() (string, func() error, error) {
		name, err := os.MkdirTemp(dir, pattern)
		return name, nil, err
	})
}

// TempDir creates a new temporary folder for target, mode 0777 less the
// umask, registered. Rename it onto target when complete, or Remove it.
func TempDir(target string) (string, error) {
	return create(target, func(name string) (func() error, error) { return nil, os.Mkdir(name, 0o777) })
}

// File is a temporary file being written for its target. Write to the
// embedded *os.File, then Commit, or Abort (which can always be deferred).
type File struct {
	*os.File
	target string
	done   bool
}

// Create creates a new temporary file for target, open for reading and
// writing, mode 0666 less the umask, registered with the file's Close as its
// closer (RemovePending closes it before removing it).
func Create(target string) (*File, error) {
	var f *os.File
	_, err := create(target, func(name string) (func() error, error) {
		var err error
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if err != nil {
			return nil, err
		}
		return f.Close, nil
	})
	if err != nil {
		return nil, err
	}
	return &File{File: f, target: target}, nil
}

// Target is the path the file will have once committed.
func (f *File) Target() string { return f.target }

// Commit closes the file and renames it onto its target, replacing a file
// there (see Rename). When closing fails, or the rename fails for a reason
// other than another program holding a file, the temporary file is removed;
// a *KeptError says where a finished file that could not be renamed is.
func (f *File) Commit() error {
	return f.commit(Rename)
}

// CommitOrDiscard is Commit through RenameOrDiscard, for a file that is soon
// written again (a preview): at most one short retry, and any failure
// removes the temporary file.
func (f *File) CommitOrDiscard() error {
	return f.commit(RenameOrDiscard)
}

// commit closes the file and renames it onto its target with rn.
func (f *File) commit(rn func(path, target string) error) error {
	if f.done {
		return errors.New("atomicfile: Commit after Commit or Abort")
	}
	f.done = true
	if err := f.File.Close(); err != nil {
		Remove(f.Name())
		return err
	}
	return rn(f.Name(), f.target)
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
