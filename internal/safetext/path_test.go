package safetext

import (
	"strconv"
	"testing"
)

// TestPath: a path that holds a control character, bytes that are not
// UTF-8 or an invisible character that reorders or hides is Go-quoted; any
// other is printed as it is.
func TestPath(t *testing.T) {
	for _, p := range []string{"m.gguf", "/models/a b/high.gguf", `C:\models\high.gguf`, `a"b.gguf`, "été.gguf", "模型.gguf",
		"فيديو.gguf", "a\u00a0b.gguf", "a\u200eb.gguf", "می\u200cخواهم.gguf", "\U0001F469\u200d\U0001F4BB.gguf", "", "-"} {
		if got := Path(p); got != p {
			t.Errorf("Path(%q) = %s, want it as it is", p, got)
		}
	}
	for _, p := range []string{"a\x1b[31mb.gguf", "a\nb", "a\tb", "a\x7fb", "a\u009bb", "a\xffb", "/d\x00/m",
		"clip\u202e4pm.gguf", "a\u2066b", "a\u200bb", "a\u2060b", "\ufeffm.gguf", "a\u00adb", "a\u2028b"} {
		got := Path(p)
		if got != strconv.Quote(p) {
			t.Errorf("Path(%q) = %s, want it quoted", p, got)
		}
		if problem := Problem(got, false, 1000); problem != "" {
			t.Errorf("Path(%q) = %s %s", p, got, problem)
		}
	}
}
