package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

func syntheticTokenizer(t testing.TB, n int) *Tokenizer {
	t.Helper()
	kvs, err := SyntheticMetadata(n)
	if err != nil {
		t.Fatal(err)
	}
	m := mapMeta{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	tok, err := FromGGUF(m)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestSyntheticVocab(t *testing.T) {
	for _, n := range []int{SyntheticMinVocab, 2048, 256384} {
		tok := syntheticTokenizer(t, n)
		if tok.Vocab() != n || tok.Pad() != 0 || tok.EOS() != 1 || tok.Unk() != 2 {
			t.Fatalf("vocab %d: got %d pieces, pad %d, eos %d, unk %d", n, tok.Vocab(), tok.Pad(), tok.EOS(), tok.Unk())
		}
		pieces, _, _, err := SyntheticVocab(n)
		if err != nil {
			t.Fatal(err)
		}
		sorted := slices.Clone(pieces)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != n {
			t.Errorf("vocab %d: pieces are not unique", n)
		}

		// English: whole words where the vocabulary has them, characters
		// otherwise, never the unknown piece.
		ids := tok.Encode(Clean("A cat surfing a wave at sunset, cinematic lighting. Zebra #42!"))
		var got []string
		for _, id := range ids {
			if id == tok.Unk() {
				t.Errorf("vocab %d: English text produced <unk>: %v", n, ids)
			}
			got = append(got, tok.Piece(id))
		}
		if !slices.Contains(got, "▁surfing") || !slices.Contains(got, "▁cinematic") || got[len(got)-1] != "</s>" {
			t.Errorf("vocab %d: pieces %q", n, got)
		}
		// Chinese: the characters of the official negative prompt are all pieces.
		neg := "色调艳丽，过曝，静态，细节模糊不清，字幕，JPEG压缩残留，三条腿，背景人很多，倒着走"
		ids = tok.Encode(Clean(neg))
		if slices.Contains(ids, tok.Unk()) {
			t.Errorf("vocab %d: Chinese text produced <unk>: %v", n, ids)
		}
		if len(ids) < 20 {
			t.Errorf("vocab %d: %d ids for %q", n, len(ids), neg)
		}
	}
	// A character outside the vocabulary maps to <unk>, as in the real model.
	if ids := syntheticTokenizer(t, SyntheticMinVocab).Encode("🙂"); !slices.Contains(ids, 2) {
		t.Errorf("emoji: ids %v, want the unknown id", ids)
	}
	if _, err := SyntheticMetadata(10); err == nil || !strings.Contains(err.Error(), "at least") {
		t.Errorf("tiny vocabulary: err %v", err)
	}
}
