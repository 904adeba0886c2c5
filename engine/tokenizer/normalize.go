package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// spaceSymbol is SentencePiece's escaped space, U+2581 LOWER ONE EIGHTH BLOCK.
const spaceSymbol = "\u2581"

// normalizer reproduces SentencePiece's Normalizer::Normalize for models
// whose whitespace is a prefix (treat_whitespace_as_suffix = false).
type normalizer struct {
	cmap     *charsmap  // the precompiled charsmap, or nil
	fallback bool       // with no charsmap: apply the NFKC-like fallback (see fallback.go)
	user     *pieceTrie // user-defined pieces, copied verbatim; nil when there are none

	addDummyPrefix bool
	removeExtraWS  bool
	escapeWS       bool
}

// prefix normalizes the start of s: it returns the replacement for the
// longest rule matching a prefix of s and the number of bytes consumed. With
// no matching rule it returns the first UTF-8 character unchanged, or U+FFFD
// for one byte of invalid UTF-8.
func (n *normalizer) prefix(s string) (repl string, consumed int) {
	if n.user != nil {
		if _, l := n.user.longest(s); l > 0 {
			return s[:l], l
		}
	}
	if n.cmap != nil {
		if l, r := n.cmap.longest(s); l > 0 {
			return r, l
		}
	} else if n.fallback {
		return fallbackPrefix(s)
	}
	r, l := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && l == 1 {
		return "\uFFFD", 1
	}
	return s[:l], l
}

// normalize returns s normalized and with whitespace handled the way
// SentencePiece does before segmentation:
//   - each prefix of the input is replaced by its charsmap rule;
//   - with remove_extra_whitespaces, leading and trailing spaces are dropped
//     and runs of spaces inside are collapsed to one;
//   - with add_dummy_prefix, one space is put in front of a non-empty result;
//   - with escape_whitespaces, every space becomes "▁".
func (n *normalizer) normalize(s string) string {
	if n.removeExtraWS {
		for len(s) > 0 {
			r, l := n.prefix(s)
			if r != " " {
				break
			}
			s = s[l:]
		}
	}
	if s == "" {
		return ""
	}
	space := " "
	if n.escapeWS {
		space = spaceSymbol
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/2 + len(space))
	if n.addDummyPrefix {
		b.WriteString(space)
	}
	prevSpace := n.removeExtraWS
	for len(s) > 0 {
		r, l := n.prefix(s)
		s = s[l:]
		if prevSpace {
			r = strings.TrimLeft(r, " ")
		}
		if r != "" {
			prevSpace = r[len(r)-1] == ' '
			if n.escapeWS {
				r = strings.ReplaceAll(r, " ", spaceSymbol)
			}
			b.WriteString(r)
		}
		if !n.removeExtraWS {
			prevSpace = false
		}
	}
	out := b.String()
	if n.removeExtraWS {
		for strings.HasSuffix(out, space) {
			out = out[:len(out)-len(space)]
		}
	}
	return out
}
