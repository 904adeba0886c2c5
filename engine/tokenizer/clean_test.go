package tokenizer

import "testing"

// The expected values were produced by the reference's own steps in CPython
// 3.11: html.unescape(html.unescape(s)).strip(), re.sub(r"\s+", " ", ...),
// .strip().
func TestClean(t *testing.T) {
	cases := []struct{ in, want string }{
		{"  A  cat\t\twalks\n\non grass  ", "A cat walks on grass"},
		{"Tom &amp; Jerry", "Tom & Jerry"},
		{"&amp;lt;b&amp;gt;", "<b>"},
		{"&amp;amp;amp;", "&amp;"},
		{"&lt3 &notin &notin; &ampx &AMP; &am", "<3 ¬in ∉ &x & &am"},
		{"&#65;&#x42;&#X43;&#0x41;&#x;&#;&#", "ABC\uFFFDx41;&#x;&#;&#"},
		{"a&#0;b&#13;c&#128;d&#129;e&#150;f", "a\uFFFDb c€d\u0081e–f"},
		{"&#1;&#11;&#127;&#xFDD0;&#xFFFE;&#x10FFFF;&#xD800;&#x110000;&#99999999999999999999;", "\uFFFD\uFFFD\uFFFD"},
		{"x\u3000y\u00a0z\u2028w\x1cv\u0085u\u200bt", "x y z w v u\u200bt"},
		{"&#32;&#32;lead and &#9;tab", "lead and tab"},
		{"&nbsp;&nbsp;x&nbsp;", "x"},
		{"caf&eacute; na&iuml;ve &#233;", "café naïve é"},
		{"&&amp;&", "&&&"},
		{"", ""},
		{"   ", ""},
		{"色调艳丽，过曝", "色调艳丽，过曝"},
	}
	for _, c := range cases {
		if got := Clean(c.in); got != c.want {
			t.Errorf("Clean(%+q) = %+q, want %+q", c.in, got, c.want)
		}
	}
}
