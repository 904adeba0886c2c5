package modelfile

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wan22/wan22/gguf"
)

// TestPathsQuoted: a path holding a control character (a terminal escape,
// a newline) or bytes that are not UTF-8 is Go-quoted in every error and
// report that names it, so that it does not reach the terminal raw: a
// missing file, a file on the path where a folder should be, a directory,
// a dangling link, an empty, a cut, a damaged or an unrecognised file, and
// the report's first line. The errors' Path fields hold it as given.
func TestPathsQuoted(t *testing.T) {
	for _, name := range []string{"m\x1b[31m", "m\nx", "m\xff"} {
		dir := t.TempDir()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p+".gguf", nil, 0o644); err != nil {
			t.Skipf("this system does not take the name %q: %v", name, err)
		}
		write := func(ext string, b []byte) string {
			if err := os.WriteFile(p+ext, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return p + ext
		}
		if err := os.Mkdir(p+".d", 0o755); err != nil {
			t.Fatal(err)
		}
		link := p + ".link"
		if err := os.Symlink(filepath.Join(dir, "gone"), link); err != nil {
			t.Fatal(err)
		}
		file := write(".file", []byte("x"))
		for _, c := range []struct {
			path string
			want []string // after the path, quoted
		}{
			{p + ".missing", []string{": no such file or directory"}},
			{filepath.Join(file, "low.gguf"), []string{": a part of the path before the file name is a file, not a folder (" + strconv.Quote(file) + ")"}},
			{p + ".d", []string{" is a directory, not a regular file"}},
			{link, []string{" is a symbolic link to "}},
			{p + ".gguf", []string{": the file is empty (0 bytes)"}},
			{write(".cut", []byte("GGUF\x03\x00\x00\x00\x05\x00")), []string{": truncated GGUF file"}},
			{write(".json", stFile(`{"w":{"dtype":"F32",,"shape":[1]}}`, 4)), []string{": damaged safetensors header: "}},
			{write(".ver", []byte("GGUF\x09\x00\x00\x7f\x00\x00\x00\x00\x00\x00\x00\x00")), []string{": damaged GGUF header: "}},
			{write(".f4", stFile(`{"w":{"dtype":"F4","shape":[1],"data_offsets":[0,1]}}`, 1)), []string{`: tensor "w": dtype`}},
			{write(".txt", []byte("this is not a model file at all")), []string{": unrecognised file format"}},
		} {
			_, _, err := Open(c.path)
			if err == nil {
				t.Fatalf("%q opened", c.path)
			}
			msg := err.Error()
			checkPrintable(t, "the error", msg)
			for _, w := range c.want {
				if !strings.HasPrefix(msg, strconv.Quote(c.path)+w) {
					t.Errorf("Open(%q): %q; want it to start with the path quoted, then %q", c.path, msg, w)
				}
			}
		}

		// The typed errors keep the path as given.
		_, _, err := Open(p + ".d")
		if nr, ok := err.(*NotRegularError); !ok || nr.Path != p+".d" {
			t.Errorf("Open(%q): %#v, want a *NotRegularError with the path as given", p+".d", err)
		}

		// A report's first line.
		w := gguf.NewWriter()
		if err := w.AddTensor("blocks.0.w", gguf.TypeF32, []int64{4}, make([]byte, 16)); err != nil {
			t.Fatal(err)
		}
		model := p + ".model.gguf"
		if err := w.WriteFile(model); err != nil {
			t.Fatal(err)
		}
		out := reportOf(t, model, false)
		checkPrintable(t, "the report", out)
		if !strings.HasPrefix(out, strconv.Quote(model)+"\n") {
			t.Errorf("the report of %q starts %.100q, want the path quoted", model, out)
		}
	}
}

// TestPathsPrintedAsTheyAre: an ordinary path, with spaces, accents or
// other scripts, is printed as it is.
func TestPathsPrintedAsTheyAre(t *testing.T) {
	for _, name := range []string{"a b.gguf", "été.gguf", "模型.gguf"} {
		p := filepath.Join(t.TempDir(), name)
		_, _, err := Open(p)
		if want := p + ": no such file or directory"; err == nil || err.Error() != want {
			t.Errorf("Open(%q): %v, want %q", p, err, want)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err = Open(p)
		if want := p + ": the file is empty"; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Open(%q): %v, want it to start %q", p, err, want)
		}
	}
	var b bytes.Buffer
	if err := (&Report{Path: "a b.gguf"}).WriteText(&b, false); err != nil || !strings.HasPrefix(b.String(), "a b.gguf\n") {
		t.Errorf("report: %q, %v", b.String(), err)
	}
}
