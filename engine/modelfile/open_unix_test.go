//go:build unix

package modelfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOpenRefusesPipe checks that a named pipe is refused at once instead
// of blocking in open(2) until a writer appears (which would be forever).
func TestOpenRefusesPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "model.gguf")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Inspect(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		var nr *NotRegularError
		if !errors.As(err, &nr) || !strings.Contains(err.Error(), "model.gguf is a named pipe (FIFO), not a regular file") {
			t.Errorf("error %v, want a NotRegularError naming the pipe", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Inspect of a named pipe still blocked after 5 s")
	}
	if _, _, err := Open("/dev/null"); err == nil || !strings.Contains(err.Error(), "/dev/null is a character device") {
		t.Errorf("/dev/null: %v", err)
	}
}

// TestCheckRegularLinks: a symbolic link to nothing, a loop of links and an
// empty name are named as such (they were "stat X: no such file or
// directory", "stat X: too many levels of symbolic links" and " does not
// exist"), and still match the stat error.
func TestCheckRegularLinks(t *testing.T) {
	dir := t.TempDir()
	dangling, loop := filepath.Join(dir, "high.gguf"), filepath.Join(dir, "a.gguf")
	if err := os.Symlink(filepath.Join(dir, "gone.gguf"), dangling); err != nil {
		t.Skipf("cannot make a symbolic link here: %v", err)
	}
	if err := os.Symlink(filepath.Join(dir, "b.gguf"), loop); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(loop, filepath.Join(dir, "b.gguf")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, want string
		is         error
	}{
		{dangling, dangling + ` is a symbolic link to "` + filepath.Join(dir, "gone.gguf") + `", which does not lead to an existing file; point the link at the model file`, fs.ErrNotExist},
		{loop, loop + " is a loop of symbolic links; point the link at the model file", syscall.ELOOP},
		{"", `the file name is empty (""): give the path of a model file`, fs.ErrNotExist},
	} {
		_, _, err := Open(c.path)
		if err == nil || err.Error() != c.want || !errors.Is(err, c.is) {
			t.Errorf("Open(%q): %v, want %q matching %v", c.path, err, c.want, c.is)
		}
	}
}
