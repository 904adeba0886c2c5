package safetext

import (
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// TestInvisible: the bidirectional embeddings, overrides and isolates
// reorder; the characters that take no room (the zero width space, word
// joiner and byte order mark, and the soft hyphen, the line and paragraph
// separators, the Mongolian vowel separator, the invisible mathematical
// operators, the deprecated format characters, the interlinear annotation
// characters) hide; the joiners, the bidirectional marks, variation
// selectors and printable characters are none of them. Each is escaped by
// strconv.Quote, so that a quoted name shows it.
func TestInvisible(t *testing.T) {
	reorder := []rune{0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069}
	hide := []rune{0x00AD, 0x180E, 0x200B, 0x2028, 0x2029, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064,
		0x206A, 0x206B, 0x206C, 0x206D, 0x206E, 0x206F, 0xFEFF, 0xFFF9, 0xFFFA, 0xFFFB}
	for _, c := range []struct {
		rs       []rune
		reorders bool
	}{{reorder, true}, {hide, false}} {
		for _, r := range c.rs {
			what, reorders := Invisible(r)
			if !(strings.HasPrefix(what, "a ") || strings.HasPrefix(what, "an ")) || reorders != c.reorders {
				t.Errorf("Invisible(U+%04X) = %q, %v; want a name with its article, %v", r, what, reorders, c.reorders)
			}
			if unicode.IsPrint(r) || !strings.Contains(strconv.Quote(string(r)), `\u`) {
				t.Errorf("U+%04X: strconv.Quote gives %s, which does not show it", r, strconv.Quote(string(r)))
			}
		}
	}
	for _, r := range []rune{'a', ' ', 'é', 0x00A0, 0x200C, 0x200D, 0x200E, 0x200F, 0x061C, 0xFE0F, 0x2065, 0x1F469, 0xE0067} {
		if what, _ := Invisible(r); what != "" {
			t.Errorf("Invisible(U+%04X) = %q, want none", r, what)
		}
	}
	if len(invisible) != len(reorder)+len(hide) {
		t.Errorf("the table has %d characters, the test %d", len(invisible), len(reorder)+len(hide))
	}
}
