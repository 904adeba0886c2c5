// Package safetext keeps text taken from a file safe on its way to a
// terminal (an error message, a report). Path prints a file's path as it
// is, or Go-quoted when it holds a control character, bytes that are not
// UTF-8 or an invisible character that deceives: the errors and reports of
// engine/modelfile and engine/lora and the wan22 package's ModelError name
// files through it. Invisible names those invisible characters, for Path
// and for the command line's checks of output names. Problem, which the
// tests use, checks that text is safe to print: UTF-8, no control
// characters that could move the cursor or recolour the terminal, and no
// line long enough to flood it.
package safetext

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Problem says what makes text unsafe to print, or "" when nothing does: it
// is not UTF-8, it holds a control character (a newline is allowed when
// lines is true), or one of its lines (the whole text when lines is false)
// is longer than maxLine bytes.
func Problem(text string, lines bool, maxLine int) string {
	if !utf8.ValidString(text) {
		return "is not UTF-8"
	}
	if i := strings.IndexFunc(text, func(r rune) bool { return unicode.IsControl(r) && !(lines && r == '\n') }); i >= 0 {
		return fmt.Sprintf("has the control character %q at %d", text[i], i)
	}
	parts := []string{text}
	if lines {
		parts = strings.Split(text, "\n")
	}
	for _, p := range parts {
		if len(p) > maxLine {
			return fmt.Sprintf("has a line of %d bytes (at most %d)", len(p), maxLine)
		}
	}
	return ""
}
