package tokenizer

import (
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// fallbackPrefix approximates SentencePiece's nmt_nfkc normalization for
// models that carry no precompiled charsmap (a GGUF file whose converter
// dropped it). It is NFKC applied to one normalization segment (a starter and
// the combining marks after it), plus the rules nmt_nfkc adds on top, which
// were read off the charsmap of the golden umT5-style model:
//   - C0 controls other than tab/LF/FF/CR, DEL, U+008F and U+009F are deleted;
//   - tab, LF, FF, CR, U+1680, U+200B, U+200C, U+200E, U+200F, U+2028,
//     U+2029, U+2581 (▁), U+FEFF and U+FFFD become a space;
//   - U+FF5E (～) is kept, where NFKC would give "~".
//
// Tests check that it agrees with that charsmap on every code point and
// every multi-character rule that Unicode 15 (the version x/text implements)
// assigns; charsmaps built from newer Unicode also fold the characters added
// since.
func fallbackPrefix(s string) (repl string, consumed int) {
	r, l := utf8.DecodeRuneInString(s)
	switch {
	case r == utf8.RuneError && l == 1:
		return "\uFFFD", 1
	case r >= 0x01 && r <= 0x08, r == 0x0b, r >= 0x0e && r <= 0x1f, r == 0x7f, r == 0x8f, r == 0x9f:
		return "", l
	case r == '\t', r == '\n', r == '\f', r == '\r', r == 0x1680, r == 0x200b, r == 0x200c,
		r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029, r == 0x2581, r == 0xfeff, r == 0xfffd:
		return " ", l
	case r == 0xff5e:
		return s[:l], l
	}
	n := norm.NFKC.NextBoundaryInString(s, true)
	if n <= 0 { // cannot happen for non-empty s; guard the slice below anyway
		n = l
	}
	return norm.NFKC.String(s[:n]), n
}
