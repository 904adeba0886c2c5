package safetext

import (
	"strings"
	"testing"
)

func TestProblem(t *testing.T) {
	for _, c := range []struct {
		text    string
		lines   bool
		max     int
		problem string // a part of the answer; "" for none
	}{
		{"plain text", false, 100, ""},
		{"two\nlines", true, 100, ""},
		{"two\nlines", false, 100, "control character '\\n'"},
		{"esc \x1b[2J", true, 100, "control character '\\x1b'"},
		{"c1 \u009b", false, 100, "control character"},
		{"bad \xff", false, 100, "not UTF-8"},
		{strings.Repeat("a", 101), false, 100, "line of 101 bytes"},
		{"short\n" + strings.Repeat("a", 101), true, 100, "line of 101 bytes"},
		{strings.Repeat("a\n", 100), true, 100, ""},
	} {
		got := Problem(c.text, c.lines, c.max)
		if (c.problem == "") != (got == "") || !strings.Contains(got, c.problem) {
			t.Errorf("Problem(%.40q, %v, %d) = %q, want %q", c.text, c.lines, c.max, got, c.problem)
		}
	}
}
