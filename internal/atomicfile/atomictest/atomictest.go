// Package atomictest checks the modes of output files in tests: a file must
// have 0666 and a folder 0777, less the process umask, as with any Unix tool.
package atomictest

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// WithUmask sets the process umask to mask for the rest of the test and
// restores it at the end. A mask other than the usual 022 shows a writer
// that applies a fixed mode (0644) instead of the umask. It skips the test on
// Windows, which has no umask. Tests using it must not run in parallel.
func WithUmask(t testing.TB, mask int) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("no umask on Windows")
	}
	old := setUmask(mask)
	t.Cleanup(func() { setUmask(old) })
}

// CheckMode fails t unless path's permission bits are 0666 (a file) or 0777
// (a folder) less the current umask. It skips the check on Windows.
func CheckMode(t testing.TB, path string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	mask := setUmask(0)
	setUmask(mask)
	base := fs.FileMode(0o666)
	if st.IsDir() {
		base = 0o777
	}
	if got, want := st.Mode().Perm(), base&^fs.FileMode(mask); got != want {
		t.Errorf("%s: mode %#o, want %#o (%#o less the umask %#o)", path, got, want, base, mask)
	}
}

// CheckWrite runs write on a new path called name in a temporary folder
// under the umask 027 (so that a fixed 0644 or a private 0600 fails) and
// checks the mode of what it made (CheckMode). It skips on Windows.
func CheckWrite(t testing.TB, name string, write func(path string) error) {
	t.Helper()
	WithUmask(t, 0o027)
	path := filepath.Join(t.TempDir(), name)
	if err := write(path); err != nil {
		t.Fatal(err)
	}
	CheckMode(t, path)
}
