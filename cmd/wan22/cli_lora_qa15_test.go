package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22"
)

// TestLoRACopyGivenTwice: a copy of a LoRA (the same bytes under another
// name: a download saved twice, "x (1).safetensors") given beside it for
// one expert stacks at the sum of the strengths as the file given twice
// does, and is refused as that is; a copy for the other expert alone, and
// a different file of the same size, are not.
func TestLoRACopyGivenTwice(t *testing.T) {
	dir := t.TempDir()
	data := []byte(`{"a":1}` + strings.Repeat("x", 3<<20)) // (longer than one comparison chunk)
	a, b, other := filepath.Join(dir, "a.safetensors"), filepath.Join(dir, "a (1).safetensors"), filepath.Join(dir, "b.safetensors")
	require.NoError(t, os.WriteFile(a, data, 0o644))
	require.NoError(t, os.WriteFile(b, data, 0o644))
	changed := append([]byte(nil), data...)
	changed[len(changed)-1] = 'y'
	require.NoError(t, os.WriteFile(other, changed, 0o644))

	err := checkLoRAFiles([]wan22.LoRA{{Path: a, Strength: 1, Expert: wan22.LoRABoth}, {Path: b, Strength: 0.5, Expert: wan22.LoRAHigh}})
	require.Error(t, err)
	for _, w := range []string{"--lora-high " + b, "same bytes as", a, "the high-noise expert", "add up (1.5 there)"} {
		require.Contains(t, err.Error(), w)
	}
	require.NoError(t, checkLoRAFiles([]wan22.LoRA{{Path: a, Strength: 1, Expert: wan22.LoRAHigh}, {Path: b, Strength: 1, Expert: wan22.LoRALow}}))
	require.NoError(t, checkLoRAFiles([]wan22.LoRA{{Path: a, Strength: 1, Expert: wan22.LoRABoth}, {Path: other, Strength: 1, Expert: wan22.LoRABoth}}))
}

// TestLoRAOtherSeparatorHint: FILE=STRENGTH, FILE,STRENGTH and "FILE
// STRENGTH" (one quoted argument) where FILE exists get the colon to use,
// as FILE@STRENGTH does, not a bare "no such file".
func TestLoRAOtherSeparatorHint(t *testing.T) {
	t.Chdir(t.TempDir())
	require.NoError(t, os.WriteFile("style.safetensors", []byte("x"), 0o644))
	for _, v := range []string{"style.safetensors=0.5", "style.safetensors,0.5", "style.safetensors 0.5", "style.safetensors , 0.5"} {
		code, stderr := loraUsage("--lora", v)
		want := "--lora " + v + ": no such file; the strength follows a colon: --lora style.safetensors:0.5"
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("--lora %q: status %d, stderr %q; want %q", v, code, stderr, want)
		}
	}
	if code, stderr := loraUsage("--lora", "gone=0.5"); code != 2 || !strings.Contains(stderr, "--lora gone=0.5: no such file\n") {
		t.Errorf("--lora gone=0.5: status %d, stderr %q", code, stderr)
	}
}

// TestLoRAStrengthHint: a strength written with a decimal comma (0,8, as
// many locales write it) or with spaces around it is told how to write it,
// not only that it "is not a number".
func TestLoRAStrengthHint(t *testing.T) {
	for _, c := range []struct{ v, want string }{
		{"style.safetensors:0,8", `"0,8" is not a number (the decimal point is a dot: style.safetensors:0.8)`},
		{"style.safetensors:-1,5", `"-1,5" is not a number (the decimal point is a dot: style.safetensors:-1.5)`},
		{"style.safetensors: 0.5", `" 0.5" is not a number (no spaces around it: style.safetensors:0.5)`},
		{"style.safetensors:0.5 ", `"0.5 " is not a number (no spaces around it: style.safetensors:0.5)`},
		{"style.safetensors:abc", `"abc" is not a number`},
	} {
		_, _, err := splitLoRA(c.v, "linux", func(string) bool { return false })
		if err == nil || !strings.HasSuffix(err.Error(), c.want) {
			t.Errorf("%q: err %v, want it to end %q", c.v, err, c.want)
		}
	}
}
