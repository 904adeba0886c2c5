package tokenizer

import (
	"bytes"
	"encoding/binary"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wan22/wan22/internal/golden"
)

// buildCharsmap writes a precompiled charsmap blob for the given rules: a
// double array in darts-clone's unit format, then the replacement pool.
// Unused units hold a leaf marker, whose label matches no byte.
func buildCharsmap(rules map[string]string) []byte {
	type node struct {
		children map[byte]*node
		leaf     bool
		value    uint32
	}
	root := &node{children: map[byte]*node{}}
	var pool []byte
	keys := make([]string, 0, len(rules))
	for k := range rules {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		n := root
		for i := 0; i < len(k); i++ {
			c := n.children[k[i]]
			if c == nil {
				c = &node{children: map[byte]*node{}}
				n.children[k[i]] = c
			}
			n = c
		}
		n.leaf, n.value = true, uint32(len(pool))
		pool = append(append(pool, rules[k]...), 0)
	}
	const free = 1 << 31
	units := []uint32{0}
	used := []bool{true}
	grow := func(n int) {
		for len(units) < n {
			units = append(units, free)
			used = append(used, false)
		}
	}
	// place gives node n (whose unit is at p) a base: a position o whose
	// slots o^c for every child label c, and o itself for a leaf, are free.
	var place func(n *node, p uint32)
	place = func(n *node, p uint32) {
		labels := slices.Sorted(func(yield func(byte) bool) {
			for c := range n.children {
				if !yield(c) {
					return
				}
			}
		})
		var o uint32
		for o = 1; ; o++ {
			grow(int(o|0xff) + 1)
			ok := !n.leaf || !used[o]
			for _, c := range labels {
				ok = ok && !used[o^uint32(c)]
			}
			if ok {
				break
			}
		}
		units[p] = units[p]&^(0x3fffff<<10) | (p^o)<<10
		if n.leaf {
			units[p] |= 1 << 8
			units[o], used[o] = n.value|1<<31, true
		}
		for _, c := range labels {
			used[o^uint32(c)] = true
			units[o^uint32(c)] = uint32(c)
		}
		for _, c := range labels {
			place(n.children[c], o^uint32(c))
		}
	}
	place(root, 0)
	blob := binary.LittleEndian.AppendUint32(nil, uint32(4*len(units)))
	for _, u := range units {
		blob = binary.LittleEndian.AppendUint32(blob, u)
	}
	return append(blob, pool...)
}

// smallModel is a complete unigram model with a small charsmap, small
// enough to serve as a committed fuzz seed.
func smallModel() []byte {
	cm := buildCharsmap(map[string]string{
		"ｶ": "カ", "ｶﾞ": "ガ", "\t": " ", "，": ",", "Ａ": "a", "\u200b": " ", "\x01": "",
	})
	ps := append(slices.Clone(specials),
		testPiece{"▁", -2, Normal}, testPiece{"a", -3, Normal}, testPiece{"カ", -4, Normal},
		testPiece{"ガ", -4, Normal}, testPiece{",", -3, Normal}, testPiece{"▁a", -2.5, Normal},
		testPiece{"aa", -4.5, Normal}, testPiece{"<u>", 0, UserDefined}, testPiece{"z", -9, Unused},
		testPiece{"<0x41>", 0, Byte},
	)
	return testModel(ps, pb(nil).varint(3, 1), pb(nil).bytes(1, []byte("nmt_nfkc")).bytes(2, cm))
}

func TestSmallCharsmap(t *testing.T) {
	tok := mustProto(t, smallModel())
	for in, want := range map[string][]string{
		"ｶﾞｶ":      {"▁", "ガ", "カ"},   // the longest rule wins over ｶ then ﾞ
		"Ａ，\ta":    {"▁a", ",", "▁a"}, // full-width and tab rules
		"a\x01a":   {"▁a", "a"},       // a deleted control character
		"aa<u>za":  {"▁a", "a", "<u>", "<unk>", "a"},
		"\u200b a": {"▁a"},
	} {
		got := pieces(tok, tok.Encode(in))
		if !slices.Equal(got[:len(got)-1], want) {
			t.Errorf("Encode(%+q) = %q, want %q + </s>", in, got, want)
		}
	}
}

// withoutCharsmap builds the model with its charsmap dropped, so that the
// NFKC fallback normalizes.
func withoutCharsmap(tb testing.TB, model []byte) *Tokenizer {
	s, err := parseModelProto(model)
	if err != nil {
		tb.Fatal(err)
	}
	s.charsmap = nil
	tok, err := build(s)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// fuzzTokenizers returns the golden tokenizer (with its real charsmap) and
// the same vocabulary with the NFKC fallback, or the small model when the
// golden folder is absent.
func fuzzTokenizers(f *testing.F) []*Tokenizer {
	dir := golden.Find()
	if dir == "" {
		tok, err := FromProto(smallModel())
		if err != nil {
			f.Fatal(err)
		}
		return []*Tokenizer{tok}
	}
	b, err := os.ReadFile(filepath.Join(dir, "tokenizer_tiny.model"))
	if err != nil {
		f.Fatal(err)
	}
	withMap, err := FromProto(b)
	if err != nil {
		f.Fatal(err)
	}
	fallback := withoutCharsmap(f, b)
	return []*Tokenizer{withMap, fallback}
}

// FuzzEncode checks, for any byte string, that encoding does not panic,
// returns 1..MaxLen ids within the vocabulary ending in EOS (Length of them
// when Length is at most MaxLen), produces only matchable or unknown pieces
// before it, and, when nothing was unknown or cut, that the pieces spell the
// normalized text.
func FuzzEncode(f *testing.F) {
	toks := fuzzTokenizers(f)
	for _, s := range []string{"", " ", "A cat walks.", "ｶﾞ a\u0301 \t\n", "\xff\xfe\x00", "&amp;lt;", strings.Repeat("ab ", 300), negativePrompt} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		_ = Clean(text)
		for _, tok := range toks {
			ids := tok.Encode(text)
			if len(ids) == 0 || len(ids) > MaxLen || ids[len(ids)-1] != tok.EOS() {
				t.Fatalf("%d ids, last %v", len(ids), ids[len(ids)-1:])
			}
			norm := tok.Normalize(text)
			if !utf8.ValidString(norm) {
				t.Fatalf("normalized text %+q is not UTF-8", norm)
			}
			var spelled strings.Builder
			unknown := false
			for _, id := range ids[:len(ids)-1] {
				if id < 0 || int(id) >= tok.Vocab() {
					t.Fatalf("id %d outside the vocabulary", id)
				}
				switch {
				case id == tok.Unk():
					unknown = true
				case tok.types[id] == Normal || tok.types[id] == UserDefined:
					spelled.WriteString(tok.Piece(id))
				default:
					t.Fatalf("id %d of type %v produced", id, tok.types[id])
				}
			}
			if !unknown && len(ids) < MaxLen && spelled.String() != norm {
				t.Fatalf("pieces spell %+q, normalized text is %+q", spelled.String(), norm)
			}
			if n := tok.Length(text); n < len(ids) || (n <= MaxLen) != (n == len(ids)) {
				t.Fatalf("Length %d, Encode %d ids", n, len(ids))
			}
			padded, mask := tok.EncodePadded(text, 24)
			if n := min(len(ids), 24); !slices.Equal(padded[:n-1], ids[:n-1]) || padded[n-1] != tok.EOS() ||
				slices.Contains(mask[:n], 0) || slices.Contains(mask[n:], 1) {
				t.Fatalf("EncodePadded(_, 24) = %v, %v; Encode = %v", padded, mask, ids)
			}
		}
	})
}

// FuzzFromProto feeds corrupt models to FromProto: it must return an error
// or a working tokenizer, never panic. Seeds: the small model with its
// charsmap, the committed heads of the golden model (testdata/fuzz), and at
// run time the whole golden model with truncations and bit flips of it.
func FuzzFromProto(f *testing.F) {
	small := smallModel()
	f.Add(small)
	if dir := golden.Find(); dir != "" {
		b, err := os.ReadFile(filepath.Join(dir, "tokenizer_tiny.model"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		for _, cut := range []int{1, 2, 100, 1000, len(b) / 2, len(b) - 240000, len(b) - 1000, len(b) - 3} {
			f.Add(b[:cut])
		}
		for _, at := range []int{0, 5, 77, 5000, len(b) - 200000, len(b) - 100000, len(b) - 50} {
			flipped := bytes.Clone(b)
			flipped[at] ^= 0x10
			f.Add(flipped)
		}
	}
	f.Fuzz(func(t *testing.T, model []byte) {
		tok, err := FromProto(model)
		if err != nil {
			if tok != nil {
				t.Fatal("tokenizer and error both returned")
			}
			return
		}
		for _, s := range []string{"", "a b", "ｶﾞ，\u00e9\xff", "\x00\x01"} {
			ids := tok.Encode(s)
			if len(ids) == 0 || ids[len(ids)-1] != tok.EOS() {
				t.Fatalf("Encode(%q) = %v", s, ids)
			}
			for _, id := range ids {
				if id < 0 || int(id) >= tok.Vocab() {
					t.Fatalf("id %d outside the vocabulary of %d", id, tok.Vocab())
				}
			}
		}
	})
}

// checkStopsAtLimit requires segmentStart, which stops tokenizing text once
// its first ids are settled, to give for every limit from lo to limit the
// first ids of the whole text's tokenization, and Encode,
// EncodePadded(_, limit+1) and LengthUpTo(_, limit), which use it, to give
// what tokenizing all of text gives.
func checkStopsAtLimit(t *testing.T, name string, tok *Tokenizer, text string, lo, limit int) {
	t.Helper()
	all := tok.segment(tok.norm.normalize(text), math.MaxInt)
	for n := lo; n <= limit; n++ {
		if got, want := tok.segmentStart(text, n), all[:min(len(all), n)]; !slices.Equal(got, want) {
			t.Fatalf("%s: the first %d ids of %d bytes (%.40q…) differ from the full tokenization's at id %d: %d ids, want %d",
				name, n, len(text), text, firstDiff(got, want), len(got), len(want))
		}
	}
	if got, want := tok.Encode(text), append(slices.Clone(all[:min(len(all), MaxLen-1)]), tok.EOS()); !slices.Equal(got, want) {
		t.Fatalf("%s: Encode of %d bytes (%.40q…) differs from the full tokenization at id %d", name, len(text), text, firstDiff(got, want))
	}
	ids, mask := tok.EncodePadded(text, limit+1)
	want := append(slices.Clone(all[:min(len(all), limit)]), tok.EOS())
	if !slices.Equal(ids[:len(want)], want) || slices.ContainsFunc(ids[len(want):], func(id int32) bool { return id != tok.Pad() }) ||
		slices.Contains(mask[:len(want)], 0) || slices.Contains(mask[len(want):], 1) {
		t.Fatalf("%s: EncodePadded(_, %d) of %d bytes (%.40q…) differs from the full tokenization at id %d", name, limit+1, len(text), text, firstDiff(ids, want))
	}
	if got := tok.LengthUpTo(text, limit); got != min(len(all)+1, limit+1) {
		t.Fatalf("%s: LengthUpTo(_, %d) of %d bytes = %d; Length is %d", name, limit, len(text), got, len(all)+1)
	}
}

// stopRepeat is the text a fuzzed text, repeat count and offset stand for:
// text repeated up to some size, so that the early stop, which first looks
// for a settled start past 4·limit bytes, happens within it, after the end
// of text from offset (a byte; a character cut there is invalid UTF-8),
// which moves the repeats against the 1 KB steps the normalized text is
// searched in, and so the positions searched for a settled start.
func stopRepeat(text string, repeat, offset uint16, size int) string {
	if text == "" {
		return ""
	}
	n := 1 + int(repeat)%max(1, size/len(text))
	return text[int(offset)%len(text):] + strings.Repeat(text, n)
}

// FuzzEncodeStopsAtLimit: for any text, repeated (stopRepeat, to some
// 8 KB: past the second look for a settled start at MaxLen), and any limit
// up to MaxLen, and the two below it, the ids that tokenizing finds when it
// stops early are those of the whole text's tokenization
// (checkStopsAtLimit), on the tokenizers TestEncodeStopsAtLimit uses: the
// golden model with its charsmap and with the NFKC fallback when the golden
// folder is there, the synthetic vocabulary, the small model and the
// ambiguous one whose best paths stay undecided over long runs.
func FuzzEncodeStopsAtLimit(f *testing.F) {
	toks := prefixTokenizers(f)
	names := slices.Sorted(maps.Keys(toks))
	for _, s := range []struct {
		text                  string
		repeat, offset, limit uint16
	}{
		{"A cat walks. ", 300, 0, 511}, {"a cat 🐈 surfing 🌊 a wave, 色调艳丽 ｶﾞｶ Ａ，\tb ✨✨ é ", 100, 7, 40},
		{"🐈🐈🌊✨ a 🐈", 200, 0, 7}, {"aaa", 1000, 1, 3}, {strings.Repeat("a", 60) + "b ", 100, 33, 30},
		{"café naïve e\u0301 ﬁ ㎏ ①  \u3000 ", 60, 0, 100}, {negativePrompt + "，", 10, 0, 511}, {"", 0, 0, 0},
		{"<u>z", 800, 2, 1},
	} {
		f.Add(s.text, s.repeat, s.offset, s.limit)
	}
	f.Fuzz(func(t *testing.T, text string, repeat, offset, limit uint16) {
		long, n := stopRepeat(text, repeat, offset, 8<<10), int(limit)%(MaxLen+1)
		for _, name := range names {
			checkStopsAtLimit(t, name, toks[name], long, max(n-2, 0), n)
		}
	})
}

// stopPieceSymbols are the characters a fuzzed vocabulary is made of in
// FuzzEncodeStopsAtLimitVocab: letters, a space (▁), one character of two
// and one of four bytes, and a tab, which the normalizer keeps.
var stopPieceSymbols = []string{"a", "b", "▁", "é", "🐈", "\t"}

// stopText makes the text of FuzzEncodeStopsAtLimitVocab: each byte of b
// is a run of 1 to 8 (its top bits) of one of the pieces' characters, a
// space or c, which no piece holds (its low 3 bits), so that runs of
// unknowns longer than the longest piece, across which the best paths meet,
// are a byte or two away.
func stopText(b []byte) string {
	symbols := [8]string{"a", "b", " ", "é", "🐈", "\t", "c", "ab"}
	var s strings.Builder
	for _, c := range b {
		s.WriteString(strings.Repeat(symbols[c&7], 1+int(c>>3)%8))
	}
	return s.String()
}

// stopVocab builds a unigram model from fuzzed bytes: each piece is a
// length byte (1 to 8 symbols by its low 3 bits; from 0xf0 a user-defined
// piece), its symbols (stopPieceSymbols) and a score byte (0 to −15.9375
// in sixteenths, so that paths tie often). Repeated pieces are dropped. The
// normalizer is the identity with SentencePiece's whitespace handling. It
// returns nil when no piece is made.
func stopVocab(b []byte) []byte {
	pieces := slices.Clone(specials)
	seen := map[string]bool{}
	for len(b) >= 2 {
		k := 1 + int(b[0]&7)
		typ := Normal
		if b[0] >= 0xf0 {
			typ = UserDefined
		}
		b = b[1:]
		var p strings.Builder
		for ; k > 0 && len(b) > 1; k-- {
			p.WriteString(stopPieceSymbols[int(b[0])%len(stopPieceSymbols)])
			b = b[1:]
		}
		score := -float32(b[0]) / 16
		b = b[1:]
		if s := p.String(); s != "" && !seen[s] {
			seen[s] = true
			pieces = append(pieces, testPiece{s, score, typ})
		}
	}
	if len(pieces) == len(specials) {
		return nil
	}
	return testModel(pieces, nil, pb(nil).bytes(1, []byte("identity")).varint(3, 1).varint(4, 1).varint(5, 1))
}

// FuzzEncodeStopsAtLimitVocab is FuzzEncodeStopsAtLimit over fuzzed
// vocabularies (stopVocab): pieces of up to 8 characters, with ties and
// user-defined pieces, over texts of the same characters and one unknown
// (stopText) repeated up to some 4 KB (stopRepeat), for every limit up to
// one of 1 to 128. The best paths can stay undecided, meet late or fuse
// unknowns across a settled position in ways the fixed tokenizers do not,
// and with every limit the ids counted up to such a position fall on each
// side of it. Seeded with the cases that a miscount of an unknown run
// across a settled position, and a search for it that leaves out the first
// position a piece crossing the searched end can start at, get wrong.
func FuzzEncodeStopsAtLimitVocab(f *testing.F) {
	// a, aa, aaa of close scores and ▁: runs of a stay undecided.
	f.Add([]byte{0, 0, 16, 1, 0, 0, 32, 2, 0, 0, 0, 40, 0, 2, 8}, []byte{0x38, 0x38, 2, 0x10, 1, 2}, uint16(200), uint16(0), uint16(127))
	// a, ▁a: runs of unknowns (56 c) across the settled positions.
	f.Add([]byte{0, 0, 16, 1, 2, 0, 0}, []byte{0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 2, 0, 2}, uint16(68), uint16(0), uint16(127))
	// ▁, a, aa, aaa, b, ba and ▁aaaaaab, whose 10 bytes end just past a
	// position searched for a settled start.
	f.Add([]byte{0, 2, 16, 0, 0, 32, 1, 0, 0, 64, 2, 0, 0, 0, 96, 7, 2, 0, 0, 0, 0, 0, 0, 1, 48, 0, 1, 48, 1, 1, 0, 64},
		[]byte{0x28, 1, 2}, uint16(511), uint16(1), uint16(127))
	// A piece of 8 characters, a user-defined one, a 4-byte character.
	f.Add([]byte{7, 0, 0, 0, 0, 0, 0, 0, 1, 40, 0, 0, 16, 0xf1, 0, 4, 0, 2, 0, 20}, []byte{0x38, 1, 2, 4, 0x3e, 2, 0, 4}, uint16(500), uint16(3), uint16(100))
	f.Fuzz(func(t *testing.T, vocab, text []byte, repeat, offset, limit uint16) {
		model := stopVocab(vocab)
		if model == nil {
			return
		}
		tok, err := FromProto(model)
		if err != nil {
			t.Fatal(err)
		}
		long := stopRepeat(stopText(text), repeat, offset, 4<<10)
		checkStopsAtLimit(t, "fuzzed vocabulary", tok, long, 0, 1+int(limit)%128)
	})
}
