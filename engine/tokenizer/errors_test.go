package tokenizer

import (
	"encoding/binary"
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
)

func TestFromProtoErrors(t *testing.T) {
	base := append(slices.Clone(specials), testPiece{"▁", -1, Normal}, testPiece{"a", -2, Normal})
	withPiece := func(p testPiece) []testPiece { return append(slices.Clone(base), p) }
	cases := []struct {
		name  string
		model []byte
		want  string
	}{
		{"empty", nil, "empty model"},
		{"truncated varint", []byte{0x0a, 0x80}, "truncated varint"},
		{"length past end", []byte{0x0a, 0x05, 0x0a}, "runs past the end"},
		{"field zero", []byte{0x00, 0x01}, "invalid field number 0"},
		{"group wire type", []byte{0x0b}, "wire type 3"},
		{"pieces as varint", []byte{0x08, 0x01}, "field 1 has wire type 0"},
		{"no pieces", testModel(nil, pb(nil).varint(3, 1), nil), "no pieces"},
		{"bad piece type", append(testModel(base, nil, nil), pb(nil).bytes(1, pb(nil).bytes(1, []byte("b")).varint(3, 9))...), "unknown type 9"},
		{"empty piece", testModel(withPiece(testPiece{"", -1, Normal}), nil, nil), "piece 5 is empty"},
		{"duplicate piece", testModel(withPiece(testPiece{"a", -3, Normal}), nil, nil), `"a" is defined twice`},
		{"BPE", testModel(base, pb(nil).varint(3, 2), nil), "model type BPE"},
		{"model type 7", testModel(base, pb(nil).varint(3, 7), nil), "model type 7"},
		{"suffix whitespace", testModel(base, pb(nil).varint(24, 1), nil), "treat_whitespace_as_suffix"},
		{"no unk", testModel([]testPiece{{"<pad>", 0, Control}, {"</s>", 0, Control}, {"a", -1, Normal}}, nil, nil), "no piece of type UNKNOWN"},
		{"two unk", testModel(withPiece(testPiece{"<unk2>", 0, Unknown}), nil, nil), "both of type UNKNOWN"},
		{"no eos", testModel(base, pb(nil).bytes(47, []byte("<eos>")), nil), `no EOS piece "<eos>"`},
		{"no pad", testModel(base, pb(nil).bytes(48, []byte("<p>")), nil), `no padding piece "<p>"`},
		{"NaN score", testModel(withPiece(testPiece{"b", float32NaN(), Normal}), nil, nil), "has score NaN"},
		{"short charsmap", testModel(base, nil, pb(nil).bytes(2, []byte{1, 0, 0})), "too short"},
		{"charsmap trie too big", testModel(base, nil, pb(nil).bytes(2, []byte{8, 0, 0, 0, 0, 0})), "does not fit"},
		{"charsmap no entries", testModel(base, nil, pb(nil).bytes(2, []byte{4, 0, 0, 0, 0, 0, 0, 0, 0})), "no entries"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := FromProto(c.model)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func float32NaN() float32 {
	var z float32
	return z / z
}

// TestFormatErrorOffset checks that a protobuf error names the byte where
// the problem is, counted from the start of the model.
func TestFormatErrorOffset(t *testing.T) {
	good := testModel(specials, nil, nil)
	bad := append(slices.Clone(good), pb(nil).bytes(1, []byte{0x15, 0x00})...) // a piece whose score has 1 byte
	_, err := FromProto(bad)
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("got %v, want a *FormatError", err)
	}
	if fe.Offset != len(good)+3 || !strings.Contains(fe.Msg, "truncated fixed32") {
		t.Errorf("got offset %d (%q), want %d", fe.Offset, fe.Msg, len(good)+3)
	}
}

// TestCorruptCharsmap damages the golden model's charsmap so that a rule
// points outside the string pool; loading must fail, not panic later.
func TestCorruptCharsmap(t *testing.T) {
	b, err := os.ReadFile(golden.Path(t, "tokenizer_tiny.model"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseModelProto(b)
	if err != nil {
		t.Fatal(err)
	}
	cm := s.charsmap
	size := binary.LittleEndian.Uint32(cm)
	// Cut the pool short: some rules now point past its end.
	if _, err := parseCharsmap(cm[:4+size+100]); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("truncated pool: got %v", err)
	}
	// Drop the NUL terminators: the last string is unterminated.
	noNul := slices.Clone(cm)
	for i := 4 + int(size); i < len(noNul); i++ {
		if noNul[i] == 0 {
			noNul[i] = 'x'
		}
	}
	if _, err := parseCharsmap(noNul); err == nil || !strings.Contains(err.Error(), "NUL-terminated") {
		t.Errorf("no terminators: got %v", err)
	}
}

// TestUserDefinedPieces checks that user-defined pieces bypass
// normalization and win over any split, and that identity and fallback
// normalizers are chosen by the normalizer name.
func TestUserDefinedPieces(t *testing.T) {
	ps := append(slices.Clone(specials),
		testPiece{"▁", -1, Normal}, testPiece{"A", -1, Normal}, testPiece{"Ｂ", 0, UserDefined},
		testPiece{"B", -0.5, Normal}, testPiece{"<x>", 0, UserDefined}, testPiece{"<", -1, Normal},
		testPiece{"x", -1, Normal}, testPiece{">", -1, Normal},
	)
	// No charsmap and no name: the NFKC fallback applies (Ａ → A), except
	// to user-defined pieces (Ｂ stays).
	tok := mustProto(t, testModel(ps, nil, nil))
	got := pieces(tok, tok.Encode("ＡＢ<x>B"))
	want := []string{"▁", "A", "Ｂ", "<x>", "B", "</s>"}
	if !slices.Equal(got, want) {
		t.Errorf("fallback: got %q, want %q", got, want)
	}
	// "identity": no normalization at all, so Ａ is unknown.
	tok = mustProto(t, testModel(ps, nil, identityNorm))
	got = pieces(tok, tok.Encode("ＡＢ"))
	want = []string{"▁", "<unk>", "Ｂ", "</s>"}
	if !slices.Equal(got, want) {
		t.Errorf("identity: got %q, want %q", got, want)
	}
}

func TestWhitespaceOptions(t *testing.T) {
	ps := append(slices.Clone(specials), testPiece{"▁", -1, Normal}, testPiece{"a", -1, Normal}, testPiece{" ", -1, Normal})
	for _, c := range []struct {
		name      string
		norm      pb
		in, want  string
		wantFirst string
	}{
		{"defaults", identityNorm, "  a  a ", "▁a▁a", "▁"},
		{"no dummy prefix", identityNorm.varint(3, 0), "  a  a ", "a▁a", "a"},
		{"keep extra spaces", identityNorm.varint(4, 0), " a  a ", "▁▁a▁▁a▁", "▁"},
		{"no escaping", identityNorm.varint(5, 0), "  a  a ", " a a", " "},
	} {
		tok := mustProto(t, testModel(ps, nil, c.norm))
		if got := tok.Normalize(c.in); got != c.want {
			t.Errorf("%s: Normalize(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
		if got := tok.Piece(tok.Encode(c.in)[0]); got != c.wantFirst {
			t.Errorf("%s: first piece %q, want %q", c.name, got, c.wantFirst)
		}
	}
}

// mapMeta is GGUF metadata held in a map.
type mapMeta map[string]gguf.Value

func (m mapMeta) Value(key string) (gguf.Value, bool) {
	v, ok := m[key]
	return v, ok
}

// goldenMeta returns the tokenizer.* metadata of the golden GGUF file.
func goldenMeta(t *testing.T) mapMeta {
	t.Helper()
	m := mapMeta{}
	for _, kv := range loadGoldenGGUF(t).Metadata() {
		if strings.HasPrefix(kv.Key, "tokenizer.") {
			m[kv.Key] = kv.Value
		}
	}
	return m
}

func mustValue(t *testing.T, x any) gguf.Value {
	t.Helper()
	v, err := gguf.NewValue(x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestGGUFWithoutCharsmap drops the charsmap: the NFKC fallback must still
// give every golden case, since they use only Unicode 15 characters.
func TestGGUFWithoutCharsmap(t *testing.T) {
	m := goldenMeta(t)
	delete(m, keyCharsmap)
	tok, err := FromGGUF(m)
	if err != nil {
		t.Fatal(err)
	}
	if tok.norm.cmap != nil || !tok.norm.fallback {
		t.Fatal("expected the fallback normalizer")
	}
	checkGoldenCases(t, tok)
}

// TestGGUFDefaults drops the optional keys: ids come from piece names and
// types, whitespace flags default to true.
func TestGGUFDefaults(t *testing.T) {
	m := goldenMeta(t)
	for _, k := range []string{keyEOS, keyPad, keyUnk, keyAddSpace, keyRemoveExtraWS} {
		delete(m, k)
	}
	tok, err := FromGGUF(m)
	if err != nil {
		t.Fatal(err)
	}
	if tok.EOS() != 1 || tok.Pad() != 0 || tok.Unk() != 2 {
		t.Errorf("eos %d pad %d unk %d", tok.EOS(), tok.Pad(), tok.Unk())
	}
	checkGoldenCases(t, tok)
}

func TestFromGGUFErrors(t *testing.T) {
	good := goldenMeta(t)
	cases := []struct {
		name string
		edit func(m mapMeta)
		want string
	}{
		{"no model", func(m mapMeta) { delete(m, keyModel) }, "no tokenizer.ggml.model"},
		{"llama", func(m mapMeta) { m[keyModel] = mustValue(t, "llama") }, `is "llama"`},
		{"model not a string", func(m mapMeta) { m[keyModel] = mustValue(t, 5) }, keyModel},
		{"no tokens", func(m mapMeta) { delete(m, keyTokens) }, "no tokenizer.ggml.tokens"},
		{"no scores", func(m mapMeta) { delete(m, keyScores) }, "no tokenizer.ggml.scores"},
		{"no types", func(m mapMeta) { delete(m, keyTokenType) }, "no tokenizer.ggml.token_type"},
		{"scores as strings", func(m mapMeta) { m[keyScores] = m[keyTokens] }, keyScores},
		{"short scores", func(m mapMeta) { m[keyScores] = mustValue(t, []float32{0, 0}) }, "but 2 scores"},
		{"bad type", func(m mapMeta) {
			types, _ := m[keyTokenType].Int32s()
			types[7] = 42
			m[keyTokenType] = mustValue(t, types)
		}, "unknown type 42"},
		{"eos out of range", func(m mapMeta) { m[keyEOS] = mustValue(t, uint32(5000)) }, "EOS id 5000 out of range"},
		{"negative pad", func(m mapMeta) { m[keyPad] = mustValue(t, int32(-1)) }, keyPad},
		{"unk out of range", func(m mapMeta) { m[keyUnk] = mustValue(t, uint32(1000)) }, "unknown-token id 1000"},
		{"flag not bool", func(m mapMeta) { m[keyAddSpace] = mustValue(t, "yes") }, keyAddSpace},
		{"charsmap not bytes", func(m mapMeta) { m[keyCharsmap] = mustValue(t, []float32{1}) }, keyCharsmap},
		{"charsmap corrupt", func(m mapMeta) { m[keyCharsmap] = mustValue(t, []uint8{9, 9, 9, 9, 9}) }, "does not fit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := maps.Clone(good)
			c.edit(m)
			_, err := FromGGUF(m)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got error %v, want one containing %q", err, c.want)
			}
		})
	}
}
