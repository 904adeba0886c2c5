package tokenizer

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// pb builds protobuf messages for test models. Appending never writes into
// the receiver's array, so a shared prefix can be extended in several ways.
type pb []byte

func (b pb) key(field, wire int) pb {
	return binary.AppendUvarint(slices.Clip(b), uint64(field)<<3|uint64(wire))
}

func (b pb) varint(field int, v uint64) pb {
	return binary.AppendUvarint(b.key(field, wireVarint), v)
}

func (b pb) bytes(field int, v []byte) pb {
	return append(binary.AppendUvarint(b.key(field, wireBytes), uint64(len(v))), v...)
}

func (b pb) float(field int, v float32) pb {
	return binary.LittleEndian.AppendUint32(b.key(field, wireFixed32), math.Float32bits(v))
}

type testPiece struct {
	s     string
	score float32
	typ   PieceType
}

// testModel is a SentencePiece ModelProto: the pieces, then the given
// trainer and normalizer specs when not nil.
func testModel(pieces []testPiece, trainer, normalizer pb) []byte {
	var m pb
	for _, p := range pieces {
		var sp pb
		sp = sp.bytes(1, []byte(p.s)).float(2, p.score)
		if p.typ != Normal {
			sp = sp.varint(3, uint64(p.typ))
		}
		m = m.bytes(1, sp)
	}
	if trainer != nil {
		m = m.bytes(2, trainer)
	}
	if normalizer != nil {
		m = m.bytes(3, normalizer)
	}
	return m
}

// specials are the T5 layout: <pad> 0, </s> 1, <unk> 2.
var specials = []testPiece{{"<pad>", 0, Control}, {"</s>", 0, Control}, {"<unk>", 0, Unknown}}

// identityNorm is a normalizer spec with no charsmap and no normalization.
var identityNorm = pb(nil).bytes(1, []byte("identity"))

func mustProto(t testing.TB, b []byte) *Tokenizer {
	t.Helper()
	tok, err := FromProto(b)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func pieces(tok *Tokenizer, ids []int32) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = tok.Piece(id)
	}
	return out
}

func TestUnigramPrefersBestPath(t *testing.T) {
	tok := mustProto(t, testModel(append(slices.Clone(specials),
		testPiece{"▁", -2, Normal}, testPiece{"a", -3, Normal}, testPiece{"b", -3, Normal},
		testPiece{"c", -3, Normal}, testPiece{"▁ab", -4, Normal}, testPiece{"ab", -2, Normal},
		testPiece{"bc", -1, Normal}, testPiece{"▁abc", -7, Normal},
	), nil, identityNorm))
	cases := []struct {
		text string
		want []string
	}{
		// ▁ab c = -7, ▁ a bc = -6, ▁ ab c = -7, ▁abc = -7: the best is ▁ a bc.
		{"abc", []string{"▁", "a", "bc", "</s>"}},
		// ▁ab and ▁ ab both score -4: ▁ab, relaxed first (from the earlier
		// start), is kept.
		{"ab", []string{"▁ab", "</s>"}},
		{"  ab   c ", []string{"▁ab", "▁", "c", "</s>"}},
		{"", []string{"</s>"}},
		{"   ", []string{"</s>"}},
	}
	for _, c := range cases {
		if got := pieces(tok, tok.Encode(c.text)); !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}

func TestUnknownsFuse(t *testing.T) {
	tok := mustProto(t, testModel(append(slices.Clone(specials),
		testPiece{"▁", -1, Normal}, testPiece{"a", -1, Normal}, testPiece{"xy", -30, Normal},
	), nil, identityNorm))
	// "x" alone is unknown (xy is not a single character); "é" and "ü" are
	// unknown and adjacent, so they fuse into one <unk>.
	got := pieces(tok, tok.Encode("aéüa x"))
	want := []string{"▁", "a", "<unk>", "a", "▁", "<unk>", "</s>"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// "xy" scores -30, below two unknowns (2 × (min −10) = -62)? No: the
	// unknown path costs -31 − -31 = -62, so xy (-30) wins.
	if got := pieces(tok, tok.Encode("xy")); !slices.Equal(got, []string{"▁", "xy", "</s>"}) {
		t.Errorf("Encode(xy) = %q", got)
	}
}

// TestViterbiBruteForce checks the segmenter against an exhaustive search
// over all segmentations of short random strings.
func TestViterbiBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "c", "é", "▁"}
	for trial := 0; trial < 20; trial++ {
		ps := slices.Clone(specials)
		seen := map[string]bool{}
		for len(ps) < 40 {
			var sb strings.Builder
			for n := 1 + rng.IntN(4); n > 0; n-- {
				sb.WriteString(alphabet[rng.IntN(len(alphabet)-1)]) // no "▁" inside pieces
			}
			s := sb.String()
			if rng.IntN(3) == 0 {
				s = "▁" + s
			}
			if !seen[s] {
				seen[s] = true
				ps = append(ps, testPiece{s, -1 - 10*rng.Float32(), Normal})
			}
		}
		ps = append(ps, testPiece{"▁", -1.5, Normal})
		tok := mustProto(t, testModel(ps, nil, identityNorm))
		for q := 0; q < 50; q++ {
			var sb strings.Builder
			for n := 1 + rng.IntN(8); n > 0; n-- {
				sb.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			text := strings.ReplaceAll(sb.String(), "▁", " ")
			norm := tok.Normalize(text)
			got, path := pathScore(tok, norm)
			want := bruteBest(tok, norm)
			if math.Abs(got-want) > 1e-4 {
				t.Fatalf("%q: Viterbi gives %q (score %v), best is %v", norm, path, got, want)
			}
		}
	}
}

// pathScore follows the Viterbi links back from the end of s and returns
// the path's score and pieces (one <unk> per unknown character).
func pathScore(tok *Tokenizer, s string) (float64, []string) {
	best := tok.viterbi(s)
	sum := 0.0
	var path []string
	for end := len(s); end > 0; end = int(best[end].start) {
		n := best[end]
		if n.id == tok.unk {
			sum += float64(tok.unkScore)
		} else {
			sum += float64(tok.scores[n.id])
		}
		path = append(path, s[n.start:end])
	}
	slices.Reverse(path)
	return sum, path
}

// bruteBest returns the best score over every segmentation of s into
// vocabulary pieces and single unknown characters.
func bruteBest(tok *Tokenizer, s string) float64 {
	if s == "" {
		return 0
	}
	best := math.Inf(-1)
	for i, p := range tok.pieces {
		if tok.types[i] == Normal && strings.HasPrefix(s, p) {
			best = max(best, float64(tok.scores[i])+bruteBest(tok, s[len(p):]))
		}
	}
	_, l := firstChar(s)
	known := false
	for i, p := range tok.pieces {
		if tok.types[i] == Normal && p == s[:l] {
			known = true
		}
	}
	if !known {
		best = max(best, float64(tok.unkScore)+bruteBest(tok, s[l:]))
	}
	return best
}

func firstChar(s string) (string, int) {
	_, n := utf8.DecodeRuneInString(s)
	return s[:n], n
}
