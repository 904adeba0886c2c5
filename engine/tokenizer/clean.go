package tokenizer

import (
	"html"
	"strconv"
	"strings"
	"unicode"
)

// Clean is the Wan pipeline's prompt cleaning (wan/modules/tokenizers.py
// with clean='whitespace'), applied before tokenization: HTML-unescape twice
// as Python's html.unescape does, then replace every run of whitespace with
// one space and strip both ends. Whitespace is Python's str.isspace set.
//
// The reference first runs ftfy.fix_text, which is not reproduced here. For
// ordinary prompts it changes nothing, but it does differ on: curly quotes
// (ftfy straightens ‘’“” to ' and "), one extra level of HTML entities
// (ftfy unescapes when the text has no '<'), full-width ～ (ftfy makes it ~;
// the tokenizer's nmt_nfkc keeps it), terminal escape sequences (ftfy
// removes them) and mojibake repair.
func Clean(s string) string {
	s = unescapeHTML(unescapeHTML(s))
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if isPySpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// isPySpace reports whether Python's str.isspace is true for r: Go's
// unicode.IsSpace plus the separators U+001C..U+001F.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}

// unescapeHTML is Python's html.unescape. Named references behave as in Go's
// html.UnescapeString (the same HTML5 table, and the same longest-prefix rule
// for the legacy names that may omit ';'); numeric references follow Python,
// which deletes the code points HTML forbids where Go keeps them.
func unescapeHTML(s string) string {
	i := strings.IndexByte(s, '&')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i >= 0 {
		b.WriteString(s[:i])
		s = s[i:]
		// s starts with '&'; the reference ends before the next one.
		end := len(s)
		if j := strings.IndexByte(s[1:], '&'); j >= 0 {
			end = j + 1
		}
		seg := s[:end]
		s = s[end:]
		if len(seg) > 1 && seg[1] == '#' {
			b.WriteString(unescapeNumeric(seg))
		} else {
			b.WriteString(html.UnescapeString(seg))
		}
		i = strings.IndexByte(s, '&')
	}
	b.WriteString(s)
	return b.String()
}

// unescapeNumeric replaces a numeric character reference at the start of
// seg ("&#65;", "&#x41", ...) the way Python's html.unescape does and returns
// seg with it replaced; seg is returned unchanged when it holds none.
func unescapeNumeric(seg string) string {
	i, base := 2, 10
	if len(seg) > 3 && (seg[2] == 'x' || seg[2] == 'X') && hexDigit(seg[3]) >= 0 {
		i, base = 3, 16
	}
	const tooBig = unicode.MaxRune + 1
	n, start := 0, i
	for ; i < len(seg); i++ {
		d := hexDigit(seg[i])
		if d < 0 || d >= base {
			break
		}
		n = min(n*base+d, tooBig)
	}
	if i == start {
		return seg
	}
	if i < len(seg) && seg[i] == ';' {
		i++
	}
	return charRef(n) + seg[i:]
}

// charRef is the text Python's html.unescape substitutes for &#n;.
func charRef(n int) string {
	switch {
	case n == 0:
		return "\uFFFD"
	case n >= 0x80 && n <= 0x9f:
		// The HTML5 Windows-1252 table, which Go's html package shares.
		return html.UnescapeString("&#" + strconv.Itoa(n) + ";")
	case n >= 0xd800 && n <= 0xdfff, n > unicode.MaxRune:
		return "\uFFFD"
	case n >= 0x01 && n <= 0x08, n == 0x0b, n >= 0x0e && n <= 0x1f, n == 0x7f,
		n >= 0xfdd0 && n <= 0xfdef, n&0xfffe == 0xfffe:
		return ""
	}
	return string(rune(n))
}

func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
