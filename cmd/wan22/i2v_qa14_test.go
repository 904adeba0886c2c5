package main

import (
	"bytes"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/imageprep"
	"github.com/wan22/wan22/internal/safetext"
)

// requirePrintable fails when msg, a message for the terminal, holds a
// control character other than its final newline, or bytes that are not
// UTF-8: a name printed raw would break the line or drive the terminal.
func requirePrintable(t *testing.T, msg string) {
	t.Helper()
	require.Empty(t, safetext.Problem(strings.TrimSuffix(msg, "\n"), false, 1<<20), "the message %q", msg)
}

// TestQA14OutputNameControlChars: an output name (--out, --frames-dir,
// --preview, the demo's -out) that holds a control character (a newline,
// a tab, ESC, another C0 one, DEL, a C1 one) or bytes that are not UTF-8 is
// refused before anything loads, on every system, with one sentence that
// names the flag, the name quoted (so the message holds no raw control
// character) and the character; Linux took them and made files that are
// hard to see or remove. Nothing is made.
func TestQA14OutputNameControlChars(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, what string }{
		{"a\nb", "a control character (newline)"},
		{"a\tb", "a control character (tab)"},
		{"a\rb", "a control character (carriage return)"},
		{"a\x1b[31mb", "a control character (escape, ESC)"},
		{"a\x01b", "a control character (U+0001)"},
		{"a\x7fb", "a control character (delete, DEL)"},
		{"a\u009bb", "a control character (U+009B)"},
		{"a\xffb", `a byte that is not UTF-8 text (\xff)`},
	} {
		requireOutputNameRefused(t, dir, c.name, c.what)
	}
	code, _, stderr := runCLI("demo", "-out", "v\n.mp4")
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, `-out "v\n.mp4": the name contains a control character (newline); choose a name without it`)
	requirePrintable(t, strings.TrimSuffix(stderr, "Run `wan22 help demo` for its flags.\n")) // the refusal's line, then the help's

	// In a folder's name too, which messages would print raw.
	path := filepath.Join(dir, "x\ny", "v.mp4")
	code, _, stderr = runCLI(qaI2VArgs(dir, "--out", path)...)
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "--out "+strconv.Quote(path)+": the name contains a control character (newline)")
	requirePrintable(t, stderr)

	// bench --json's check, and every kind of output.
	for _, kind := range []outputKind{newFile, newFolder, replacedFile} {
		err := checkOutputPath("--json", filepath.Join(dir, "r\x1b.json"), kind)
		require.ErrorContains(t, err, "the name contains a control character (escape, ESC)")
	}
	require.Empty(t, entries(t, dir), "nothing is made")

	// Names that only look unusual are taken.
	for _, name := range []string{"été.mp4", "видео.mp4", "a b.mp4", "☃.mp4", "a\u00a0b.mp4"} {
		require.NoError(t, checkOutputPath("--out", filepath.Join(dir, name), newFile), name)
	}
}

// withImageStdin makes r the standard input --image - reads, and the
// system's temporary folder an empty one of the test's, returned, for the
// test to see that nothing is left in it.
func withImageStdin(t *testing.T, r io.Reader) (tmp string) {
	t.Helper()
	saved := imageStdin
	imageStdin = r
	t.Cleanup(func() { imageStdin = saved })
	tmp = t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Setenv("TMP", tmp)
	return tmp
}

// TestQA14ImageStdin: --image - reads the image from standard input, fully,
// as from a file (the same video as --image of the file), and names it
// "(standard input)" where a file's name would be; it said "no such file".
// Nothing is left in the temporary folder.
func TestQA14ImageStdin(t *testing.T) {
	args, out := i2vSetup(t)
	file := args[slices.Index(args, "--image")+1]
	fromFile, _, _ := i2vVideo(t, args, filepath.Join(out, "file.avi"))

	b, err := os.ReadFile(file)
	require.NoError(t, err)
	tmp := withImageStdin(t, bytes.NewReader(b))
	stdinArgs := slices.Clone(args)
	stdinArgs[slices.Index(args, "--image")+1] = "-"
	fromStdin, _, stderr := i2vVideo(t, stdinArgs, filepath.Join(out, "stdin.avi"))
	require.Equal(t, fromFile, fromStdin, "the same image, the same video")
	require.NotContains(t, stderr, "wan22-")
	require.Empty(t, entries(t, tmp), "the image from standard input was left in the temporary folder")

	for _, c := range []struct{ in, want string }{
		{"this is not a picture", "wan22 i2v: image (standard input): not a PNG, JPEG or WebP image\n"},
		{"", "wan22 i2v: image (standard input): is empty (0 bytes)\n"},
		{"GIF89a", "wan22 i2v: image (standard input): not a PNG, JPEG or WebP image (it is a GIF: convert it to PNG)\n"},
	} {
		withImageStdin(t, strings.NewReader(c.in))
		code, stdout, stderr := runCLI(append(slices.Clone(stdinArgs), "--out", filepath.Join(out, "bad.avi"))...)
		require.Equal(t, 1, code, stderr)
		require.Empty(t, stdout)
		require.Equal(t, c.want, stderr, "standard input %q", c.in)
		require.Empty(t, entries(t, tmp), "standard input %q left its copy", c.in)
	}
	require.ElementsMatch(t, []string{"file.avi", "stdin.avi"}, entries(t, out))
}

// TestQA14ImageStdinLimits: standard input that is a terminal (or another
// character device: nothing was piped in, and the run would wait for the
// image to be typed) is refused before anything loads; one that gives more
// than maxStdinImage is refused without reading on, saying to give the file.
func TestQA14ImageStdinLimits(t *testing.T) {
	dir := t.TempDir()
	dev, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer dev.Close()
	if st, err := dev.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		t.Skipf("%s is no character device here", os.DevNull)
	}
	withImageStdin(t, dev)
	code, _, stderr := runCLI(qaI2VArgs(dir, "--image", "-", "--out", filepath.Join(dir, "v.avi"))...)
	require.Equal(t, 2, code, stderr)
	require.Equal(t, "wan22 i2v: --image -: standard input is a terminal (or another device), not a pipe or a file: pipe the image in (wan22 i2v --image - … < photo.png) or give the image file's path\n", stderr)

	args, out := i2vSetup(t)
	args[slices.Index(args, "--image")+1] = "-"
	saved := maxStdinImage
	maxStdinImage = 1000
	t.Cleanup(func() { maxStdinImage = saved })
	var big bytes.Buffer
	require.NoError(t, png.Encode(&big, imageprep.TestImage(256, 256)))
	require.Greater(t, big.Len(), 1000)
	tmp := withImageStdin(t, &big)
	code, _, stderr = runCLI(append(args, "--out", filepath.Join(out, "v.avi"))...)
	require.Equal(t, 1, code, stderr)
	require.Equal(t, "wan22 i2v: --image -: standard input gave more than 1.00 kB, more than wan22 reads from it: save the image to a file and give its path\n", stderr)
	require.Empty(t, entries(t, tmp))
	require.Empty(t, entries(t, out))
}
