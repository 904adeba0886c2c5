package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"

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
	require.Equal(t, "wan22 demo: -out -: - would mean standard output, but the video is written to a file: give a file name, such as -out video.mp4\nRun `wan22 help demo` for its flags.\n", stderr)

	// ./- is a name.
	require.NoError(t, checkOutputDash("--frames-dir", "."+string(filepath.Separator)+"-", "", ""))
}

// requireOutputNameRefused runs i2v with the name (in dir) for --out,
// --frames-dir and --preview, each with its extension, and requires that
// each is refused before anything loads with one line that quotes it and
// says that it contains what. It returns the lines.
func requireOutputNameRefused(t *testing.T, dir, name, what string) (msgs []string) {
	t.Helper()
	for _, fl := range []struct{ flag, ext string }{{"--out", ".mp4"}, {"--frames-dir", ""}, {"--preview", ".png"}} {
		path := filepath.Join(dir, name+fl.ext)
		args := qaI2VArgs(dir, fl.flag, path)
		if fl.flag == "--preview" {
			args = append(args, "--out", filepath.Join(dir, "v.avi"))
		}
		code, stdout, stderr := runCLI(args...)
		require.Equal(t, 2, code, stderr)
		require.Empty(t, stdout)
		require.Equal(t, "wan22 i2v: "+fl.flag+" "+strconv.Quote(path)+": the name contains "+what+"; choose a name without it\n", stderr)
		requirePrintable(t, stderr)
		msgs = append(msgs, stderr)
	}
	return msgs
}

// TestQA14OutputNameInvisible: an output name holding a bidirectional
// override or isolate (U+202A–U+202E, U+2066–U+2069) or another invisible
// character (U+200B, U+2060, U+FEFF; the soft hyphen U+00AD, the line and
// paragraph separators U+2028, U+2029, U+180E, U+2061–U+2064, the
// deprecated U+206A–U+206F, U+FFF9–U+FFFB: safetext.Invisible) is refused
// as one holding a control character is, naming the character: such a
// name shows in another order than its letters, or alike to another name.
// Input names holding one are printed quoted. Other non-ASCII names are
// taken.
func TestQA14OutputNameInvisible(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		r    rune
		what string
	}{
		{0x202A, "a left-to-right embedding (U+202A), an invisible character that changes the order in which the name is shown"},
		{0x202B, "a right-to-left embedding (U+202B), an invisible character that changes the order in which the name is shown"},
		{0x202C, "a pop directional formatting (U+202C), an invisible character that changes the order in which the name is shown"},
		{0x202D, "a left-to-right override (U+202D), an invisible character that changes the order in which the name is shown"},
		{0x202E, "a right-to-left override (U+202E), an invisible character that changes the order in which the name is shown"},
		{0x2066, "a left-to-right isolate (U+2066), an invisible character that changes the order in which the name is shown"},
		{0x2067, "a right-to-left isolate (U+2067), an invisible character that changes the order in which the name is shown"},
		{0x2068, "a first strong isolate (U+2068), an invisible character that changes the order in which the name is shown"},
		{0x2069, "a pop directional isolate (U+2069), an invisible character that changes the order in which the name is shown"},
		{0x200B, "a zero width space (U+200B), an invisible character"},
		{0x2060, "a word joiner (U+2060), an invisible character"},
		{0xFEFF, "a byte order mark (U+FEFF), an invisible character"},
		{0x00AD, "a soft hyphen (U+00AD), an invisible character"},
		{0x2028, "a line separator (U+2028), an invisible character"},
		{0x2029, "a paragraph separator (U+2029), an invisible character"},
		{0x180E, "a Mongolian vowel separator (U+180E), an invisible character"},
		{0x2061, "a function application (U+2061), an invisible character"},
		{0x2062, "an invisible times (U+2062), an invisible character"},
		{0x2063, "an invisible separator (U+2063), an invisible character"},
		{0x2064, "an invisible plus (U+2064), an invisible character"},
		{0x206A, "a deprecated format character (U+206A), an invisible character"},
		{0xFFF9, "an interlinear annotation anchor (U+FFF9), an invisible character"},
		{0xFFFA, "an interlinear annotation separator (U+FFFA), an invisible character"},
		{0xFFFB, "an interlinear annotation terminator (U+FFFB), an invisible character"},
	} {
		name := "clip" + string(c.r) + "4pm"
		for _, stderr := range requireOutputNameRefused(t, dir, name, c.what) {
			require.NotContains(t, stderr, string(c.r))
		}
		err := checkOutputPath("--json", filepath.Join(dir, name+".json"), newFile)
		require.ErrorContains(t, err, c.what)

		// An input so named is printed quoted.
		in := filepath.Join(dir, name+".gguf")
		args := qaI2VArgs(dir, "--out", filepath.Join(dir, "v.avi"))
		args[slices.Index(args, "--high")+1] = in
		code, _, stderr := runCLI(args...)
		require.NotEqual(t, 0, code)
		require.Contains(t, stderr, "high-noise expert "+strconv.Quote(in)+": cannot be read")
		require.NotContains(t, stderr, string(c.r))
	}
	code, _, stderr := runCLI("demo", "-out", "v\u202e4pm.avi")
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, `-out "v\u202e4pm.avi": the name contains a right-to-left override (U+202E)`)
	require.Empty(t, entries(t, dir), "nothing is made")

	// Other names outside ASCII are taken: accents, other scripts, Arabic
	// and Hebrew letters (right to left on their own), emoji, a
	// no-break space, a left-to-right mark, a Persian word and an emoji
	// sequence with their zero width non-joiner and joiner.
	for _, name := range []string{"été.mp4", "видео.mp4", "视频.mp4", "فيديو.mp4", "סרטון.mp4", "☃🎬.mp4", "a\u00a0b.mp4", "a\u200eb.mp4",
		"می\u200cخواهم.mp4", "\U0001F469\u200d\U0001F4BB.mp4"} {
		require.NoError(t, checkOutputPath("--out", filepath.Join(dir, name), newFile), name)
		require.Equal(t, name, displayName(name))
	}
}

// TestQA14ImageStdinCopyFails: when the image cannot be read from standard
// input, or saved in the temporary folder, the message says that reading
// it from standard input failed and why, without the temporary file's
// name (it said "copying standard input to a temporary file: write
// /tmp/wan22-stdin-…/image: …").
func TestQA14ImageStdinCopyFails(t *testing.T) {
	args, out := i2vSetup(t)
	args[slices.Index(args, "--image")+1] = "-"
	tmp := withImageStdin(t, io.MultiReader(strings.NewReader("\x89PNG\r\n"), iotest.ErrReader(errors.New("connection reset by peer"))))
	code, _, stderr := runCLI(append(args, "--out", filepath.Join(out, "v.avi"))...)
	require.Equal(t, 1, code, stderr)
	require.Equal(t, "wan22 i2v: --image -: reading the image from standard input failed: connection reset by peer\n", stderr)
	require.Empty(t, entries(t, tmp))

	// No temporary folder to save it in.
	missing := filepath.Join(tmp, "missing")
	t.Setenv("TMPDIR", missing)
	t.Setenv("TMP", missing)
	imageStdin = strings.NewReader("\x89PNG\r\n")
	code, _, stderr = runCLI(append(args, "--out", filepath.Join(out, "v.avi"))...)
	require.Equal(t, 1, code, stderr)
	require.True(t, strings.HasPrefix(stderr, "wan22 i2v: --image -: reading the image from standard input failed: it could not be saved in the temporary folder "+missing+": "), stderr)
	require.NotContains(t, stderr, "wan22-stdin")
	require.Empty(t, entries(t, tmp))

	// A write that fails (a full disk) names the temporary folder, not the
	// file.
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full to fail a write:", err)
	}
	imageStdin = strings.NewReader("\x89PNG\r\n")
	_, err := copyStdin("/dev/full", 100)
	require.EqualError(t, err, "it could not be saved in the temporary folder "+missing+": "+syscall.ENOSPC.Error())
	require.ErrorIs(t, err, syscall.ENOSPC)
}
