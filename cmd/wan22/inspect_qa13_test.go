package main

// The thirteenth QA pass over wan22 inspect, run as a new user would run it.

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wan22/wan22/safetensors"
)

// failingStdout is a standard output whose every write fails with err, as
// os.File's writes fail: wrapped in a *fs.PathError naming /dev/stdout.
type failingStdout struct{ err error }

func (w failingStdout) Write([]byte) (int, error) {
	return 0, &fs.PathError{Op: "write", Path: "/dev/stdout", Err: w.err}
}

// inspectQAFiles writes a small model of no known kind and a LoRA, the two
// ways inspect prints a file (the report, and lora's summary).
func inspectQAFiles(t *testing.T) (model, lora string) {
	t.Helper()
	dir := t.TempDir()
	model = filepath.Join(dir, "model.safetensors")
	if err := safetensors.Write(model, []safetensors.Tensor{
		safetensors.FromFloat32("encoder.layer.0.weight", []int64{2, 2}, make([]float32, 4)),
	}, nil); err != nil {
		t.Fatal(err)
	}
	return model, writeTinyLoRA(t, dir, "lora.safetensors", 1, "self_attn.q")
}

// TestInspectBrokenPipe: `wan22 inspect -v FILE | head` stops quietly when
// head has read enough, with the status of what was inspected, as other
// command-line tools do; it printed "wan22 inspect: write /dev/stdout:
// broken pipe" and exited 1. A LoRA's summary is no exception.
func TestInspectBrokenPipe(t *testing.T) {
	model, lora := inspectQAFiles(t)
	for _, files := range [][]string{{model, lora}, {lora, model}, {"-v", lora}} {
		var stderr bytes.Buffer
		code := run(append([]string{"inspect"}, files...), failingStdout{syscall.EPIPE}, &stderr)
		if code != 0 || stderr.Len() != 0 {
			t.Errorf("inspect %q into a closed pipe: status %d, stderr %q; want 0 and nothing said", files, code, stderr.String())
		}
	}
}

// TestInspectStdoutFull: a report that cannot be written (a full disk,
// /dev/full) is an error saying so, for a LoRA's summary too, which was
// dropped with status 0; the message is not Go's "write /dev/stdout: …".
func TestInspectStdoutFull(t *testing.T) {
	model, lora := inspectQAFiles(t)
	for _, path := range []string{model, lora} {
		var stderr bytes.Buffer
		code := run([]string{"inspect", path}, failingStdout{syscall.ENOSPC}, &stderr)
		want := "wan22 inspect: the report could not be written to standard output: " + syscall.ENOSPC.Error() + "\n"
		if code != 1 || stderr.String() != want {
			t.Errorf("inspect %s into a full disk: status %d, stderr %q; want 1 and %q", path, code, stderr.String(), want)
		}
	}
}

// TestInspectPathErrors: a name too long for the system and a path through
// a file say so and what to do, not Go's "stat X: file name too long" or
// "stat X: not a directory".
func TestInspectPathErrors(t *testing.T) {
	model, _ := inspectQAFiles(t)
	long := filepath.Join(filepath.Dir(model), strings.Repeat("a", 300)+".gguf")
	through := filepath.Join(model, "low.gguf")
	for _, c := range []struct{ path, want string }{
		{long, "wan22 inspect: " + long + ": the name is too long for this system"},
		{through, "wan22 inspect: " + through + ": a part of the path before the file name is a file, not a folder (" + model + "); check the path\n"},
	} {
		code, stdout, stderr := runCLI("inspect", c.path)
		if code != 1 || stdout != "" || !strings.HasPrefix(stderr, c.want) || strings.Contains(stderr, "stat ") {
			t.Errorf("inspect %.80q…: status %d, stdout %q, stderr %q; want 1 and %q", c.path, code, stdout, stderr, c.want)
		}
	}
}

// TestInspectCutInData: a file cut in its tensor data, as an interrupted
// download leaves it, is said to be truncated, with how much is missing,
// not in the reader's words ("safetensors: tensor …: data_offsets: end …
// is beyond the …-byte data region").
func TestInspectCutInData(t *testing.T) {
	_, lora := inspectQAFiles(t)
	b, err := os.ReadFile(lora)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.safetensors")
	if err := os.WriteFile(cut, b[:len(b)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI("inspect", cut)
	want := fmt.Sprintf("wan22 inspect: %s: truncated safetensors file (%d bytes): its tensor data runs to byte %d, so 100 bytes are missing, from tensor ", cut, len(b)-100, len(b))
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, want) || !strings.HasSuffix(stderr, " on; download or export it again\n") {
		t.Errorf("inspect %s: status %d, stdout %q, stderr %q; want 1 and %q…", cut, code, stdout, stderr, want)
	}
}

// TestInspectLoRAArchitecture: the report of a LoRA (with -v, after its
// summary) names it as an adapter on its architecture line, not as an
// unknown model.
func TestInspectLoRAArchitecture(t *testing.T) {
	_, lora := inspectQAFiles(t)
	code, stdout, stderr := runCLI("inspect", "-v", lora)
	want := "\n  architecture:  LoRA or other adapter file (it attaches to a DiT expert at run time; it is not a model)\n"
	if code != 0 || !strings.Contains(stdout, want) || strings.Contains(stdout, "unknown model") {
		t.Errorf("inspect -v %s: status %d, stderr %q, stdout %q; want %q", lora, code, stderr, stdout, want)
	}
}
