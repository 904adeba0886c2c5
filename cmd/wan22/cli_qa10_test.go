package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSplitLoRABadStrengthAfterFile: when the part before the last colon
// names an existing file and the whole value does not, what follows the
// colon was meant as the strength, on every system: a word, nothing or a
// number too large for a float is reported as a bad strength, not as the
// missing file "a:abc" (a lone letter is a drive only on Windows, and even
// there the existing file wins, as it does for numbers).
func TestSplitLoRABadStrengthAfterFile(t *testing.T) {
	existing := map[string]bool{"a": true, "x.safetensors": true}
	exists := func(p string) bool { return existing[p] }
	for _, c := range []struct{ v, err string }{
		{"a:abc", `"abc" is not a number`},
		{"a:", `"" is not a number`},
		{"a:1e400", "strength 1e400 is out of range: want a number from -100 to 100"},
		{"x.safetensors:1e400", "strength 1e400 is out of range"},
		{"x.safetensors:-1e999", "strength -1e999 is out of range"},
	} {
		for _, goos := range []string{"linux", "windows"} {
			path, strength, err := splitLoRA(c.v, goos, exists)
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: splitLoRA(%q) = %q, %g, %v; want an error with %q", goos, c.v, path, strength, err, c.err)
			}
		}
	}
	// A drive-like value whose parts exist neither way stays one file on
	// both systems, reported as missing later.
	for _, goos := range []string{"linux", "windows"} {
		if path, _, err := splitLoRA("C:x.safetensors", goos, exists); err != nil || path != "C:x.safetensors" {
			t.Errorf("%s: splitLoRA(C:x.safetensors) = %q, %v", goos, path, err)
		}
	}
}

// TestLoRABadStrengthCLI: `wan22 i2v --lora a:abc` run where the file a
// is (a lone letter, a drive on Windows only) is a usage error about the
// strength, never "a:abc: no such file"; so is a strength too large for a
// float.
func TestLoRABadStrengthCLI(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile("a", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]string{"a:abc": `"abc" is not a number`, "a:1e400": "strength 1e400 is out of range"} {
		code, _, stderr := runCLI("i2v", "--lora", v, "--image", "in.png", "--prompt", "p",
			"--high", "h.gguf", "--low", "l.gguf", "--text-encoder", "t.gguf", "--vae", "v.safetensors", "--out", "o.mp4")
		if code != 2 || !strings.Contains(stderr, want) || strings.Contains(stderr, "no such file") {
			t.Errorf("--lora %s: status %d, stderr %q; want a usage error with %q", v, code, stderr, want)
		}
	}
}

// TestSynthFolderSuggestsKindExtension: OUT naming a folder is refused
// with an example file name in the format -kind writes (a VAE is
// safetensors, which checkSynthExt would refuse as .gguf).
func TestSynthFolderSuggestsKindExtension(t *testing.T) {
	dir := t.TempDir()
	for kind, ext := range synthFormats {
		code, _, stderr := runSynthCtx(context.Background(), "-kind", kind, dir)
		want := dir + " is a folder; give a file name, such as " + filepath.Join(dir, "model"+ext)
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("-kind %s into a folder: status %d, stderr %q; want %q", kind, code, stderr, want)
		}
	}
}

// TestI2VFramesDirSameAsOut: --frames-dir naming the --out video (by
// another spelling too, or the .avi an --out .mp4 becomes without ffmpeg)
// is a usage error before anything loads, not a whole run that ends with
// one of the two outputs failing (exit status 1).
func TestI2VFramesDirSameAsOut(t *testing.T) {
	args, out := i2vSetup(t)
	avi, mp4 := filepath.Join(out, "v.avi"), filepath.Join(out, "v.mp4")
	for _, c := range []struct{ out, frames, want string }{
		{avi, avi, "--frames-dir " + avi + " is the same path as --out " + avi},
		{avi, filepath.Join(out, ".", "v.avi"), "is the same path as --out " + avi},
		{mp4, avi, "--frames-dir " + avi + " is the same path as " + avi + ", the MJPEG AVI that --out " + mp4 + " is written as when ffmpeg is missing"},
	} {
		code, stdout, stderr := runCLI(append(append([]string{}, args...), "--out", c.out, "--frames-dir", c.frames)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, c.want) {
			t.Errorf("--out %s --frames-dir %s: status %d, stdout %q, stderr %q; want status 2 and %q", c.out, c.frames, code, stdout, stderr, c.want)
		}
		if names := entries(t, out); len(names) != 0 {
			t.Errorf("--out %s --frames-dir %s left %q", c.out, c.frames, names)
			for _, n := range names {
				os.RemoveAll(filepath.Join(out, n))
			}
		}
	}
}
