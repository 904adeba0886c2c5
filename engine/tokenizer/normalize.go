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
	ns := n.stream(s, len(s)+len(s)/2+len(spaceSymbol))
	for !ns.read(len(s) + 1) {
	}
	return ns.text()
}

// normStream is normalize run piece by piece, for a caller that needs only
// the start of the normalized text: read normalizes more of the input, and
// text is the normalized text so far, always a prefix of normalize's.
type normStream struct {
	n         *normalizer
	rest      string // the input not read yet
	space     string // a space as written: "▁" with escape_whitespaces
	out       strings.Builder
	prevSpace bool // out ends with a space that the next replacement's leading spaces join
}

// stream starts normalizing s, with room for size bytes of output.
func (n *normalizer) stream(s string, size int) *normStream {
	if n.removeExtraWS {
		for len(s) > 0 {
			r, l := n.prefix(s)
			if r != " " {
				break
			}
			s = s[l:]
		}
	}
	ns := &normStream{n: n, rest: s, space: " ", prevSpace: n.removeExtraWS}
	if n.escapeWS {
		ns.space = spaceSymbol
	}
	if s == "" {
		return ns
	}
	ns.out.Grow(size)
	if n.addDummyPrefix {
		ns.out.WriteString(ns.space)
	}
	return ns
}

// read normalizes the input until at least more bytes have been written
// out, or to its end, and reports whether the input has ended.
func (ns *normStream) read(more int) bool {
	n, goal := ns.n, ns.out.Len()+more
	for len(ns.rest) > 0 && ns.out.Len() < goal {
		r, l := n.prefix(ns.rest)
		ns.rest = ns.rest[l:]
		if ns.prevSpace {
			r = strings.TrimLeft(r, " ")
		}
		if r != "" {
			ns.prevSpace = r[len(r)-1] == ' '
			if n.escapeWS {
				r = strings.ReplaceAll(r, " ", spaceSymbol)
			}
			ns.out.WriteString(r)
		}
		if !n.removeExtraWS {
			ns.prevSpace = false
		}
	}
	return ns.rest == ""
}

// text returns the normalized text so far, less the spaces at its end,
// which remove_extra_whitespaces drops when the input ends there: once read
// has reported the end, it is normalize's whole result, and before, a
// prefix of it.
func (ns *normStream) text() string {
	out := ns.out.String()
	if ns.n.removeExtraWS {
		for strings.HasSuffix(out, ns.space) {
			out = out[:len(out)-len(ns.space)]
		}
	}
	return out
}
