package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestQA14SynthOutName: synth's OUT is refused as i2v's outputs are when it
// is "-" (standard output to other programs) or holds a control or
// deceiving invisible character, before anything is written and with the
// name quoted. synth made "a\nb.gguf" and "clip\u202egguf.gguf", printed
// them raw (an ESC drove the terminal), and for - advised "name the file
// -.gguf".
func TestQA14SynthOutName(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		kind, out, want string
	}{
		{"dit", "-", "wan22 synth: OUT -: - would mean standard output, but the model is written to a file: give a file name, such as model.gguf\n"},
		{"vae", "-", "such as model.safetensors\n"},
		{"dit", filepath.Join(dir, "a\nb.gguf"), `: the name contains a control character (newline); choose a name without it`},
		{"vae", filepath.Join(dir, "a\x1b[31mred.safetensors"), `the name contains a control character (escape, ESC)`},
		{"dit", filepath.Join(dir, "clip\u202eabc.gguf"), `right-to-left override (U+202E)`},
	} {
		args := []string{"-kind", c.kind}
		if c.kind == "dit" {
			args = append(args, tinyDiT...)
		} else {
			args = append(args, "-dim", "4")
		}
		code, stdout, stderr := runSynthCtx(context.Background(), append(args, c.out)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, c.want) {
			t.Errorf("synth %q: exit %d, stdout %q, stderr %q; want 2 and %q", c.out, code, stdout, stderr, c.want)
		}
		if strings.ContainsAny(stderr, "\x1b\u202e") || strings.Contains(stderr, "a\nb") {
			t.Errorf("synth %q: the message prints the name raw: %q", c.out, stderr)
		}
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("the folder holds %q, want nothing", names)
	}
}
