package atomicfile

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// errHeld stands for Windows' "Access is denied." or sharing violation
// while another program has the file open, which Linux cannot produce.
var errHeld = errors.New("The process cannot access the file because it is being used by another process.")

// inject replaces the rename with fake, makes errHeld the only transient
// error, and records the retry's waits instead of sleeping, all restored
// at the end of the test.
func inject(t *testing.T, fake func(from, to string) error) *[]time.Duration {
	t.Helper()
	oldRename, oldTransient, oldSleep := rename, isTransient, sleep
	t.Cleanup(func() { rename, isTransient, sleep = oldRename, oldTransient, oldSleep })
	var waits []time.Duration
	rename = fake
	isTransient = func(err error) bool { return errors.Is(err, errHeld) }
	sleep = func(d time.Duration) { waits = append(waits, d) }
	return &waits
}

// finished writes a finished temporary output for target and returns its
// temporary name.
func finished(t *testing.T, target string) string {
	t.Helper()
	f, err := Create(target)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("hours of work"); err != nil {
		t.Fatal(err)
	}
	if err := f.File.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func checkContent(t *testing.T, path string) {
	t.Helper()
	if b, err := os.ReadFile(path); err != nil || string(b) != "hours of work" {
		t.Errorf("%s: %q, %v; want the finished output", path, b, err)
	}
}

func checkNotPending(t *testing.T, path string) {
	t.Helper()
	if slices.Contains(Pending(), path) {
		t.Errorf("%s is still registered: RemovePending would delete it", path)
	}
}

// TestRenameRetriesTransient: a rename refused twice while another program
// holds the file succeeds on the third try, after growing waits.
func TestRenameRetriesTransient(t *testing.T) {
	target := filepath.Join(t.TempDir(), "clip.mp4")
	tmp := finished(t, target)
	calls := 0
	waits := inject(t, func(from, to string) error {
		if calls++; calls <= 2 {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: errHeld}
		}
		return os.Rename(from, to)
	})
	if err := Rename(tmp, target); err != nil {
		t.Fatal(err)
	}
	if calls != 3 || !slices.Equal(*waits, []time.Duration{firstWait, 2 * firstWait}) {
		t.Errorf("%d renames after waits %v, want 3 after [%v %v]", calls, *waits, firstWait, 2*firstWait)
	}
	checkContent(t, target)
	checkNotPending(t, tmp)
}

// TestRenameKeepsHeldOutput: when the target stays held, the finished output
// is kept under a free visible name (the first one taken), is no longer
// registered, and the error names it and the target; the waits grow, stay
// within totalWait and use most of it.
func TestRenameKeepsHeldOutput(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "clip.mp4")
	if err := os.WriteFile(filepath.Join(dir, "clip.finished.mp4"), []byte("older"), 0o666); err != nil {
		t.Fatal(err)
	}
	tmp := finished(t, target)
	waits := inject(t, func(from, to string) error {
		if to == target {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: errHeld}
		}
		return os.Rename(from, to)
	})
	err := Rename(tmp, target)
	var ke *KeptError
	if !errors.As(err, &ke) || !errors.Is(err, errHeld) {
		t.Fatalf("Rename = %v, want a *KeptError wrapping the rename's error", err)
	}
	want := filepath.Join(dir, "clip.finished-2.mp4")
	if ke.Kept != want || ke.Target != target {
		t.Errorf("kept %s for %s, want %s for %s", ke.Kept, ke.Target, want, target)
	}
	for _, s := range []string{want, target, "rename it to clip.mp4", "close that program"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the error does not say %q: %v", s, err)
		}
	}
	checkContent(t, want)
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary name still there: %v", err)
	}
	checkNotPending(t, tmp)
	checkNotPending(t, want)
	var total time.Duration
	for i, w := range *waits {
		total += w
		if i > 0 && w < (*waits)[i-1] {
			t.Errorf("waits %v shrink", *waits)
		}
	}
	if total > totalWait || total < totalWait/2 || slices.Max(*waits) > maxWait {
		t.Errorf("waited %v in all (%v), want at most %v each and %v…%v in all", total, *waits, maxWait, totalWait/2, totalWait)
	}
	if err := RemovePending(); err != nil {
		t.Fatal(err)
	}
	checkContent(t, want) // a later quit leaves it alone
}

// TestRenameKeepsHeldSource: when the temporary file itself is held (no
// rename of it works), it stays where it is, unregistered, and the error
// names that path.
func TestRenameKeepsHeldSource(t *testing.T) {
	target := filepath.Join(t.TempDir(), "frames")
	tmp := finished(t, target)
	inject(t, func(from, to string) error { return &os.LinkError{Op: "rename", Old: from, New: to, Err: errHeld} })
	err := Rename(tmp, target)
	var ke *KeptError
	if !errors.As(err, &ke) || ke.Kept != tmp || !strings.Contains(err.Error(), tmp) {
		t.Fatalf("Rename = %v, want a *KeptError keeping %s", err, tmp)
	}
	checkContent(t, tmp)
	checkNotPending(t, tmp)
}

// TestRenameOtherFailure: a failure no other program causes (here a folder
// at the target) is not retried and removes the temporary output, as
// before: it is no finished output's fault, and the caller's error says why.
func TestRenameOtherFailure(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "clip.mp4")
	if err := os.MkdirAll(filepath.Join(target, "x"), 0o777); err != nil {
		t.Fatal(err)
	}
	tmp := finished(t, target)
	calls := 0
	waits := inject(t, func(from, to string) error { calls++; return os.Rename(from, to) })
	err := Rename(tmp, target)
	var ke *KeptError
	if err == nil || errors.As(err, &ke) {
		t.Fatalf("Rename onto a folder = %v, want the rename's own error", err)
	}
	if calls != 1 || len(*waits) != 0 {
		t.Errorf("%d renames, waits %v: want one try", calls, *waits)
	}
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary output not removed: %v", err)
	}
	checkNotPending(t, tmp)
}

// injectRemove replaces the removal with fake for the test.
func injectRemove(t *testing.T, fake func(string) error) {
	t.Helper()
	old := removeAll
	t.Cleanup(func() { removeAll = old })
	removeAll = fake
}

// TestRemovePendingClosesFirst: as Windows refuses to remove an open file,
// RemovePending closes a file from Create (registered with its Close) and a
// path registered with RegisterCloser before removing them, each closer once.
func TestRemovePendingClosesFirst(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(filepath.Join(dir, "a.avi"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	child := filepath.Join(dir, ".b.mp4.tmp")
	if err := os.WriteFile(child, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	childOpen, closes := true, 0
	RegisterCloser(child, func() error { childOpen = false; closes++; return nil })
	injectRemove(t, func(p string) error {
		if _, err := f.Stat(); p == f.Name() && err == nil {
			return errors.New("remove " + p + ": " + errHeld.Error())
		}
		if p == child && childOpen {
			return errors.New("remove " + p + ": " + errHeld.Error())
		}
		return os.RemoveAll(p)
	})
	if err := RemovePending(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{f.Name(), child} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", p, err)
		}
	}
	if p := Pending(); len(p) != 0 {
		t.Errorf("still registered: %v", p)
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("a write after RemovePending = %v, want os.ErrClosed", err)
	}
	if closes != 1 {
		t.Errorf("closer called %d times", closes)
	}
}

// TestRemoveKeepsFailed: a path whose removal fails stays registered, and a
// later RemovePending removes it (without calling its closer again).
func TestRemoveKeepsFailed(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".c.avi.tmp")
	if err := os.WriteFile(path, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	closes := 0
	RegisterCloser(path, func() error { closes++; return nil })
	injectRemove(t, func(p string) error { return errors.New("remove " + p + ": " + errHeld.Error()) })
	if err := Remove(path); err == nil {
		t.Fatal("Remove succeeded")
	}
	if err := RemovePending(); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("RemovePending = %v, want the removal's error naming %s", err, path)
	}
	if !slices.Contains(Pending(), path) {
		t.Fatalf("%s was forgotten though it is still there", path)
	}
	removeAll = os.RemoveAll
	if err := RemovePending(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) || len(Pending()) != 0 || closes != 1 {
		t.Errorf("after the retry: stat %v, pending %v, %d closes (want gone, none, 1)", err, Pending(), closes)
	}
}

// TestRemovePendingFolderWithOpenFile: a registered scratch folder holding a
// registered file that is still open (synth writing a model inside its
// private folder, bench a video inside its own) is removed as Windows
// allows: every file closed before any folder is removed, whatever order
// the paths are visited in. Eight such pairs: visiting each folder before
// its file by chance would pass one in 256 runs.
func TestRemovePendingFolderWithOpenFile(t *testing.T) {
	var dirs []string
	var files []*File
	for range 8 {
		dir, err := MkdirTemp(t.TempDir(), "scratch-")
		if err != nil {
			t.Fatal(err)
		}
		f, err := Create(filepath.Join(dir, "model.gguf"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		dirs, files = append(dirs, dir), append(files, f)
	}
	// A folder (or file) with a file in it still open cannot be removed.
	injectRemove(t, func(p string) error {
		for _, f := range files {
			if _, err := f.Stat(); err == nil && (p == f.Name() || p == filepath.Dir(f.Name())) {
				return errors.New("remove " + p + ": " + errHeld.Error())
			}
		}
		return os.RemoveAll(p)
	})
	if err := RemovePending(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", d, err)
		}
	}
	if p := Pending(); len(p) != 0 {
		t.Errorf("still registered: %v", p)
	}
}

// TestRemovePendingRetriesOnce: a removal that fails once (a scanner
// letting go a moment later) is tried again in the same call; one that
// keeps failing is tried twice, reported and stays registered, and the
// others are removed all the same.
func TestRemovePendingRetriesOnce(t *testing.T) {
	dir := t.TempDir()
	flaky, stuck, fine := filepath.Join(dir, ".a.tmp"), filepath.Join(dir, ".b.tmp"), filepath.Join(dir, ".c.tmp")
	for _, p := range []string{flaky, stuck, fine} {
		if err := os.WriteFile(p, nil, 0o666); err != nil {
			t.Fatal(err)
		}
		Register(p)
	}
	t.Cleanup(func() { Forget(stuck) })
	tries := map[string]int{}
	injectRemove(t, func(p string) error {
		tries[p]++
		if p == stuck || p == flaky && tries[p] == 1 {
			return errors.New("remove " + p + ": " + errHeld.Error())
		}
		return os.RemoveAll(p)
	})
	err := RemovePending()
	if err == nil || !strings.Contains(err.Error(), stuck) {
		t.Fatalf("RemovePending = %v, want the error of %s", err, stuck)
	}
	if want := map[string]int{flaky: 2, stuck: 2, fine: 1}; !maps.Equal(tries, want) {
		t.Errorf("removals tried %v, want %v", tries, want)
	}
	if p := Pending(); !slices.Equal(p, []string{stuck}) {
		t.Errorf("registered after the call: %v, want only %s", p, stuck)
	}
	for _, p := range []string{flaky, fine} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", p, err)
		}
	}
}

// TestKeptErrorSaysWhatIsThere: Windows refuses a rename onto a folder or a
// read-only file with the same "access denied" as onto a file another
// program holds; after the retries Rename looks, and the message names what
// is in the way and what to do, blaming another program only when a plain
// file (or nothing) is there. The file it blames is one the user knows.
func TestKeptErrorSaysWhatIsThere(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, target string)
		found Blocker
		say   []string
		not   []string
	}{
		{"held", func(t *testing.T, target string) {
			if err := os.WriteFile(target, []byte("old"), 0o666); err != nil {
				t.Fatal(err)
			}
		}, BlockedByProgram,
			[]string{"another program has clip.mp4 or the new file open", "close that program"},
			[]string{"has it or", "folder", "read-only"}},
		{"folder", func(t *testing.T, target string) {
			if err := os.Mkdir(target, 0o777); err != nil {
				t.Fatal(err)
			}
		}, BlockedByFolder,
			[]string{"a folder is there", "move that folder away"},
			[]string{"another program", "read-only"}},
		{"read-only", func(t *testing.T, target string) {
			if err := os.WriteFile(target, []byte("old"), 0o444); err != nil {
				t.Fatal(err)
			}
		}, BlockedByReadOnly,
			[]string{"the file there is read-only", "remove clip.mp4 or make it writable"},
			[]string{"another program", "folder"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "clip.mp4")
			c.setup(t, target)
			tmp := finished(t, target)
			inject(t, func(from, to string) error {
				if to == target {
					return &os.LinkError{Op: "rename", Old: from, New: to, Err: errHeld}
				}
				return os.Rename(from, to)
			})
			err := Rename(tmp, target)
			ke, ok := errors.AsType[*KeptError](err)
			if !ok || ke.Found != c.found {
				t.Fatalf("Rename = %#v, want a *KeptError finding %d", err, c.found)
			}
			msg := err.Error()
			for _, s := range append(c.say, ke.Kept, "then rename it to clip.mp4") {
				if !strings.Contains(msg, s) {
					t.Errorf("the error does not say %q: %s", s, msg)
				}
			}
			for _, s := range c.not {
				if strings.Contains(msg, s) {
					t.Errorf("the error says %q: %s", s, msg)
				}
			}
		})
	}
}

// TestRenameOrDiscard: the rename for previews tries once more, one short
// wait later, after a failure another program may cause; when that fails
// too, the temporary file is removed at once (no seconds of waiting, no
// kept copy), the old target is untouched and the error is the rename's.
func TestRenameOrDiscard(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "preview.png")
	if err := os.WriteFile(target, []byte("older"), 0o666); err != nil {
		t.Fatal(err)
	}
	tmp := finished(t, target)
	calls := 0
	waits := inject(t, func(from, to string) error {
		calls++
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: errHeld}
	})
	err := RenameOrDiscard(tmp, target)
	if _, kept := errors.AsType[*KeptError](err); !errors.Is(err, errHeld) || kept {
		t.Fatalf("RenameOrDiscard = %v, want the rename's error, no KeptError", err)
	}
	if calls != 2 || !slices.Equal(*waits, []time.Duration{firstWait}) {
		t.Errorf("%d renames after waits %v, want 2 after [%v]", calls, *waits, firstWait)
	}
	if names, _ := os.ReadDir(dir); len(names) != 1 {
		t.Errorf("the folder holds %v, want only the old preview", names)
	}
	if b, _ := os.ReadFile(target); string(b) != "older" {
		t.Errorf("old preview changed to %q", b)
	}
	checkNotPending(t, tmp)

	// A second try that works commits it; File.CommitOrDiscard goes the
	// same way.
	f, err := Create(target)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("hours of work"); err != nil {
		t.Fatal(err)
	}
	calls = 0
	inject(t, func(from, to string) error {
		if calls++; calls == 1 {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: errHeld}
		}
		return os.Rename(from, to)
	})
	if err := f.CommitOrDiscard(); err != nil {
		t.Fatal(err)
	}
	checkContent(t, target)
	checkNotPending(t, f.Name())
}
