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
// line), or an invisible character that deceives (Invisible: a
// bidirectional override or isolate, which shows the name in another order
// than its letters; a zero width space, a soft hyphen, …, which shows it
// alike to another name). Spaces, accents, every script, the zero width
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
	what, _ := Invisible(r)
	return unicode.IsControl(r) || what != ""
}
