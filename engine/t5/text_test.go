package t5

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
)

type tokenizerCase struct {
	Text string  `json:"text"`
	IDs  []int32 `json:"ids"`
}

func tokenizerCases(t *testing.T) []tokenizerCase {
	t.Helper()
	b, err := os.ReadFile(golden.Path(t, "tokenizer_tiny_cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []tokenizerCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no tokenizer cases")
	}
	return cases
}

// withSpiece returns the tiny model in HF names plus the SentencePiece model
// as a U8 tensor called name, as ComfyUI stores it.
func withSpiece(t *testing.T, name string) *memSource {
	t.Helper()
	proto, err := os.ReadFile(golden.Path(t, "tokenizer_tiny.model"))
	if err != nil {
		t.Fatal(err)
	}
	s := tinyGGUF(t).renamed(hfName)
	s.ts = append(s.ts, memTensor{name: name, typ: gguf.TypeU8, shape: []int64{int64(len(proto))}, data: proto})
	return s
}

// TestLoadTokenizer: the tokenizer comes from GGUF metadata or from a
// spiece_model tensor and gives SentencePiece's exact ids either way.
func TestLoadTokenizer(t *testing.T) {
	cases := tokenizerCases(t)
	g, err := gguf.Open(golden.Path(t, "t5_tiny_f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	sources := map[string]gguf.Source{
		"gguf metadata":         g,
		"spiece_model":          writeSafetensors(t, withSpiece(t, "spiece_model"), "umt5.safetensors", nil),
		"prefixed spiece_model": withSpiece(t, "text_encoders.umt5xxl.spiece_model"),
	}
	for label, src := range sources {
		t.Run(label, func(t *testing.T) {
			tok, err := LoadTokenizer(src)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Vocab() != 1000 || tok.EOS() != 1 || tok.Pad() != 0 {
				t.Fatalf("vocab %d eos %d pad %d", tok.Vocab(), tok.EOS(), tok.Pad())
			}
			for _, c := range cases {
				if got := tok.Encode(c.Text); !slices.Equal(got, c.IDs) {
					t.Errorf("%q: ids %v, want %v", c.Text, got, c.IDs)
				}
			}
		})
	}
}

func TestLoadTokenizerErrors(t *testing.T) {
	if _, err := LoadTokenizer(nil); err == nil {
		t.Error("nil source accepted")
	}
	none := randomModel(tinyCfg, 8)
	if _, err := LoadTokenizer(none); err == nil || !strings.Contains(err.Error(), "embeds no tokenizer") {
		t.Errorf("no tokenizer: err = %v", err)
	}
	wrongType := none.clone().set("spiece_model", []int64{4}, []float32{1, 2, 3, 4})
	if _, err := LoadTokenizer(wrongType); err == nil || !strings.Contains(err.Error(), `"spiece_model"`) {
		t.Errorf("F32 spiece_model: err = %v", err)
	}
	junk := none.clone()
	junk.ts = append(junk.ts, memTensor{name: "spiece_model", typ: gguf.TypeU8, shape: []int64{5}, data: []byte{0xff, 0xff, 0xff, 0xff, 0xff}})
	if _, err := LoadTokenizer(junk); err == nil || !strings.Contains(err.Error(), `"spiece_model"`) {
		t.Errorf("corrupt spiece_model: err = %v", err)
	}
}

// TestEncodeText: the convenience path equals Clean → EncodePadded(512) →
// Encode, and its padding is invisible in the result.
func TestEncodeText(t *testing.T) {
	g, err := gguf.Open(golden.Path(t, "t5_tiny_f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	tok, err := LoadTokenizer(g)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := Load(cpu.New(), g)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Free()
	cases := tokenizerCases(t)
	prompt := "  A cat &amp; a dog\n\twalk on the grass,   cinematic lighting.  "
	ctx, n, err := EncodeText(context.Background(), tok, enc, prompt)
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode("A cat & a dog walk on the grass, cinematic lighting.")
	if n != len(ids) || len(ctx) != n*enc.Dim {
		t.Fatalf("n = %d, %d values; want %d tokens", n, len(ctx), len(ids))
	}
	mask := make([]int32, len(ids))
	for i := range mask {
		mask[i] = 1
	}
	want, _, err := enc.Encode(context.Background(), ids, mask) // unpadded
	if err != nil {
		t.Fatal(err)
	}
	if e := golden.RelL2(ctx, want); e > 1e-6 {
		t.Errorf("EncodeText differs from encoding the cleaned ids without padding: rel L2 %.3g", e)
	}
	// Every golden tokenizer text, the empty one included, encodes.
	for _, c := range cases {
		_, n, err := EncodeText(context.Background(), tok, enc, c.Text)
		if err != nil || n < 1 {
			t.Errorf("%q: n = %d, %v", c.Text, n, err)
		}
	}
	// A tokenizer larger than the embedding table is refused.
	small, err := Load(cpu.New(), randomModel(Config{Vocab: 500, Dim: 16, Inner: 16, Heads: 2, FFN: 24, Layers: 1}, 9))
	if err != nil {
		t.Fatal(err)
	}
	defer small.Free()
	if _, _, err := EncodeText(context.Background(), tok, small, "a cat"); err == nil || !strings.Contains(err.Error(), "1000 pieces") {
		t.Errorf("mismatched tokenizer: err = %v", err)
	}
}
