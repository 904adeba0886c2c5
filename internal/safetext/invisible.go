package safetext

// invisible are the characters that show as nothing yet deceive in a name,
// each with what a message calls it: bidirectional embeddings, overrides and isolates, which show
// the text around them in another order than its letters (the "Trojan
// Source" characters: a right-to-left override shows "clip\u202e4pm.exe"
// as clipexe.mp4), and characters that take no room, so that a name
// holding one shows alike to another name without it.
//
// Not among them: the zero width joiner and non-joiner (U+200D, U+200C),
// which Persian and Indic words and emoji sequences (👩‍💻) hold as part of
// their text; the left-to-right, right-to-left and Arabic letter marks
// (U+200E, U+200F, U+061C), ordinary in right-to-left text and, like Go's
// and Rust's checks for the Trojan Source characters, not counted with
// the embeddings; variation selectors and tags, parts of emoji. Every
// character here is one strconv.Quote escapes (not unicode.IsPrint), so
// that a quoted name shows it.
var invisible = map[rune]struct {
	what     string
	reorders bool
}{
	0x202A: {"a left-to-right embedding", true},
	0x202B: {"a right-to-left embedding", true},
	0x202C: {"a pop directional formatting", true},
	0x202D: {"a left-to-right override", true},
	0x202E: {"a right-to-left override", true},
	0x2066: {"a left-to-right isolate", true},
	0x2067: {"a right-to-left isolate", true},
	0x2068: {"a first strong isolate", true},
	0x2069: {"a pop directional isolate", true},

	0x00AD: {"a soft hyphen", false},
	0x180E: {"a Mongolian vowel separator", false},
	0x200B: {"a zero width space", false},
	0x2028: {"a line separator", false},
	0x2029: {"a paragraph separator", false},
	0x2060: {"a word joiner", false},
	0x2061: {"a function application", false},
	0x2062: {"an invisible times", false},
	0x2063: {"an invisible separator", false},
	0x2064: {"an invisible plus", false},
	// Deprecated since Unicode 3.0, shown as nothing: inhibit and activate
	// symmetric swapping, Arabic form shaping; national, nominal digit shapes.
	0x206A: {"a deprecated format character", false},
	0x206B: {"a deprecated format character", false},
	0x206C: {"a deprecated format character", false},
	0x206D: {"a deprecated format character", false},
	0x206E: {"a deprecated format character", false},
	0x206F: {"a deprecated format character", false},
	0xFEFF: {"a byte order mark", false}, // also called zero width no-break space
	0xFFF9: {"an interlinear annotation anchor", false},
	0xFFFA: {"an interlinear annotation separator", false},
	0xFFFB: {"an interlinear annotation terminator", false},
}

// Invisible says what r is, as a message names it ("a right-to-left
// override", "an invisible plus"), when it is an invisible character that
// deceives in a name, and whether it reorders the text around it (a
// bidirectional embedding, override or isolate) rather than only hiding
// itself; what is "" for any other character, the zero width (non-)joiner
// and the bidirectional marks among them. Control characters are not its
// to name: unicode.IsControl finds them.
func Invisible(r rune) (what string, reorders bool) {
	c := invisible[r]
	return c.what, c.reorders
}
