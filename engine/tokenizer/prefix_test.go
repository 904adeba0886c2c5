package tokenizer

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wan22/wan22/internal/golden"
)

// prefixTokenizers are the tokenizers the early stop is checked on: the
// synthetic vocabulary, the small model with its charsmap and a
// user-defined piece, a model whose best paths stay ambiguous over long
// runs ("aaaa…" with a, aa and aaa of close scores, and long pieces), and,
// when the golden folder is there, the golden model with its charsmap and
// with the NFKC fallback.
func prefixTokenizers(t testing.TB) map[string]*Tokenizer {
	toks := map[string]*Tokenizer{
		"synthetic": syntheticTokenizer(t, SyntheticMinVocab),
		"small":     mustProto(t, smallModel()),
		"ambiguous": mustProto(t, testModel(append(slices.Clone(specials),
			testPiece{"▁", -1, Normal}, testPiece{"a", -2, Normal}, testPiece{"aa", -4.01, Normal},
			testPiece{"aaa", -5.99, Normal}, testPiece{"▁" + strings.Repeat("a", 60) + "b", -3, Normal},
			testPiece{"b", -3, Normal}, testPiece{"ba", -4, Normal}, testPiece{"é", -3, Normal},
		), nil, pb(nil).bytes(1, []byte("identity")).varint(3, 1).varint(4, 1).varint(5, 1))),
	}
	if dir := golden.Find(); dir != "" {
		b, err := os.ReadFile(filepath.Join(dir, "tokenizer_tiny.model"))
		if err != nil {
			t.Fatal(err)
		}
		toks["golden"] = mustProto(t, b)
		toks["golden fallback"] = withoutCharsmap(t, b)
	}
	return toks
}

// checkPrefix requires Encode, EncodePadded and LengthUpTo, which stop
// tokenizing at their limit, to give for text what tokenizing all of it
// gives: its pieces (as Encode found them before it stopped early), cut to
// the limit, and EOS.
func checkPrefix(t *testing.T, name string, tok *Tokenizer, text string) {
	t.Helper()
	all := tok.segment(tok.norm.normalize(text), math.MaxInt)
	full := func(limit int) []int32 { return append(slices.Clone(all[:min(len(all), limit-1)]), tok.EOS()) }
	if got, want := tok.Encode(text), full(MaxLen); !slices.Equal(got, want) {
		t.Fatalf("%s: Encode of %d bytes (%.40q…) differs from the full tokenization at id %d of %d/%d",
			name, len(text), text, firstDiff(got, want), len(got), len(want))
	}
	for _, n := range []int{1, 2, 3, 17, MaxLen - 1, MaxLen + 1} {
		ids, mask := tok.EncodePadded(text, n)
		want := full(n)
		if !slices.Equal(ids[:len(want)], want) || slices.ContainsFunc(ids[len(want):], func(id int32) bool { return id != tok.Pad() }) ||
			slices.Contains(mask[:len(want)], 0) || slices.Contains(mask[len(want):], 1) {
			t.Fatalf("%s: EncodePadded(_, %d) of %d bytes (%.40q…) differs from the full tokenization at id %d", name, n, len(text), text, firstDiff(ids, want))
		}
	}
	length := len(all) + 1
	for _, n := range []int{0, 1, 5, MaxLen - 1, MaxLen, MaxLen + 1, 4 * MaxLen} {
		if got := tok.LengthUpTo(text, n); got != min(length, n+1) {
			t.Fatalf("%s: LengthUpTo(_, %d) of %d bytes = %d; Length is %d", name, n, len(text), got, length)
		}
	}
}

func firstDiff(a, b []int32) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestEncodeStopsAtLimit: prompts that tokenize to about MaxLen ids, cut at
// every character within some bytes of where the limit falls (so that the
// last kept piece, and a run of unknowns, end at, before and after the
// cut), and whole prompts far longer, in English, Chinese, mixed with
// emoji and other characters no piece covers, with width forms and marks
// that normalization rewrites, and text whose best segmentation stays
// undecided for long: Encode, EncodePadded and LengthUpTo, which stop
// tokenizing once they have their ids, give what tokenizing the whole
// prompt gives.
func TestEncodeStopsAtLimit(t *testing.T) {
	units := map[string]string{
		"english":   "A golden retriever runs across a sunlit meadow, slow motion, cinematic lighting. ",
		"chinese":   negativePrompt + "，",
		"mixed":     "a cat 🐈 surfing 🌊 a wave, 色调艳丽 ｶﾞｶ Ａ，\tb ✨✨ é ",
		"unknowns":  "🐈🐈🌊✨ a 🐈",
		"marks":     "café naïve e\u0301 ﬁ ㎏ ①  \u3000 ",
		"ambiguous": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa ",
		"long runs": strings.Repeat("a", 700) + "b" + strings.Repeat("a", 300) + "é ",
		// A run whose first pieces the ambiguous model chooses by its length
		// (a·aaa…, a·a·aaa… or aaa…, by its length modulo 3): no start of it
		// settles until it ends.
		"one run": strings.Repeat("a", 3001) + "b ",
		// The ambiguous model's piece ▁a…ab of 64 bytes, and near misses.
		"long piece": strings.Repeat("a", 60) + "b " + strings.Repeat("a", 59) + "b " + strings.Repeat("a", 61) + "b ",
	}
	for tname, tok := range prefixTokenizers(t) {
		for uname, unit := range units {
			name := tname + ", " + uname
			long := strings.Repeat(unit, 3*MaxLen/max(1, len(unit)/4)+1)
			checkPrefix(t, name, tok, long)
			// The shortest prefix of long whose tokens reach the limit.
			cut := sortSearchRunes(long, func(i int) bool { return tok.Length(long[:i]) > MaxLen })
			for i := max(cut-16, 0); i <= min(cut+16, len(long)); i++ {
				if utf8.RuneStart(long[min(i, len(long)-1)]) || i == len(long) {
					checkPrefix(t, name, tok, long[:i])
				}
			}
		}
	}
}

// TestEncodeStopsAtLimitEveryLength: texts where the settled start of the
// segmentation falls where it is easy to get wrong, shifted by every
// offset and encoded to every length up to some hundred ids, so that the
// searches for it happen at every byte of their pieces and the limit falls
// on every id around them: pieces longer than the paths that end inside
// them (the ambiguous model's ▁a…ab, 64 bytes, against ▁ and some twenty
// a, aa and aaa), and runs of unknowns (one id however long) across the
// searches.
func TestEncodeStopsAtLimitEveryLength(t *testing.T) {
	toks := prefixTokenizers(t)
	for _, c := range []struct {
		name, tok, unit string
		offsets, most   int // the offsets and lengths tried: a unit's length, and past the second search
	}{
		{"long pieces", "ambiguous", strings.Repeat("a", 60) + "b ", 64, 100},
		{"unknown runs", "synthetic", "🐈🐈🌊✨🐈🐈🐈🌊✨🐈 a ", 46, 160},
		{"unknown runs", "ambiguous", "🐈🐈🌊✨🐈 a 🐈 ✨✨✨✨✨✨✨✨✨✨✨✨🌊 aaaa", 32, 160},
	} {
		tok := toks[c.tok]
		long := strings.Repeat(c.unit, 4*MaxLen/max(1, len(c.unit)/4))
		for off := range c.offsets {
			text := strings.Repeat("b", off) + " " + long
			all := tok.segment(tok.norm.normalize(text), math.MaxInt)
			for n := 1; n <= c.most; n++ {
				want := append(slices.Clone(all[:min(len(all), n-1)]), tok.EOS())
				if ids, _ := tok.EncodePadded(text, n); !slices.Equal(ids[:len(want)], want) {
					t.Fatalf("%s, %s, offset %d: EncodePadded(_, %d) differs from the full tokenization at id %d", c.tok, c.name, off, n, firstDiff(ids, want))
				}
			}
		}
	}
}

// sortSearchRunes is sort.Search over the byte lengths of s.
func sortSearchRunes(s string, f func(int) bool) int {
	lo, hi := 0, len(s)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if !f(mid) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// TestEncodeStopsAtLimitRandom: random texts of a few kilobytes over
// alphabets of covered, uncovered and rewritten characters and spaces, cut
// at any point, tokenize the same way whether tokenizing stops at the limit
// or runs to the end.
func TestEncodeStopsAtLimitRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 12))
	alphabets := [][]string{
		{"a", "aa", "b", " ", "é", "🐈"},
		{"cat", "the", " ", "  ", "色", "调", "，", "ｶ", "ﾞ", "Ａ", "\t", "<u>", "\x01", "\xff"},
		{"a", "a", "a", "a", "b", " "},
	}
	for tname, tok := range prefixTokenizers(t) {
		for trial := range 80 {
			alphabet := alphabets[trial%len(alphabets)]
			var b strings.Builder
			for n := rng.IntN(6000); b.Len() < n; {
				b.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			checkPrefix(t, tname, tok, b.String())
		}
	}
}

// TestEncodeLongPromptBounded: encoding a prompt of megabytes, or counting
// its tokens up to a bound, reads only its start: the memory allocated is
// that of its first ids, not of the whole text (Length, which counts all
// of them, allocates by the megabyte).
func TestEncodeLongPromptBounded(t *testing.T) {
	tok := syntheticTokenizer(t, SyntheticMinVocab)
	long := strings.Repeat("a cat surfing a wave at sunset, 色调艳丽，", 8<<20/52)
	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	var ids []int32
	if n := allocated(func() { ids = tok.Encode(long) }); n > 1<<20 {
		t.Errorf("Encode of %d MB allocated %d bytes", len(long)>>20, n)
	}
	if len(ids) != MaxLen {
		t.Errorf("Encode gave %d ids, want %d", len(ids), MaxLen)
	}
	if n := allocated(func() { tok.EncodePadded(long, MaxLen) }); n > 1<<20 {
		t.Errorf("EncodePadded of %d MB allocated %d bytes", len(long)>>20, n)
	}
	if n := allocated(func() {
		if got := tok.LengthUpTo(long, 4*MaxLen); got != 4*MaxLen+1 {
			t.Errorf("LengthUpTo = %d, want %d", got, 4*MaxLen+1)
		}
	}); n > 1<<20 {
		t.Errorf("LengthUpTo of %d MB allocated %d bytes", len(long)>>20, n)
	}
}
