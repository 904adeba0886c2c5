package main

import (
	"os"
	"strings"
	"unicode/utf8"
)

// isCharDevice reports whether v is a file (it has Stat, as *os.File and
// watchBroken's writer do) that is a character device: a terminal, or
// another device such as /dev/null.
func isCharDevice(v any) bool {
	f, ok := v.(interface{ Stat() (os.FileInfo, error) })
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// barLine draws the progress bar: each line over the one before, on one
// line of the terminal. Where the terminal takes escape sequences (vt, see
// vtTerminal) a line is "\r", "\033[K" (erase to the end of the line) and
// the text. The classic Windows console without virtual terminal
// processing would print the escape as it is, so there a line is "\r" and
// the text, padded with spaces to the length of the line before, which
// would otherwise show through at its end.
//
// A line as wide as the terminal or wider is cut to one character less than its width (width, when set and
// it knows it): a line that wraps leaves its first part behind at every redraw.
type barLine struct {
	vt    bool
	width func() int // the terminal's columns, 0 when unknown; nil: not known
	prev  int        // the length of the line drawn last, in characters; 0 on a fresh line
}

// draw returns what to write to draw line over the line drawn last.
func (b *barLine) draw(line string) string {
	n := utf8.RuneCountInString(line)
	if b.width != nil {
		if w := b.width(); w > 1 && n >= w {
			line = string([]rune(line)[:w-1])
			n = w - 1
		}
	}
	pad := max(0, b.prev-n)
	b.prev = n
	if b.vt {
		return "\r\033[K" + line
	}
	return "\r" + line + strings.Repeat(" ", pad)
}

// reset says the bar's line was ended (a newline): the next draw starts on
// a fresh line.
func (b *barLine) reset() { b.prev = 0 }
