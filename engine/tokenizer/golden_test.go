package tokenizer

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
)

type goldenCase struct {
	Text string  `json:"text"`
	IDs  []int32 `json:"ids"`
}

func loadGoldenCases(t testing.TB) []goldenCase {
	t.Helper()
	b, err := os.ReadFile(golden.Path(t, "tokenizer_tiny_cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases in tokenizer_tiny_cases.json")
	}
	return cases
}

func loadGoldenModel(t testing.TB) *Tokenizer {
	t.Helper()
	b, err := os.ReadFile(golden.Path(t, "tokenizer_tiny.model"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := FromProto(b)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func checkGoldenCases(t *testing.T, tok *Tokenizer) {
	for _, c := range loadGoldenCases(t) {
		got := tok.Encode(c.Text)
		if !slices.Equal(got, c.IDs) {
			t.Errorf("Encode(%q):\n got %v\nwant %v\nnormalized %q", c.Text, got, c.IDs, tok.Normalize(c.Text))
		}
	}
}

func TestGoldenProto(t *testing.T) {
	checkGoldenCases(t, loadGoldenModel(t))
}

func loadGoldenGGUF(t testing.TB) *gguf.File {
	t.Helper()
	f, err := gguf.Open(golden.Path(t, "t5_tiny_f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestGoldenGGUF(t *testing.T) {
	tok, err := FromGGUF(loadGoldenGGUF(t))
	if err != nil {
		t.Fatal(err)
	}
	if tok.norm.cmap == nil {
		t.Fatal("charsmap not loaded from the GGUF metadata")
	}
	checkGoldenCases(t, tok)
}

// negativePrompt is the default negative prompt of the Wan config (spec §1.1).
const negativePrompt = "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"

func TestNegativePrompt(t *testing.T) {
	if n, b := len([]rune(negativePrompt)), len(negativePrompt); n != 137 || b != 403 {
		t.Fatalf("negative prompt has %d characters and %d bytes, spec says 137 and 403", n, b)
	}
	tok := loadGoldenModel(t)
	ids := tok.Encode(Clean(negativePrompt))
	if len(ids) < 2 || len(ids) > MaxLen || ids[len(ids)-1] != tok.EOS() {
		t.Fatalf("bad encoding of %d ids: %v", len(ids), ids)
	}
	if slices.Contains(ids, tok.Unk()) {
		t.Errorf("unknown piece in %v", ids)
	}
	// The full-width commas are normalized to ',' by the charsmap.
	if got := strings.Count(tok.Normalize(negativePrompt), ","); got != 27 {
		t.Errorf("normalized prompt has %d ',', want 27", got)
	}
	for _, c := range loadGoldenCases(t) {
		if c.Text == negativePrompt && !slices.Equal(ids, c.IDs) {
			t.Errorf("got %v, golden %v", ids, c.IDs)
		}
	}
}

func TestTruncation(t *testing.T) {
	tok := loadGoldenModel(t)
	// The golden model writes "x" runs as ▁ x x x ...: one id per x.
	for _, n := range []int{509, 510, 511, 512, 1000} {
		ids := tok.Encode(strings.Repeat("x", n))
		want := min(n+2, MaxLen)
		if len(ids) != want || ids[len(ids)-1] != tok.EOS() {
			t.Errorf("%d x: %d ids ending in %d, want %d ending in EOS", n, len(ids), ids[len(ids)-1], want)
		}
	}
	ids, mask := tok.EncodePadded("A cat.", 16)
	want := tok.Encode("A cat.")
	if len(ids) != 16 || len(mask) != 16 {
		t.Fatalf("lengths %d, %d", len(ids), len(mask))
	}
	for i := range ids {
		if i < len(want) {
			if ids[i] != want[i] || mask[i] != 1 {
				t.Errorf("position %d: id %d mask %d, want %d, 1", i, ids[i], mask[i], want[i])
			}
		} else if ids[i] != tok.Pad() || mask[i] != 0 {
			t.Errorf("position %d: id %d mask %d, want pad %d, 0", i, ids[i], mask[i], tok.Pad())
		}
	}
	// Padding to fewer ids than the text needs truncates and keeps EOS.
	ids, mask = tok.EncodePadded(strings.Repeat("x", 100), 8)
	if len(ids) != 8 || ids[7] != tok.EOS() || slices.Contains(mask, 0) {
		t.Errorf("EncodePadded(100 x, 8) = %v, %v", ids, mask)
	}
	ids, _ = tok.EncodePadded("anything", 1)
	if !slices.Equal(ids, []int32{tok.EOS()}) {
		t.Errorf("EncodePadded(_, 1) = %v", ids)
	}
}

func TestAccessors(t *testing.T) {
	tok := loadGoldenModel(t)
	if tok.Vocab() != 1000 || tok.EOS() != 1 || tok.Pad() != 0 || tok.Unk() != 2 {
		t.Errorf("vocab %d eos %d pad %d unk %d, want 1000 1 0 2", tok.Vocab(), tok.EOS(), tok.Pad(), tok.Unk())
	}
	if tok.Piece(1) != "</s>" || tok.Piece(3) != "▁" || tok.Piece(-1) != "" || tok.Piece(1000) != "" {
		t.Errorf("Piece: %q %q %q %q", tok.Piece(1), tok.Piece(3), tok.Piece(-1), tok.Piece(1000))
	}
	// Charsmap behaviour ECOSYSTEM.md §1 lists: longest match for ｶﾞ, combining
	// marks composed, tab and ZWSP to space, full-width comma to ','.
	for in, want := range map[string]string{
		"ｶﾞ":       "▁ガ",
		"a\u0301":  "▁á",
		"a\tb":     "▁a▁b",
		"a\u200bb": "▁a▁b",
		"，":        "▁,",
		"\xff":     "▁\uFFFD",
		"  a  ":    "▁a",
	} {
		if got := tok.Normalize(in); got != want {
			t.Errorf("Normalize(%+q) = %+q, want %+q", in, got, want)
		}
	}
}
