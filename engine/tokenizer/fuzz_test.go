package tokenizer

import (
	"bytes"
	"encoding/binary"
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
