package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// requirePrintable fails when msg, a message for the terminal, holds a
// control character other than its final newline, or bytes that are not
// UTF-8: a name printed raw would break the line or drive the terminal.
func requirePrintable(t *testing.T, msg string) {
	t.Helper()
	body := strings.TrimSuffix(msg, "\n")
	require.True(t, utf8.ValidString(body), "the message is not UTF-8: %q", msg)
	require.Equal(t, -1, strings.IndexFunc(body, unicode.IsControl), "the message holds a control character: %q", msg)
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
		for _, fl := range []struct{ flag, ext string }{{"--out", ".mp4"}, {"--frames-dir", ""}, {"--preview", ".png"}} {
			path := filepath.Join(dir, c.name+fl.ext)
			args := qaI2VArgs(dir, fl.flag, path)
			if fl.flag == "--preview" {
				args = append(args, "--out", filepath.Join(dir, "v.avi"))
			}
			code, stdout, stderr := runCLI(args...)
			require.Equal(t, 2, code, stderr)
			require.Empty(t, stdout)
			require.Equal(t, "wan22 i2v: "+fl.flag+" "+strconv.Quote(path)+": the name contains "+c.what+"; choose a name without it\n", stderr)
			requirePrintable(t, stderr)
		}
	}
	code, _, stderr := runCLI("demo", "-out", "v\n.mp4")
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, `-out "v\n.mp4": the name contains a control character (newline); choose a name without it`)
	requirePrintable(t, stderr)

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
