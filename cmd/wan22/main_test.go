package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wan22/wan22/internal/golden"
)

// runCLI runs the command line in-process and returns status, stdout, stderr.
func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	code, _, stderr := runCLI()
	if code != 2 || !strings.Contains(stderr, "usage: wan22") || !strings.Contains(stderr, "inspect") {
		t.Errorf("no arguments: status %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCLI("frobnicate")
	if code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) || !strings.Contains(stderr, "inspect") {
		t.Errorf("unknown command: status %d, stderr %q", code, stderr)
	}
	code, stdout, _ := runCLI("help")
	if code != 0 || !strings.Contains(stdout, "inspect") {
		t.Errorf("help: status %d, stdout %q", code, stdout)
	}
	code, _, stderr = runCLI("inspect")
	if code != 2 || stderr != "wan22 inspect: give at least one model file\nRun `wan22 help inspect` for its flags.\n" {
		t.Errorf("inspect without files: status %d, stderr %q", code, stderr)
	}
	code, stdout, stderr = runCLI("inspect", "-bogus", "x")
	if code != 2 || !strings.Contains(stderr, "-bogus") || stdout != "" {
		t.Errorf("bad flag: status %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI("inspect", "-h")
	if code != 0 || !strings.Contains(stdout, "-v") || stderr != "" {
		t.Errorf("inspect -h: status %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestHelp checks that help asked for goes to stdout with status 0, for
// every command and every way of asking, and that usage errors go to
// stderr with status 2.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"help", "help"}, {"help", "-h"}, {"help", "--help"}, {"help", "-help"}} {
		code, stdout, stderr := runCLI(args...)
		if code != 0 || !strings.Contains(stdout, "usage: wan22 <command>") || stderr != "" {
			t.Errorf("%q: status %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	for _, c := range commands {
		want := "usage: wan22 " + c.name
		for _, args := range [][]string{{"help", c.name}, {c.name, "-h"}, {c.name, "--help"}, {c.name, "-help"}} {
			code, stdout, stderr := runCLI(args...)
			if code != 0 || !strings.HasPrefix(stdout, want) || stderr != "" {
				t.Errorf("%q: status %d, stderr %q, stdout starts %q; want status 0 and %q on stdout only",
					args, code, stderr, stdout[:min(len(stdout), 60)], want)
			}
		}
		code, stdout, stderr := runCLI(c.name, "-no-such-flag")
		if code != 2 || stdout != "" || !strings.Contains(stderr, "flag provided but not defined: -no-such-flag") {
			t.Errorf("%s -no-such-flag: status %d, stdout %q, stderr %q", c.name, code, stdout, stderr)
		}
	}
	for _, args := range [][]string{{"help", "frobnicate"}, {"help", "synth", "inspect"}} {
		code, stdout, stderr := runCLI(args...)
		if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "wan22 help: ") {
			t.Errorf("%q: status %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

func TestInspectGolden(t *testing.T) {
	dir := golden.Dir(t)
	dit := filepath.Join(dir, "dit_tiny_f32.gguf")
	t5 := filepath.Join(dir, "t5_tiny_f32.gguf")
	vae := filepath.Join(dir, "vae_tiny.safetensors")
	code, stdout, stderr := runCLI("inspect", dit, t5, vae)
	if code != 0 || stderr != "" {
		t.Fatalf("status %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		dit + "\n  format:        GGUF v3",
		"architecture:  WAN i2v DiT: dim 256, 2 layers, 2 heads × 128, ffn 512, in_dim 36, out_dim 16, text_dim 128, freq_dim 256",
		"\n  GGUF arch:     wan (general.architecture)\n",
		"tensors:       69,",
		"general.name [STRING] = \"wan-tiny-golden\"",
		"architecture:  umT5 encoder: vocab 1000, dim 64, 3 layers, 4 heads",
		"tokenizer.ggml.precompiled_charsmap [ARRAY[240007] of UINT8] = [0, 188,",
		vae + "\n  format:        safetensors, 13.76 MiB (14429764 bytes)",
		"architecture:  WAN 2.1 VAE: dim 16, z_dim 16",
		"tensors:       194,",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(stdout, "blocks.0.self_attn.q.weight") {
		t.Error("tensor list printed without -v")
	}

	code, stdout, _ = runCLI("inspect", "-v", dit)
	if code != 0 || !strings.Contains(stdout, "patch_embedding.weight             F32  [256, 36, 1, 2, 2]  147456") ||
		!strings.Contains(stdout, "blocks.1.ffn.0.weight") {
		t.Errorf("-v: status %d, output:\n%s", code, stdout)
	}
}

func TestInspectBadFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.gguf")
	if err := os.WriteFile(garbage, []byte("\x00\x01 definitely not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.safetensors")
	if src := golden.Find(); src != "" {
		b, err := os.ReadFile(filepath.Join(src, "t5_tiny_cases.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		b = b[:len(b)/2]
		if err := os.WriteFile(truncated, b, 0o644); err != nil {
			t.Fatal(err)
		}
	} else if err := os.WriteFile(truncated, []byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":"), 0o644); err != nil {
		t.Fatal(err)
	}
	truncGGUF := filepath.Join(dir, "truncated.gguf")
	if err := os.WriteFile(truncGGUF, []byte("GGUF\x03\x00\x00\x00\x02"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want string
	}{
		{garbage, "unrecognised file format"},
		{truncated, "truncated"},
		{truncGGUF, "truncated.gguf"},
		{filepath.Join(dir, "missing.gguf"), "missing.gguf does not exist"},
	} {
		code, stdout, stderr := runCLI("inspect", c.path)
		lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		if code != 1 || stdout != "" || len(lines) != 1 || !strings.HasPrefix(stderr, "wan22 inspect: ") || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: status %d, stdout %q, stderr %q; want status 1 and one error line containing %q", c.path, code, stdout, stderr, c.want)
		}
	}
	// A bad file among good ones: the good ones are still described, status 1.
	if gd := golden.Find(); gd != "" {
		code, stdout, stderr := runCLI("inspect", garbage, filepath.Join(gd, "vae_tiny.safetensors"))
		if code != 1 || !strings.Contains(stdout, "WAN 2.1 VAE") || !strings.Contains(stderr, "garbage.gguf") {
			t.Errorf("mixed: status %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	}
}

// TestHelpWriteFails: help that cannot be written to standard output (a full disk, /dev/full) is an error,
// exit status 1 with the reason on stderr, for every way of asking; it exited 0 with nothing written.
func TestHelpWriteFails(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"help", "synth"}, {"i2v", "-h"}, {"bench", "--help"}, {"inspect", "-h"}, {"--version", "-h"}, {"version", "-h"}} {
		var stderr bytes.Buffer
		code := run(args, fullWriter{}, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), "the help could not be written to standard output") {
			t.Errorf("%q to a full stdout: status %d, stderr %q; want 1 and the reason", args, code, stderr.String())
		}
	}
	// A usage error keeps its status 2; its message goes to stderr, not through the help writer.
	var stderr bytes.Buffer
	if code := run([]string{"help", "nope"}, fullWriter{}, &stderr); code != 2 {
		t.Errorf("help nope: status %d, want 2", code)
	}
	// A reader that went away (wan22 help | head -1) is not an error.
	stderr.Reset()
	if code := run([]string{"help"}, brokenPipe{}, &stderr); code != 0 || stderr.Len() != 0 {
		t.Errorf("help to a closed pipe: status %d, stderr %q; want 0 and nothing", code, stderr.String())
	}
}

// brokenPipe fails every write as a pipe whose reader has gone does.
type brokenPipe struct{}

func (brokenPipe) Write([]byte) (int, error) {
	return 0, &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.EPIPE}
}
