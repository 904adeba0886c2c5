package lora

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQA14OpenErrorWords: a LoRA file that does not open is named once,
// in the user's words, without the package's prefix or the system call:
// a missing file is "PATH: no such file or directory", not "lora: stat
// PATH: no such file or directory"; a file of another kind and one too
// short say what they are without "lora: " before them. The errors still
// match what they wrap (errors.Is, errors.As).
func TestQA14OpenErrorWords(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "gone.safetensors")
	_, err := Open(missing)
	if err == nil {
		t.Fatal("a missing file opened")
	}
	if want := missing + ": no such file or directory"; err.Error() != want {
		t.Errorf("missing file: %q, want %q", err, want)
	}
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Path != missing {
		t.Errorf("missing file: %#v does not match fs.ErrNotExist and its *fs.PathError", err)
	}

	short := filepath.Join(dir, "short.safetensors")
	if err := os.WriteFile(short, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, "page.safetensors")
	if err := os.WriteFile(page, []byte("<!DOCTYPE html><html>Not found</html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{short, page, dir} {
		_, err := Open(path)
		if err == nil {
			t.Fatalf("%s opened", path)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, path+": ") && !strings.HasPrefix(msg, path+" is ") {
			t.Errorf("%s: %q, want it to start with the path, without \"lora: \"", path, msg)
		}
	}
}
