package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestQA14DisplayName: displayName prints a name as it is unless it holds
// a control character or bytes that are not UTF-8, which it Go-quotes as
// checkNameChars's messages do.
func TestQA14DisplayName(t *testing.T) {
	for _, name := range []string{"in.png", "a b.png", "été.png", "видео.gguf", "模型.gguf", "☃.png", "a\u00a0b.png", `a"b.png`, "-", ""} {
		require.Equal(t, name, displayName(name))
	}
	for _, name := range []string{"a\x1b[31mb.png", "a\nb", "a\tb", "a\x7fb", "a\u009bb", "a\xffb"} {
		require.Equal(t, strconv.Quote(name), displayName(name))
	}
	// The library's messages, with the forms they name a path in.
	p := filepath.Join(t.TempDir(), "m\x1b.gguf")
	msg := displayPaths("high-noise expert "+p+": cannot be read: stat "+p+": no such file or directory; lora m\x1b.gguf", []string{"in.png", p})
	require.Equal(t, "high-noise expert "+strconv.Quote(p)+": cannot be read: stat "+strconv.Quote(p)+`: no such file or directory; lora "m\x1b.gguf"`, msg)
}

// TestQA14InputNameControlChars: an input path (--image, the models, the
// LoRAs) that holds a control character is printed Go-quoted in every
// message that names it, the CLI's ("no such file", a web address, ~ not
// expanded, a LoRA's FILE@STRENGTH or given twice) and the library's (a
// model that cannot be read, an image that is not one, a LoRA that is
// not one), and in a run's lines (the LoRA line): printed raw, an ESC
// drove the terminal. Ordinary names (spaces, accents, other scripts) are
// printed as they are.
func TestQA14InputNameControlChars(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "a\x1b[31mb")
	run, vids := i2vSetup(t)
	args := append(slices.Clone(run), "--out", filepath.Join(vids, "v.avi"))
	check := func(code int, stderr, name string) {
		t.Helper()
		require.NotEqual(t, 0, code, stderr)
		requirePrintable(t, stderr)
		require.Contains(t, stderr, strconv.Quote(name))
	}
	set := func(args []string, flag, path string) []string {
		args = slices.Clone(args)
		args[slices.Index(args, flag)+1] = path
		return args
	}
	for _, fl := range []string{"--image", "--high", "--low", "--text-encoder", "--vae"} {
		path := bad + ".x"
		code, _, stderr := runCLI(set(args, fl, path)...)
		check(code, stderr, path) // no such file
		require.NoError(t, os.WriteFile(path, []byte("hello world, this is not a model nor an image at all"), 0o644))
		code, _, stderr = runCLI(set(args, fl, path)...)
		check(code, stderr, path) // not a model, not an image
		require.NoError(t, os.Remove(path))

		code, _, stderr = runCLI(set(args, fl, "https://example.com/a\x1b.gguf")...)
		check(code, stderr, "https://example.com/a\x1b.gguf")
		require.Contains(t, stderr, "a web address")
		code, _, stderr = runCLI(set(args, fl, "~/a\x1b.gguf")...)
		check(code, stderr, "~/a\x1b.gguf")
		require.Contains(t, stderr, "the shell did not expand ~")
	}

	// LoRAs: the CLI's checks, and the library's.
	lora := bad + ".safetensors"
	for _, fl := range []string{"--lora", "--lora-high", "--lora-low"} {
		code, _, stderr := runCLI(append(slices.Clone(args), fl, lora)...)
		check(code, stderr, lora)
		require.Contains(t, stderr, ": no such file")
	}
	require.NoError(t, os.WriteFile(lora, []byte("hello world, this is not a LoRA"), 0o644))
	code, _, stderr := runCLI(append(slices.Clone(args), "--lora", lora+"@0.5")...)
	check(code, stderr, lora+"@0.5")
	require.Contains(t, stderr, "the strength follows a colon: --lora "+strconv.Quote(lora+":0.5"))
	code, _, stderr = runCLI(append(slices.Clone(args), "--lora", lora, "--lora-high", lora)...)
	check(code, stderr, lora)
	require.Contains(t, stderr, "the file is already given for")
	code, _, stderr = runCLI(append(set(args, "--high", lora), "--json")...)
	check(code, stderr, lora)

	// A run names its LoRA.
	loraFile := writeTinyLoRA(t, dir, "l\x1b.safetensors", 1, "self_attn.q")
	_, _, stderr = i2vVideo(t, run, filepath.Join(vids, "l.avi"), "--lora", loraFile)
	for line := range strings.Lines(stderr) {
		requirePrintable(t, line)
	}
	require.Contains(t, stderr, "LoRA "+strconv.Quote(loraFile)+" at strength 1")

	// Names that only look unusual are printed as they are.
	for _, name := range []string{"été.png", "видео.png", "a b.png", "a\u00a0b.png"} {
		path := filepath.Join(dir, name)
		code, _, stderr := runCLI(set(args, "--image", path)...)
		require.NotEqual(t, 0, code, stderr)
		require.Contains(t, stderr, "image "+path+": no such file")
	}
}

// TestQA14OutputDash: "-" for --out, --frames-dir, --preview and the
// demo's -out, which other programs read as standard output, is refused
// before anything loads, saying what - would mean and what to give; it
// made a folder named - (--frames-dir) or was called a name without an
// extension. ./- still names a file so.
func TestQA14OutputDash(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ flag, want string }{
		{"--out", "--out -: - would mean standard output, but the video is written to a file: give a file name, such as --out video.mp4"},
		{"--frames-dir", "--frames-dir -: - would mean standard output, but the frames are PNG files written into a new folder: give a folder name, such as --frames-dir frames"},
		{"--preview", "--preview -: - would mean standard output, but the preview is a PNG file replaced after every step: give a file name, such as --preview preview.png"},
	} {
		args := qaI2VArgs(dir, c.flag, "-")
		if c.flag != "--out" {
			args = append(args, "--out", filepath.Join(dir, "v.avi"))
		}
		code, stdout, stderr := runCLI(args...)
		require.Equal(t, 2, code, stderr)
		require.Empty(t, stdout)
		require.Equal(t, "wan22 i2v: "+c.want+"\n", stderr)
		_, err := os.Lstat("-")
		require.ErrorIs(t, err, os.ErrNotExist, "a file or folder named - was made")
	}
	code, _, stderr := runCLI("demo", "-out", "-")
	require.Equal(t, 2, code, stderr)
	require.Equal(t, "wan22 demo: -out -: - would mean standard output, but the video is written to a file: give a file name, such as -out video.mp4\n", stderr)

	// ./- is a name.
	require.NoError(t, checkOutputDash("--frames-dir", "."+string(filepath.Separator)+"-", "", ""))
}
