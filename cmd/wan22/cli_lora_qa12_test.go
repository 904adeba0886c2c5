package main

import (
	"os"
	"strings"
	"testing"
)

// loraUsage runs `wan22 i2v` with the LoRA flags given in the current
// folder, where no model file exists: only the flag checks run.
func loraUsage(loraFlags ...string) (int, string) {
	code, _, stderr := runCLI(append([]string{"i2v", "--image", "in.png", "--prompt", "p", "--high", "h.gguf", "--low", "l.gguf",
		"--text-encoder", "t.gguf", "--vae", "v.safetensors", "--out", "o.mp4"}, loraFlags...)...)
	return code, stderr
}

// TestLoRAAtStrengthHint: FILE@STRENGTH (the spelling of other tools, and
// of wan22's own LoRA values in logs) where FILE exists is a usage error
// that shows the colon to use, and a folder given as a LoRA is called a
// folder, not a missing file.
func TestLoRAAtStrengthHint(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, f := range []string{"style.safetensors", "v@2.safetensors"} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir("loras", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--lora", "style.safetensors@0.5"}, "--lora style.safetensors@0.5: no such file; the strength follows a colon: --lora style.safetensors:0.5"},
		{[]string{"--lora-low", "v@2.safetensors@-1"}, "--lora-low v@2.safetensors@-1: no such file; the strength follows a colon: --lora-low v@2.safetensors:-1"},
		{[]string{"--lora-high", "loras"}, "--lora-high loras is a folder: give the LoRA's .safetensors file"},
	} {
		code, stderr := loraUsage(c.flags...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: status %d, stderr %q; want a usage error with %q", c.flags, code, stderr, c.want)
		}
	}
	// A missing file with @ in its name is only missing.
	if code, stderr := loraUsage("--lora", "gone@0.5"); code != 2 || !strings.Contains(stderr, "--lora gone@0.5: no such file\n") {
		t.Errorf("--lora gone@0.5: status %d, stderr %q", code, stderr)
	}
}

// TestLoRAGivenTwice: one file given twice for the same expert (the same
// flag repeated, --lora beside --lora-high, another spelling or a link) is
// a usage error saying that their strengths would add up, not a run at
// the sum of them; the same file for each expert on its own is fine.
func TestLoRAGivenTwice(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("a.safetensors", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.safetensors", "link.safetensors"); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--lora", "a.safetensors", "--lora", "a.safetensors"},
			"--lora a.safetensors: the file is already given for both experts (--lora a.safetensors); the strengths of a LoRA given twice add up (2 there): give it once per expert, with the strength you want"},
		{[]string{"--lora", "a.safetensors:0.8", "--lora-high", "./a.safetensors:0.5"},
			"--lora-high ./a.safetensors: the file is already given for the high-noise expert (--lora a.safetensors); the strengths of a LoRA given twice add up (1.3 there)"},
		{[]string{"--lora-low", "a.safetensors", "--lora-low", "link.safetensors:-1"}, "(0 there)"},
	} {
		code, stderr := loraUsage(c.flags...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%q: status %d, stderr %q; want a usage error with %q", c.flags, code, stderr, c.want)
		}
	}
	if _, stderr := loraUsage("--lora-high", "a.safetensors", "--lora-low", "a.safetensors:0.5"); strings.Contains(stderr, "already given") {
		t.Errorf("the same LoRA for each expert on its own: %q", stderr)
	}
}
