package main

import (
	"testing"
	"unicode/utf8"

	"github.com/wan22/wan22/internal/safetext"
)

// TestDisplayNameIsSafetextPath: displayName prints a path as
// safetext.Path does, and nameProblem, which refuses an output name
// (checkNameChars) and says why, finds something in just the names that
// Path quotes: every rune alone and inside a name, bytes that are not
// UTF-8 (a lone byte, a surrogate, an overlong form), so that the command
// refuses no name the library prints raw and prints none it refuses.
func TestDisplayNameIsSafetextPath(t *testing.T) {
	check := func(name string) {
		t.Helper()
		quoted := safetext.Path(name) != name
		if got := displayName(name); got != safetext.Path(name) {
			t.Fatalf("displayName(%q) = %q, safetext.Path %q", name, got, safetext.Path(name))
		}
		if what := nameProblem(name); (what != "") != quoted {
			t.Fatalf("%q: nameProblem %q, but safetext.Path quotes it: %v", name, what, quoted)
		}
	}
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if utf8.ValidRune(r) {
			check(string(r))
			check("clip" + string(r) + ".mp4")
		}
	}
	for b := 0x80; b <= 0xff; b++ {
		check("clip" + string([]byte{byte(b)}) + ".mp4")
	}
	for _, name := range []string{"", "\xed\xa0\x80.mp4", "\xc0\x80", "out\ufffd.mp4", `C:\Users\A B\clip.mp4`, "фильм.mp4", "\u200cمن.mp4"} {
		check(name)
	}
}
