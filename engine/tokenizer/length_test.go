package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

// TestLength: Length counts the pieces of the whole text plus EOS, past
// MaxLen too, while Encode and EncodePadded still stop at MaxLen ids.
func TestLength(t *testing.T) {
	tok := syntheticTokenizer(t, SyntheticMinVocab)
	cat := int32(-1)
	for id := range int32(tok.Vocab()) {
		if tok.Piece(id) == "▁cat" {
			cat = id
		}
	}
	if cat < 0 {
		t.Fatal("the synthetic vocabulary has no piece ▁cat")
	}
	for _, words := range []int{0, 1, 7, 510, 511, 512, 730, 2000} {
		text := strings.TrimSpace(strings.Repeat("cat ", words))
		if got, want := tok.Length(text), words+1; got != want {
			t.Errorf("%d words: Length %d, want %d", words, got, want)
		}
		// Encode is what it always was: the first MaxLen−1 pieces, then EOS.
		want := append(slices.Repeat([]int32{cat}, min(words, MaxLen-1)), tok.EOS())
		if got := tok.Encode(text); !slices.Equal(got, want) {
			t.Errorf("%d words: Encode gives %d ids %v…, want %d", words, len(got), got[:min(len(got), 4)], len(want))
		}
		ids, mask := tok.EncodePadded(text, MaxLen)
		if !slices.Equal(ids[:len(want)], want) || slices.ContainsFunc(ids[len(want):], func(id int32) bool { return id != tok.Pad() }) ||
			slices.Contains(mask[:len(want)], 0) || slices.Contains(mask[len(want):], 1) {
			t.Errorf("%d words: EncodePadded differs from Encode padded", words)
		}
	}
}
