package atomicfile_test

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22/internal/atomicfile"
	"github.com/wan22/wan22/internal/atomicfile/atomictest"
)

// hidden lists the temporary names left in dir.
func hidden(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestCommitAbortModes: a committed file and folder have the umask's modes
// (under an unusual umask, so that a fixed 0644 fails), an aborted file
// leaves nothing, and nothing stays registered.
func TestCommitAbortModes(t *testing.T) {
	atomictest.WithUmask(t, 0o027)
	dir := t.TempDir()
	target := filepath.Join(dir, "out.bin")
	f, err := atomicfile.Create(target)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(f.Name()), ".out.bin.tmp-") || !slices.Contains(atomicfile.Pending(), f.Name()) {
		t.Errorf("temporary file %s (pending %v)", f.Name(), atomicfile.Pending())
	}
	if _, err := f.WriteString("data"); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // no-op after Commit
	if b, err := os.ReadFile(target); err != nil || string(b) != "data" {
		t.Fatalf("target: %q, %v", b, err)
	}
	atomictest.CheckMode(t, target)

	g, err := atomicfile.Create(filepath.Join(dir, "gone.bin"))
	if err != nil {
		t.Fatal(err)
	}
	g.Abort()
	if err := g.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}

	d, err := atomicfile.TempDir(filepath.Join(dir, "frames"))
	if err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Rename(d, filepath.Join(dir, "frames")); err != nil {
		t.Fatal(err)
	}
	atomictest.CheckMode(t, filepath.Join(dir, "frames"))
	if h := hidden(t, dir); len(h) != 0 {
		t.Errorf("left behind: %v", h)
	}
	if p := atomicfile.Pending(); len(p) != 0 {
		t.Errorf("still registered: %v", p)
	}
}

// TestRemovePending removes open temporary files and folders in progress,
// as a process quitting at once does.
func TestRemovePending(t *testing.T) {
	dir := t.TempDir()
	f, err := atomicfile.Create(filepath.Join(dir, "a.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if runtime.GOOS == "windows" {
		f.Close() // Windows cannot remove an open file
	}
	d, err := atomicfile.TempDir(filepath.Join(dir, "frames"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "frame_0000.png"), []byte("x"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.RemovePending(); err != nil {
		t.Fatal(err)
	}
	if h := hidden(t, dir); len(h) != 0 {
		t.Errorf("left behind: %v", h)
	}
	if p := atomicfile.Pending(); len(p) != 0 {
		t.Errorf("still registered: %v", p)
	}
}

// TestCreateErrors: no target, and a folder that does not exist.
func TestCreateErrors(t *testing.T) {
	if _, err := atomicfile.Create(""); err == nil {
		t.Error("Create(\"\") succeeded")
	}
	if _, err := atomicfile.Create(filepath.Join(t.TempDir(), "no", "such", "x")); err == nil {
		t.Error("Create in a missing folder succeeded")
	}
}

// TestMkdirTemp: the folder exists and is registered in the same step, and
// RemovePending removes it with what is in it.
func TestMkdirTemp(t *testing.T) {
	parent := t.TempDir()
	d, err := atomicfile.MkdirTemp(parent, "scratch-")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(d), "scratch-") || filepath.Dir(d) != parent {
		t.Errorf("folder %s is not a scratch- folder in %s", d, parent)
	}
	if !slices.Contains(atomicfile.Pending(), d) {
		t.Fatalf("%s is not registered: %v", d, atomicfile.Pending())
	}
	if err := os.WriteFile(filepath.Join(d, "model.gguf"), []byte("x"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.RemovePending(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d); !os.IsNotExist(err) {
		t.Errorf("%s is still there after RemovePending (stat: %v)", d, err)
	}
	if _, err := atomicfile.MkdirTemp(filepath.Join(parent, "missing"), "x-"); err == nil {
		t.Error("MkdirTemp in a folder that does not exist succeeded")
	} else if p := atomicfile.Pending(); len(p) != 0 {
		t.Errorf("a failed MkdirTemp registered %v", p)
	}
}

// TestLongestTempName: the temporary names Create and TempDir make are no
// longer than LongestTempName's, which is base with the same wrapping.
func TestLongestTempName(t *testing.T) {
	dir := t.TempDir()
	longest := atomicfile.LongestTempName("clip.mp4")
	if !strings.HasPrefix(longest, ".clip.mp4.tmp-") {
		t.Errorf("LongestTempName(clip.mp4) = %q", longest)
	}
	for range 20 {
		f, err := atomicfile.Create(filepath.Join(dir, "clip.mp4"))
		if err != nil {
			t.Fatal(err)
		}
		d, err := atomicfile.TempDir(filepath.Join(dir, "clip.mp4"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{filepath.Base(f.Name()), filepath.Base(d)} {
			if len(name) > len(longest) || !strings.HasPrefix(name, ".clip.mp4.tmp-") {
				t.Errorf("temporary name %q, longer than %q or not alike", name, longest)
			}
		}
		f.Abort()
		atomicfile.Remove(d)
	}
}
