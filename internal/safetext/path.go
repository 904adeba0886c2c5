package safetext

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Path is a file's path as a message prints it: as it is when it is
// printable, else Go-quoted (strconv.Quote: "a\x1b[31m.gguf"), so that the
// message shows what the name holds and holds no such character itself. A
// path is not printable when it holds bytes that are not UTF-8, a control
// character (C0, DEL, C1: an ESC drives the terminal, a newline forges a
// line), or an invisible character that deceives: a bidirectional
// embedding, override or isolate (U+202A–U+202E, U+2066–U+2069), which
// shows the name in another order than its letters, or a zero width space,
// word joiner or byte order mark (U+200B, U+2060, U+FEFF), which shows it
// alike to another name. Spaces, accents, every script, the zero width
// (non-)joiners of Persian words and emoji sequences, quotes and the
// backslashes of Windows paths are printed as they are. These are the
// names wan22's command line quotes too (its displayName), so that a
// message of the library and the command's own words name a file alike.
func Path(path string) string {
	if !utf8.ValidString(path) || strings.ContainsFunc(path, deceives) {
		return strconv.Quote(path)
	}
	return path
}

// deceives reports whether r must not reach a message raw (Path).
func deceives(r rune) bool {
	switch {
	case unicode.IsControl(r),
		0x202A <= r && r <= 0x202E, 0x2066 <= r && r <= 0x2069, // bidirectional embeddings, overrides, isolates
		r == 0x200B, r == 0x2060, r == 0xFEFF: // zero width space, word joiner, byte order mark
		return true
	}
	return false
}
