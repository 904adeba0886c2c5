package main

// A later QA pass: outputs in a folder that cannot be written in are usage
// errors before any work, for every command alike.

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/safetensors"
)

// unwritableDir returns an existing folder in which no file can be made:
// a read-only temporary folder, or, where permissions do not bind (root),
// /sys on Linux; the test skips when there is none.
func unwritableDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "read-only")
	if err := os.Mkdir(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	candidates := []string{dir}
	if runtime.GOOS == "linux" {
		candidates = append(candidates, "/sys")
	}
	for _, d := range candidates {
		if checkWritable(d) != nil {
			return d
		}
	}
	t.Skip("no folder here refuses new files (permissions do not bind for this user)")
	return ""
}

// TestSynthUnwritableFolder: synth into a folder it cannot write in is a
// usage error naming the folder, before the announcement, instead of exit
// status 1 after it naming synth's temporary folder.
func TestSynthUnwritableFolder(t *testing.T) {
	dir := unwritableDir(t)
	out := filepath.Join(dir, "x.gguf")
	code, stdout, stderr := runSynthCtx(context.Background(), append(append([]string{}, tinyDiT...), out)...)
	if code != 2 || stdout != "" || !strings.Contains(stderr, "cannot write in the folder "+dir) || strings.Contains(stderr, "partial") {
		t.Errorf("synth %s: status %d, stdout %q, stderr %q; want status 2 and only \"cannot write in the folder %s\"", out, code, stdout, stderr, dir)
	}
}

// TestBenchOutVideoUnwritable: --out-video naming a folder that cannot be
// written in is refused before the bench runs, not after its first run.
func TestBenchOutVideoUnwritable(t *testing.T) {
	dir := unwritableDir(t)
	code, stdout, stderr := runBenchCtx(context.Background(), "--tiny", "--frames", "5", "--size", "32x16", "--schedule-steps", "2", "--out-video", dir)
	if code != 2 || stdout != "" || !strings.Contains(stderr, "--out-video "+dir+": cannot write in the folder") {
		t.Errorf("bench --out-video %s: status %d, stdout %q, stderr %q; want status 2 and \"cannot write in the folder\"", dir, code, stdout, stderr)
	}
}

// TestBenchSynthDirUnwritable: synthetic files to write into a --synth-dir
// that cannot be written in are refused before the first is announced, and
// the message names the folder, not a temporary file in it.
func TestBenchSynthDirUnwritable(t *testing.T) {
	dir := unwritableDir(t)
	code, stdout, stderr := runBenchCtx(context.Background(), "--tiny", "--synth-lora", "4", "--synth-dir", dir, "--frames", "5", "--size", "32x16", "--schedule-steps", "2")
	if code == 0 || strings.Contains(stdout, "writing") || !strings.Contains(stderr, "cannot write the synthetic files in the folder "+dir) || strings.Contains(stderr, "partial") {
		t.Errorf("bench --synth-dir %s: status %d, stdout %q, stderr %q; want a failure naming the folder before anything is announced", dir, code, stdout, stderr)
	}
}

// TestInspectEscapesControlCharacters: the names and metadata keys of a
// (crafted or damaged) model file reach the terminal with their control
// characters escaped, in the description and in an error alike: an ESC
// sequence in a tensor name cannot recolour, move the cursor or clear the
// screen.
func TestInspectEscapesControlCharacters(t *testing.T) {
	dir := t.TempDir()
	w := gguf.NewWriter()
	w.SetKV("general.architecture", "wan")
	w.SetKV("evil\x1b[2Jkey", "v")
	if err := w.AddTensor("t\x1b[31m.weight\r", gguf.TypeF32, []int64{4}, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	g := filepath.Join(dir, "evil.gguf")
	if err := w.WriteFile(g); err != nil {
		t.Fatal(err)
	}
	st := filepath.Join(dir, "evil.safetensors")
	if err := safetensors.Write(st, []safetensors.Tensor{safetensors.FromFloat32("x\u009b31m\x00", []int64{2}, []float32{1, 2})},
		map[string]string{"k\x1b[31m": "v"}); err != nil {
		t.Fatal(err)
	}
	// Cut inside the data: the reader's error names the last tensor.
	b, err := os.ReadFile(g)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.gguf")
	if err := os.WriteFile(cut, b[:len(b)-20], 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI("inspect", "-v", g, st, cut)
	if code != 1 || !strings.Contains(stderr, "cut.gguf") {
		t.Fatalf("status %d, stderr %q; want 1 and the damaged file named", code, stderr)
	}
	for _, c := range []struct{ name, out string }{{"stdout", stdout}, {"stderr", stderr}} {
		if i := strings.IndexFunc(c.out, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r < 0xa0 }); i >= 0 {
			t.Errorf("%s has the control character %q at %d: %q", c.name, c.out[i], i, c.out)
		}
	}
	for _, want := range []string{`evil\x1b[2Jkey`, `t\x1b[31m.weight\r`, `k\x1b[31m`, `x\u009b31m\x00`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %s, the name with its control characters escaped: %q", want, stdout)
		}
	}
	if !strings.Contains(stderr, `t\x1b[31m.weight\r`) {
		t.Errorf("stderr lacks the escaped tensor name: %q", stderr)
	}
}

// TestControlEscaperBytes: a byte that is not UTF-8 is escaped too, and
// Write reports the length it was given.
func TestControlEscaperBytes(t *testing.T) {
	var b strings.Builder
	in := []byte("a\x9bb\tc\n")
	n, err := controlEscaper{&b}.Write(in)
	if n != len(in) || err != nil || b.String() != "a\\x9bb\tc\n" {
		t.Errorf("Write(%q) = %d, %v and wrote %q; want %d, nil and %q", in, n, err, b.String(), len(in), "a\\x9bb\tc\n")
	}
}
