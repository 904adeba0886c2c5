package t5

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
)

// tolerance of the float32 CPU reference against the golden outputs.
const goldenTol = 1e-4

// encodeAll runs every golden case through enc and returns the valid rows.
func encodeAll(t *testing.T, enc *Encoder, cases []goldenCase) [][]float32 {
	t.Helper()
	var outs [][]float32
	for _, c := range cases {
		out, n, err := enc.Encode(context.Background(), c.ids, c.mask)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if want := countValid(c.mask); n != want {
			t.Fatalf("%s: n = %d, want %d", c.name, n, want)
		}
		if len(out) != n*enc.Dim {
			t.Fatalf("%s: %d values for %d rows of %d", c.name, len(out), n, enc.Dim)
		}
		outs = append(outs, out)
	}
	return outs
}

func countValid(mask []int32) int {
	n := 0
	for _, m := range mask {
		n += int(m)
	}
	return n
}

// checkGolden compares the valid rows of each case with the reference.
func checkGolden(t *testing.T, label string, enc *Encoder, cases []goldenCase, tol float64) {
	t.Helper()
	for i, out := range encodeAll(t, enc, cases) {
		c := cases[i]
		n := countValid(c.mask)
		e := golden.RelL2(out, c.out[:n*enc.Dim])
		t.Logf("%s %s (%d valid tokens): rel L2 %.3g", label, c.name, n, e)
		if !(e <= tol) {
			t.Errorf("%s %s: rel L2 %.3g > %.0g", label, c.name, e, tol)
		}
	}
}

func TestGoldenGGUF(t *testing.T) {
	src := tinyGGUF(t)
	cases := loadCases(t)
	enc, err := Load(cpu.New(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Free()
	want := Config{Vocab: 1000, Dim: 64, Inner: 64, Heads: 4, FFN: 160, Layers: 3}
	if enc.Config != want {
		t.Fatalf("config %+v, want %+v", enc.Config, want)
	}
	if enc.HeadDim() != 16 {
		t.Fatalf("head dim %d", enc.HeadDim())
	}
	checkGolden(t, "valid tokens only", enc, cases, goldenTol)
	enc.FullLength = true
	checkGolden(t, "full length, padded keys masked", enc, cases, goldenTol)
}

// TestGoldenFromFile loads straight from the mapped GGUF file rather than a
// copy in memory, as the pipeline does.
func TestGoldenFromFile(t *testing.T) {
	cases := loadCases(t)
	f, err := gguf.Open(golden.Path(t, "t5_tiny_f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := Load(cpu.New(), f)
	f.Close() // the backend copied the bytes
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Free()
	checkGolden(t, "gguf file", enc, cases, goldenTol)
}

// TestHFNames converts the tiny model to Hugging Face names in a safetensors
// file (as ComfyUI ships umT5) and to the official Wan names; every
// convention must give the llama.cpp-named result.
func TestHFNames(t *testing.T) {
	src := tinyGGUF(t)
	cases := loadCases(t)
	ref, err := Load(cpu.New(), src)
	if err != nil {
		t.Fatal(err)
	}
	want := encodeAll(t, ref, cases)
	ref.Free()

	wanNames := strings.NewReplacer(
		"token_embd.weight", "token_embedding.weight",
		"enc.output_norm.", "norm.",
		"enc.blk.", "blocks.",
		"attn_norm", "norm1", "ffn_norm", "norm2",
		"attn_q", "attn.q", "attn_k", "attn.k", "attn_v", "attn.v", "attn_o", "attn.o",
		"attn_rel_b", "pos_embedding.embedding",
		"ffn_gate", "ffn.gate.0", "ffn_up", "ffn.fc1", "ffn_down", "ffn.fc2",
	)
	for _, tc := range []struct {
		label string
		src   *memSource
	}{
		{"Hugging Face", src.renamed(hfName)},
		{"Hugging Face with a prefix", src.renamed(func(s string) string { return "text_encoders.umt5xxl.transformer." + hfName(s) })},
		{"Wan", src.renamed(wanNames.Replace)},
	} {
		t.Run(tc.label, func(t *testing.T) {
			if _, ok := tc.src.Lookup("enc.blk.0.attn_q.weight"); ok {
				t.Fatal("conversion left llama.cpp names")
			}
			f := writeSafetensors(t, tc.src, "umt5.safetensors", nil)
			enc, err := Load(cpu.New(), f)
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Free()
			if enc.Config != (Config{Vocab: 1000, Dim: 64, Inner: 64, Heads: 4, FFN: 160, Layers: 3}) {
				t.Fatalf("config %+v", enc.Config)
			}
			for i, got := range encodeAll(t, enc, cases) {
				if e := golden.RelL2(got, want[i]); e > 1e-6 {
					t.Errorf("%s: rel L2 %.3g against the llama.cpp-named model", cases[i].name, e)
				}
			}
			checkGolden(t, tc.label, enc, cases, goldenTol)
		})
	}
}

// fp8Nearest returns the F8_E4M3 (fn) code nearest to x (saturating at ±448).
func fp8Nearest(x float32) byte {
	best, bestErr := byte(0), math.Inf(1)
	for c := range 256 {
		if c&0x7f == 0x7f { // NaN
			continue
		}
		v := gguf.F8E4M3ToF32(byte(c))
		if e := math.Abs(float64(v) - float64(x)); e < bestErr {
			best, bestErr = byte(c), e
		}
	}
	return best
}

// scaledFP8 quantizes tensor name of s in place to F8_E4M3 with a per-tensor
// scale (max |w| / 448, ComfyUI's choice) stored as name.scale_weight, and
// records the effective weight fp8 × scale in deq under the same name.
func scaledFP8(t *testing.T, s, deq *memSource, name string) {
	t.Helper()
	mt := s.tensor(name)
	v := s.floats(t, name)
	var amax float32
	for _, x := range v {
		amax = max(amax, float32(math.Abs(float64(x))))
	}
	scale := amax / 448
	q := make([]byte, len(v))
	eff := make([]float32, len(v))
	for i, x := range v {
		q[i] = fp8Nearest(x / scale)
		eff[i] = gguf.F8E4M3ToF32(q[i]) * scale
	}
	for i := range s.ts {
		if s.ts[i].name == name {
			s.ts[i] = memTensor{name: name, typ: gguf.TypeF8E4M3, shape: mt.shape, data: q}
		}
	}
	s.set(strings.TrimSuffix(name, ".weight")+".scale_weight", []int64{}, []float32{scale})
	deq.set(name, mt.shape, eff)
}

// TestScaledFP8 builds a ComfyUI-style fp8_e4m3fn "scaled" copy of the tiny
// model (HF names, every projection and the embedding in F8_E4M3 with an F32
// scale_weight, a scaled_fp8 marker) and checks it against the same model
// with the dequantized weights fp8 × scale in F32.
func TestScaledFP8(t *testing.T) {
	src := tinyGGUF(t).renamed(hfName)
	cases := loadCases(t)
	fp8, deq := src.clone(), src.clone()
	n := 0
	for _, ti := range src.Tensors() {
		if len(ti.Shape) == 2 && !strings.Contains(ti.Name, "relative_attention_bias") {
			scaledFP8(t, fp8, deq, ti.Name)
			n++
		}
	}
	if n != 1+3*7 {
		t.Fatalf("quantized %d tensors, want 22", n)
	}
	fp8.ts = append(fp8.ts, memTensor{name: "scaled_fp8", typ: gguf.TypeF8E4M3, shape: []int64{0}, data: []byte{}})

	f := writeSafetensors(t, fp8, "umt5_xxl_fp8_e4m3fn_scaled.safetensors", nil)
	enc, err := Load(cpu.New(), f)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Free()
	if wt := engine.WeightType(enc.Blocks[1].FFNUp.W); wt != gguf.TypeF8E4M3 {
		t.Fatalf("ffn up weight kept as %s, want F8_E4M3 (no expansion at load)", wt)
	}
	if enc.Blocks[1].FFNUp.Scale == 1 || enc.TokenEmbd.Scale == 1 {
		t.Fatal("scale_weight not picked up")
	}
	ref, err := Load(cpu.New(), writeSafetensors(t, deq, "dequantized.safetensors", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Free()
	want := encodeAll(t, ref, cases)
	for i, got := range encodeAll(t, enc, cases) {
		// Only the order of the scale multiplication differs: float32 rounding.
		e := golden.RelL2(got, want[i])
		t.Logf("%s: scaled fp8 vs dequantized-weight model: rel L2 %.3g", cases[i].name, e)
		if e > 1e-5 {
			t.Errorf("%s: rel L2 %.3g against the dequantized-weight model", cases[i].name, e)
		}
		// Against the F32 golden, fp8's 3 mantissa bits cost 0.2–0.3 on this
		// random tiny model (unscaled attention logits amplify weight
		// error); a scale applied twice or not at all lands far beyond 0.5.
		nv := countValid(cases[i].mask)
		g := golden.RelL2(got, cases[i].out[:nv*enc.Dim])
		t.Logf("%s: scaled fp8 vs the F32 golden: rel L2 %.3g", cases[i].name, g)
		if g > 0.5 {
			t.Errorf("%s: rel L2 %.3g against the F32 golden: the scale is not applied right", cases[i].name, g)
		}
	}

	// Without the scales the result must be far off: the test would notice a
	// loader that ignored them.
	noScale := fp8.clone()
	noScale.ts = slices.DeleteFunc(noScale.ts, func(m memTensor) bool { return strings.HasSuffix(m.name, ".scale_weight") })
	bad, err := Load(cpu.New(), noScale)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Free()
	got := encodeAll(t, bad, cases[:1])
	e := golden.RelL2(got[0], want[0])
	t.Logf("fp8 weights with the scales dropped: rel L2 %.3g", e)
	if e < 0.5 {
		t.Errorf("unscaled fp8 model is within %.3g of the scaled one; the test cannot see the scales", e)
	}
}
