package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSizeSeparators: a size is WIDTHxHEIGHT with x, X or the
// multiplication sign × (U+00D7) between the sides, in i2v's --size and in
// bench's list alike; anything else around the sides is refused.
func TestSizeSeparators(t *testing.T) {
	for _, sep := range []string{"x", "X", "×"} {
		if w, h, ok := parseWxH("64" + sep + "48"); !ok || w != 64 || h != 48 {
			t.Errorf("parseWxH(64%s48) = %d, %d, %v; want 64, 48, true", sep, w, h, ok)
		}
		list := "64" + sep + "48,96" + sep + "64"
		sizes, err := parseSizes(list)
		if want := [][2]int{{64, 48}, {96, 64}}; err != nil || !slices.Equal(sizes, want) {
			t.Errorf("parseSizes(%q): %v, %v; want %v", list, sizes, err, want)
		}
	}
	for _, s := range []string{"", "64", "64×", "×48", "64××48", "64x48x2", "64×48×", "64*48", "64 × 48", "64÷48"} {
		if w, h, ok := parseWxH(s); ok {
			t.Errorf("parseWxH(%q) = %d, %d, true; want a refusal", s, w, h)
		}
	}
	if _, err := parseSizes("96x64,96×64"); err == nil || !strings.Contains(err.Error(), "lists one value twice, as 96x64 and 96×64") {
		t.Errorf("parseSizes(96x64,96×64): %v; want one value twice", err)
	}

	// i2v: the size passes, and the frame count after it is refused.
	dir := t.TempDir()
	args := func(size string) []string {
		return []string{"i2v", "--image", "a.png", "--high", "h.gguf", "--low", "l.gguf", "--text-encoder", "t.gguf", "--vae", "v.safetensors",
			"--prompt", "", "--out", filepath.Join(dir, "o.avi"), "--frames", "4", "--size", size}
	}
	for _, c := range []struct{ size, want string }{
		{"64×48", "--frames 4: the frame count must be 4k+1"},
		{"64X48", "--frames 4: the frame count must be 4k+1"},
		{"64×50", "--size 64x50: height 50 is not a multiple of 16"},
		{"64×", `--size "64×": want WIDTHxHEIGHT`},
	} {
		code, _, stderr := runCLI(args(c.size)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("i2v --size %s: status %d, stderr %q; want 2 and %q", c.size, code, stderr, c.want)
		}
	}
}
