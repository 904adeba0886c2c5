package atomicfile

import (
	"errors"
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
