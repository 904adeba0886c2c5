package dit

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/lora"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/safetensors"
)

// The equivalence tests compare a model with LoRAs attached against the
// same model file with every change merged into its tensors by hand: for an
// adapter W + scale·B·A in float64 rounded to float32, for a delta the sum.
// Merged tensors are written as F32; the rest keep their bytes, so a Q8_0
// matrix without a LoRA stays Q8_0. On the CPU backend a quantized weight is
// dequantized to the same float32 values the merge started from, so the
// two models differ only by the order of float32 rounding: the run-time
// path computes W·x + B'·(A·x), the merged one (W + B'·A)·x. That is what
// the 1e-5 bound measures, for F32 and Q8_0 bases alike.

// loraTol is the largest relative difference (max |Δ| / max |ref|) allowed
// between the run-time LoRA and the merged model.
const loraTol = 1e-5

// testAdapter is one adapter of a test LoRA, in the DiT's naming.
type testAdapter struct {
	module   string
	rank     int
	in, out  int
	conv     bool // patch_embedding: down is stored [rank, in, 1, 2, 2]
	down, up []float32
}

// testDiff is one delta of a test LoRA.
type testDiff struct {
	param string  // the DiT tensor
	key   string  // the key in the file, without prefix
	shape []int64 // in the file
	v     []float32
}

// testLoRA is a LoRA file's contents before it is written in some style.
type testLoRA struct {
	adapters []testAdapter
	diffs    []testDiff
	alpha    float32 // 0: no alpha tensors
}

// moduleDims gives a module's [out, in] in cfg.
func moduleDims(cfg Config, module string) (out, in int) {
	d := cfg.Dim
	switch {
	case strings.HasSuffix(module, "ffn.0"):
		return cfg.FFNDim, d
	case strings.HasSuffix(module, "ffn.2"):
		return d, cfg.FFNDim
	case module == "text_embedding.0":
		return d, cfg.TextDim
	case module == "time_embedding.0":
		return d, cfg.FreqDim
	case module == "time_projection.1":
		return 6 * d, d
	case module == "head.head":
		return 4 * cfg.OutDim, d
	case module == "patch_embedding":
		return d, 4 * cfg.InDim
	}
	return d, d
}

// newTestLoRA draws adapters of rank r on modules, sized so that B·A is
// about as large as the weight it adapts.
func newTestLoRA(cfg Config, rank int, alpha float32, seed uint64, modules ...string) testLoRA {
	l := testLoRA{alpha: alpha}
	for i, mod := range modules {
		out, in := moduleDims(cfg, mod)
		a := testAdapter{module: mod, rank: rank, in: in, out: out, conv: mod == "patch_embedding"}
		a.down = scaled(randValues(rank*in, seed*100+uint64(i)), 1/math.Sqrt(float64(in)))
		a.up = scaled(randValues(out*rank, seed*100+50+uint64(i)), 0.7/math.Sqrt(float64(rank)))
		l.adapters = append(l.adapters, a)
	}
	return l
}

func scaled(v []float32, s float64) []float32 {
	for i := range v {
		v[i] = float32(float64(v[i]) * s)
	}
	return v
}

// diffusersNames spells DiT modules the way diffusers does (written out
// here independently of the package's table).
var diffusersNames = map[string]string{
	"self_attn.q": "attn1.to_q", "self_attn.k": "attn1.to_k", "self_attn.v": "attn1.to_v", "self_attn.o": "attn1.to_out.0",
	"cross_attn.q": "attn2.to_q", "cross_attn.k": "attn2.to_k", "cross_attn.v": "attn2.to_v", "cross_attn.o": "attn2.to_out.0",
	"ffn.0": "ffn.net.0.proj", "ffn.2": "ffn.net.2",
	"text_embedding.0": "condition_embedder.text_embedder.linear_1", "text_embedding.2": "condition_embedder.text_embedder.linear_2",
	"time_embedding.0": "condition_embedder.time_embedder.linear_1", "time_embedding.2": "condition_embedder.time_embedder.linear_2",
	"time_projection.1": "condition_embedder.time_proj", "head.head": "proj_out", "patch_embedding": "patch_embedding",
}

func diffusersName(module string) string {
	if rest, ok := strings.CutPrefix(module, "blocks."); ok {
		n, local, _ := strings.Cut(rest, ".")
		return "blocks." + n + "." + diffusersNames[local]
	}
	return diffusersNames[module]
}

// keyStyle spells an adapter's keys: down, up and alpha.
type keyStyle struct {
	name  string
	keys  func(module string) (down, up, alpha string)
	alpha bool // the style stores alpha
}

var keyStyles = []keyStyle{
	{"comfy", func(m string) (string, string, string) {
		p := "diffusion_model." + m
		return p + ".lora_down.weight", p + ".lora_up.weight", p + ".alpha"
	}, true},
	{"kohya-underscore", func(m string) (string, string, string) {
		p := "lora_unet_" + strings.ReplaceAll(m, ".", "_")
		return p + ".lora_down.weight", p + ".lora_up.weight", p + ".alpha"
	}, true},
	{"peft-diffusers", func(m string) (string, string, string) {
		p := "transformer." + diffusersName(m)
		return p + ".lora_A.weight", p + ".lora_B.weight", ""
	}, false},
	{"peft-base-model", func(m string) (string, string, string) {
		p := "base_model.model.diffusion_model." + m
		return p + ".lora_A.weight", p + ".lora_B.weight", p + ".alpha"
	}, true},
	{"diffusers-underscore", func(m string) (string, string, string) {
		p := "lora_unet_" + strings.ReplaceAll(diffusersName(m), ".", "_")
		return p + ".lora_down.weight", p + ".lora_up.weight", p + ".alpha"
	}, true},
}

// write stores l in style s at path.
func (l testLoRA) write(t *testing.T, path string, s keyStyle) {
	t.Helper()
	if !s.alpha {
		l.alpha = 0
	}
	var ts []safetensors.Tensor
	for _, a := range l.adapters {
		dk, uk, ak := s.keys(a.module)
		dshape := []int64{int64(a.rank), int64(a.in)}
		if a.conv {
			dshape = []int64{int64(a.rank), int64(a.in / 4), 1, 2, 2}
		}
		ts = append(ts, safetensors.FromFloat32(dk, dshape, a.down), safetensors.FromFloat32(uk, []int64{int64(a.out), int64(a.rank)}, a.up))
		if l.alpha != 0 {
			ts = append(ts, safetensors.FromFloat32(ak, []int64{}, []float32{l.alpha}))
		}
	}
	for _, d := range l.diffs {
		ts = append(ts, safetensors.FromFloat32("diffusion_model."+d.key, d.shape, d.v))
	}
	if err := safetensors.Write(path, ts, nil); err != nil {
		t.Fatal(err)
	}
}

// deltas adds l at strength to the per-tensor deltas acc, in float64.
func (l testLoRA) deltas(acc map[string][]float64, strength float64, withAlpha bool) {
	for _, a := range l.adapters {
		s := strength
		if withAlpha && l.alpha != 0 {
			s = strength * float64(l.alpha) / float64(a.rank)
		}
		name := a.module + ".weight"
		d := acc[name]
		if d == nil {
			d = make([]float64, a.out*a.in)
			acc[name] = d
		}
		for o := range a.out {
			for i := range a.in {
				var sum float64
				for r := range a.rank {
					sum += float64(a.up[o*a.rank+r]) * float64(a.down[r*a.in+i])
				}
				d[o*a.in+i] += s * sum
			}
		}
	}
	for _, df := range l.diffs {
		d := acc[df.param]
		if d == nil {
			d = make([]float64, len(df.v))
			acc[df.param] = d
		}
		for i, v := range df.v {
			d[i] += float64(v)
		}
	}
}

// writeMerged writes the model at base with deltas added (merged tensors as F32).
func writeMerged(t *testing.T, base, out string, deltas map[string][]float64) {
	t.Helper()
	writeMergedAs(t, base, out, deltas, false)
}

// writeMergedAs is writeMerged; with keepType the merged tensors are stored
// in their type in base (rounded once from the float32 sum) instead of F32.
func writeMergedAs(t *testing.T, base, out string, deltas map[string][]float64, keepType bool) {
	t.Helper()
	src := openGGUF(t, base)
	w := gguf.NewWriter()
	for _, ti := range src.Tensors() {
		d, ok := deltas[ti.Name]
		if !ok {
			data, err := src.Data(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.AddTensor(ti.Name, ti.Type, ti.Shape, data); err != nil {
				t.Fatal(err)
			}
			continue
		}
		v, _, err := gguf.ReadFloat32(src, ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != len(d) {
			t.Fatalf("delta of %s has %d values, the tensor %d", ti.Name, len(d), len(v))
		}
		for i := range v {
			v[i] = float32(float64(v[i]) + d[i])
		}
		typ := gguf.TypeF32
		if keepType {
			typ = ti.Type
		}
		data, err := gguf.Quantize(typ, v)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensor(ti.Name, typ, ti.Shape, data); err != nil {
			t.Fatal(err)
		}
	}
	for name := range deltas {
		if _, ok := src.Lookup(name); !ok {
			t.Fatalf("delta for %s, which the model file lacks", name)
		}
	}
	if err := w.WriteFile(out); err != nil {
		t.Fatal(err)
	}
}

// loadModel loads a model file on the CPU backend.
func loadModel(t *testing.T, path string) *Model {
	t.Helper()
	m, err := Load(cpu.New(), openGGUF(t, path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.DetachLoRAs(); m.Free() })
	return m
}

// forwardOf embeds a fixed prompt and runs Forward on fixed inputs over a 2×4×6 grid.
func forwardOf(t *testing.T, m *Model) []float32 {
	t.Helper()
	c, g := m.Config, Grid{T: 2, H: 4, W: 6}
	text, err := m.EmbedText(randValues(9*c.TextDim, 1), 9)
	if err != nil {
		t.Fatal(err)
	}
	defer text.Free()
	out, err := m.Forward(randValues(c.OutDim*g.Size(), 2), randValues((c.InDim-c.OutDim)*g.Size(), 3), g, 937, text, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// relDiff is max |a − ref| / max |ref|.
func relDiff(a, ref []float32) float64 {
	var num, den float64
	for i := range ref {
		num = max(num, math.Abs(float64(a[i])-float64(ref[i])))
		den = max(den, math.Abs(float64(ref[i])))
	}
	return num / den
}

// modelFile writes a synthetic small model of weight type wt.
func modelFile(t *testing.T, wt gguf.Type) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.gguf")
	if err := WriteSynthetic(path, smallConfig, wt, 11); err != nil {
		t.Fatal(err)
	}
	return path
}

func openLoRA(t *testing.T, path string) *lora.File {
	t.Helper()
	f, err := lora.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// attached is one LoRA of an equivalence case.
type attached struct {
	l        testLoRA
	style    keyStyle
	strength float32
}

// checkEquivalent attaches the LoRAs to the model at base and compares its
// forward with the merged model's. It returns the LoRA'd model.
func checkEquivalent(t *testing.T, base string, loras []attached) *Model {
	t.Helper()
	dir := t.TempDir()
	m := loadModel(t, base)
	plain := forwardOf(t, m)
	acc := map[string][]float64{}
	for i, a := range loras {
		path := filepath.Join(dir, "lora"+string(rune('a'+i))+".safetensors")
		a.l.write(t, path, a.style)
		f := openLoRA(t, path)
		if err := m.AttachLoRA(f, a.strength); err != nil {
			t.Fatal(err)
		}
		a.l.deltas(acc, float64(a.strength), a.style.alpha)
	}
	got := forwardOf(t, m)

	merged := filepath.Join(dir, "merged.gguf")
	writeMerged(t, base, merged, acc)
	want := forwardOf(t, loadModel(t, merged))
	d := relDiff(got, want)
	if d > loraTol || math.IsNaN(d) {
		t.Errorf("run-time LoRA vs merged weights: relative difference %.3g, want ≤ %g", d, loraTol)
	}
	t.Logf("run-time LoRA vs merged: %.3g relative; LoRA vs none: %.3g", d, relDiff(plain, want))
	if d := relDiff(plain, want); d < 1e-2 {
		t.Errorf("the LoRA changes the output by only %.3g relative: the test cannot tell it from no LoRA", d)
	}
	return m
}

// allLinears lists every linear of block 1 and some outside the blocks.
var allLinears = []string{
	"blocks.1.self_attn.q", "blocks.1.self_attn.k", "blocks.1.self_attn.v", "blocks.1.self_attn.o",
	"blocks.1.cross_attn.q", "blocks.1.cross_attn.k", "blocks.1.cross_attn.v", "blocks.1.cross_attn.o",
	"blocks.1.ffn.0", "blocks.1.ffn.2", "blocks.0.self_attn.q", "blocks.0.ffn.2",
	"text_embedding.0", "text_embedding.2", "time_embedding.0", "time_embedding.2", "time_projection.1",
	"head.head", "patch_embedding",
}

func TestLoRAEquivalenceKeyStyles(t *testing.T) {
	base := modelFile(t, gguf.TypeF32)
	for i, s := range keyStyles {
		t.Run(s.name, func(t *testing.T) {
			l := newTestLoRA(smallConfig, 4+i, 8, uint64(10+i), allLinears...)
			checkEquivalent(t, base, []attached{{l, s, 0.75}})
		})
	}
}

// withDiffs adds deltas of every kind the DiT has to l.
func withDiffs(l testLoRA, cfg Config, matrices bool) testLoRA {
	d := cfg.Dim
	add := func(param, key string, shape ...int64) {
		n := 1
		for _, s := range shape {
			n *= int(s)
		}
		l.diffs = append(l.diffs, testDiff{param: param, key: key, shape: shape, v: scaled(randValues(n, uint64(len(l.diffs)+77)), 0.1)})
	}
	add("blocks.0.norm3.weight", "blocks.0.norm3.diff", int64(d))
	add("blocks.0.norm3.bias", "blocks.0.norm3.diff_b", int64(d))
	add("blocks.1.self_attn.q.bias", "blocks.1.self_attn.q.diff_b", int64(d))
	add("blocks.1.ffn.0.bias", "blocks.1.ffn.0.bias.diff", int64(cfg.FFNDim))
	add("blocks.0.self_attn.norm_q.weight", "blocks.0.self_attn.norm_q.diff", int64(d))
	add("blocks.1.cross_attn.norm_k.weight", "blocks.1.cross_attn.norm_k.diff", int64(d))
	add("blocks.0.modulation", "blocks.0.modulation.diff", 1, 6, int64(d))
	add("head.modulation", "head.modulation.diff", 1, 2, int64(d))
	add("time_projection.1.bias", "time_projection.1.diff_b", int64(6*d))
	if matrices {
		add("blocks.1.cross_attn.v.weight", "blocks.1.cross_attn.v.diff", int64(d), int64(d))
		add("patch_embedding.weight", "patch_embedding.diff", int64(d), int64(cfg.InDim), 1, 2, 2)
	}
	return l
}

func TestLoRAEquivalenceDiffs(t *testing.T) {
	base := modelFile(t, gguf.TypeF32)
	l := withDiffs(newTestLoRA(smallConfig, 3, 0, 5, "blocks.0.self_attn.k", "blocks.1.ffn.2"), smallConfig, true)
	checkEquivalent(t, base, []attached{{l, keyStyles[0], 1}})
}

func TestLoRAEquivalenceStacked(t *testing.T) {
	base := modelFile(t, gguf.TypeF32)
	a := newTestLoRA(smallConfig, 4, 2, 21, "blocks.0.self_attn.q", "blocks.1.self_attn.k", "blocks.1.ffn.0", "head.head")
	b := withDiffs(newTestLoRA(smallConfig, 3, 0, 22, "blocks.0.self_attn.q", "blocks.1.self_attn.v", "blocks.1.ffn.0", "blocks.0.ffn.2"), smallConfig, true)
	c := withDiffs(newTestLoRA(smallConfig, 2, 1, 23, "blocks.1.ffn.0"), smallConfig, false)
	m := checkEquivalent(t, base, []attached{{a, keyStyles[0], 0.8}, {b, keyStyles[2], -0.5}, {c, keyStyles[1], 1.5}})
	if got := m.AttachedLoRAs(); len(got) != 3 || !strings.HasSuffix(got[1], "@-0.5") {
		t.Errorf("AttachedLoRAs() = %q, want three entries, the second at -0.5", got)
	}
	// The three LoRAs on ffn.0 were concatenated into one rank.
	if p := m.blocks[1].ffn0.lora; p == nil || p.rank != 4+3+2 {
		t.Errorf("blocks.1.ffn.0 has LoRA %+v, want one pair of rank 9", p)
	}
}

func TestLoRAEquivalenceQ8_0(t *testing.T) {
	base := modelFile(t, gguf.TypeQ8_0)
	l := withDiffs(newTestLoRA(smallConfig, 5, 10, 31, allLinears...), smallConfig, false)
	m := checkEquivalent(t, base, []attached{{l, keyStyles[0], 1}})
	if wt := engine.WeightType(m.blocks[1].ffn0.weight); wt != gguf.TypeQ8_0 {
		t.Errorf("blocks.1.ffn.0.weight is %v with the LoRA attached, want the Q8_0 base untouched", wt)
	}
}

func TestLoRAHalfPrecisionFile(t *testing.T) {
	// A BF16 LoRA is stored BF16 on the backend; only the scale folded into
	// B rounds (a power of two here: exact).
	base := modelFile(t, gguf.TypeF32)
	dir := t.TempDir()
	l := newTestLoRA(smallConfig, 4, 2, 41, "blocks.0.self_attn.q", "blocks.1.ffn.0")
	var ts []safetensors.Tensor
	toBF16 := func(v []float32) []byte {
		b, err := gguf.Quantize(gguf.TypeBF16, v)
		if err != nil {
			t.Fatal(err)
		}
		if err := gguf.Dequantize(gguf.TypeBF16, b, v); err != nil { // v now holds the stored values
			t.Fatal(err)
		}
		return b
	}
	for _, a := range l.adapters {
		p := "diffusion_model." + a.module
		ts = append(ts,
			safetensors.Tensor{Name: p + ".lora_down.weight", Type: gguf.TypeBF16, Shape: []int64{int64(a.rank), int64(a.in)}, Data: toBF16(a.down)},
			safetensors.Tensor{Name: p + ".lora_up.weight", Type: gguf.TypeBF16, Shape: []int64{int64(a.out), int64(a.rank)}, Data: toBF16(a.up)},
			safetensors.FromFloat32(p+".alpha", nil, []float32{2}))
	}
	path := filepath.Join(dir, "bf16.safetensors")
	if err := safetensors.Write(path, ts, nil); err != nil {
		t.Fatal(err)
	}
	m := loadModel(t, base)
	if err := m.AttachLoRA(openLoRA(t, path), 2); err != nil {
		t.Fatal(err)
	}
	if p := m.blocks[0].selfAttn.q.lora; p == nil || p.typ != gguf.TypeBF16 {
		t.Fatalf("blocks.0.self_attn.q LoRA %+v, want BF16 storage", p)
	}
	got := forwardOf(t, m)
	acc := map[string][]float64{}
	l.deltas(acc, 2, true)
	merged := filepath.Join(dir, "merged.gguf")
	writeMerged(t, base, merged, acc)
	if d := relDiff(got, forwardOf(t, loadModel(t, merged))); d > loraTol {
		t.Errorf("BF16 LoRA vs merged: relative difference %.3g, want ≤ %g", d, loraTol)
	}
}

func TestDetachLoRAsRestores(t *testing.T) {
	base := modelFile(t, gguf.TypeF32)
	m := loadModel(t, base)
	want := forwardOf(t, m)
	l := withDiffs(newTestLoRA(smallConfig, 4, 4, 51, allLinears...), smallConfig, true)
	path := filepath.Join(t.TempDir(), "l.safetensors")
	l.write(t, path, keyStyles[0])
	f := openLoRA(t, path)
	for range 2 {
		if err := m.AttachLoRA(f, 1); err != nil {
			t.Fatal(err)
		}
	}
	if relDiff(forwardOf(t, m), want) < 1e-2 {
		t.Fatal("attaching the LoRA did not change the output")
	}
	m.DetachLoRAs()
	got := forwardOf(t, m)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("after DetachLoRAs output[%d] = %v, want the base model's %v exactly", i, got[i], want[i])
		}
	}
	if m.AttachedLoRAs() != nil {
		t.Errorf("AttachedLoRAs() = %q after DetachLoRAs", m.AttachedLoRAs())
	}
	m.DetachLoRAs() // a second call is harmless
}

// attachFaulty is faulty whose Weight and ToHost, the ops AttachLoRA runs,
// can fail too.
type attachFaulty struct{ *faulty }

func (f attachFaulty) Weight(info gguf.TensorInfo, data []byte) engine.Tensor {
	f.op("Weight")
	return f.faulty.Weight(info, data)
}

func (f attachFaulty) ToHost(x engine.Tensor) []float32 {
	f.op("ToHost")
	return f.faulty.ToHost(x)
}

// TestLoRAFailureLeaks makes every op of AttachLoRA fail in turn, then
// every op of a forward through the LoRA paths: a failed attach leaves the
// model as it was, and nothing either made stays alive.
func TestLoRAFailureLeaks(t *testing.T) {
	for _, o := range []LoRAOptions{{}, {Merge: true}} {
		t.Run(fmt.Sprintf("merge=%v", o.Merge), func(t *testing.T) { checkLoRAFailureLeaks(t, o) })
	}
}

// checkLoRAFailureLeaks is TestLoRAFailureLeaks with the attach options o.
func checkLoRAFailureLeaks(t *testing.T, o LoRAOptions) {
	base := modelFile(t, gguf.TypeF32)
	l := withDiffs(newTestLoRA(smallConfig, 2, 1, 61, "blocks.0.self_attn.q", "blocks.1.ffn.0", "blocks.1.ffn.2", "blocks.1.cross_attn.v"), smallConfig, true)
	path := filepath.Join(t.TempDir(), "l.safetensors")
	l.write(t, path, keyStyles[0])
	f := openLoRA(t, path)
	fb := attachFaulty{newFaulty()}
	m, err := Load(fb, openGGUF(t, base))
	if err != nil {
		t.Fatal(err)
	}
	weights := func() int {
		n := 0
		for _, op := range fb.live {
			if strings.HasPrefix(op, "Weight") {
				n++
			}
		}
		return n
	}
	loaded := weights()
	// The first attach succeeds, so the failing second one also meets
	// stacked adapters and replaced tensors.
	if err := attachOpts(m, f, 1, o); err != nil {
		t.Fatal(err)
	}
	before := weights()
	failures := 0
	for n := 1; ; n++ {
		fb.failAt, fb.ops = n, 0
		err := attachOpts(m, f, 1, o)
		fb.failAt = 0
		if err == nil {
			break
		}
		failures++
		if !errors.Is(err, errInjected) {
			t.Fatalf("op %d: %v, want the injected failure", n, err)
		}
		if got := weights(); got != before {
			t.Fatalf("op %d failed: %d weights alive, want %d as before the attach", n, got, before)
		}
		if got := len(m.AttachedLoRAs()); got != 1 {
			t.Fatalf("op %d failed: %d LoRAs attached, want 1", n, got)
		}
	}
	if failures < 10 {
		t.Fatalf("only %d ops of AttachLoRA could fail: the test does not reach them", failures)
	}

	c, g := m.Config, Grid{T: 2, H: 2, W: 4}
	x, y := randValues(c.OutDim*g.Size(), 1), randValues((c.InDim-c.OutDim)*g.Size(), 2)
	text, err := m.EmbedText(randValues(5*c.TextDim, 3), 5)
	if err != nil {
		t.Fatal(err)
	}
	live := len(fb.live)
	fb.ops = 0
	if _, err := m.Forward(x, y, g, 500, text, nil); err != nil {
		t.Fatal(err)
	}
	ops := fb.ops
	for n := 1; n <= ops; n++ {
		fb.ops, fb.failAt = 0, n
		_, err := m.Forward(x, y, g, 500, text, nil)
		fb.failAt = 0
		if !errors.Is(err, errInjected) || len(fb.live) != live {
			t.Fatalf("Forward op %d failing: err %v, leaked %v", n, err, fb.leaked())
		}
	}
	text.Free()
	m.DetachLoRAs()
	if got := weights(); got != loaded {
		t.Errorf("after DetachLoRAs %d weights alive, want the %d loaded", got, loaded)
	}
	m.Free()
	if len(fb.live) != 0 || len(fb.doubles) != 0 {
		t.Errorf("after Free: %d tensors live, double frees of %v", len(fb.live), fb.doubles)
	}
}

// badLoRA writes tensors as a LoRA file and returns the error of opening
// and attaching it to m.
func badLoRA(t *testing.T, m *Model, strength float32, ts ...safetensors.Tensor) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := safetensors.Write(path, ts, nil); err != nil {
		t.Fatal(err)
	}
	f, err := lora.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return m.AttachLoRA(f, strength)
}

func zeros(name string, shape ...int64) safetensors.Tensor {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return safetensors.FromFloat32(name, shape, make([]float32, n))
}

func TestBadLoRAs(t *testing.T) {
	m := loadModel(t, modelFile(t, gguf.TypeQ8_0))
	d := int64(smallConfig.Dim)
	cases := []struct {
		name     string
		strength float32
		ts       []safetensors.Tensor
		want     []string
		wrong    bool // errors.Is(err, lora.ErrWrongModel)
	}{
		{"wrong ffn shape", 1, []safetensors.Tensor{
			zeros("diffusion_model.blocks.0.ffn.0.lora_down.weight", 4, d), zeros("diffusion_model.blocks.0.ffn.0.lora_up.weight", 600, 4)},
			[]string{"diffusion_model.blocks.0.ffn.0.lora_up.weight", "ffn_dim is 600", "512"}, true},
		{"wrong delta shape", 1, []safetensors.Tensor{zeros("diffusion_model.blocks.1.norm3.diff", d+1)},
			[]string{"diffusion_model.blocks.1.norm3.diff", "257"}, true},
		{"unknown key", 1, []safetensors.Tensor{
			zeros("diffusion_model.blocks.0.self_attn.qq.lora_down.weight", 4, d), zeros("diffusion_model.blocks.0.self_attn.qq.lora_up.weight", d, 4)},
			[]string{"unknown keys", "diffusion_model.blocks.0.self_attn.qq.lora_down.weight"}, false},
		{"Wan 2.1 1.3B", 1, []safetensors.Tensor{
			zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 2, 1536), zeros("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 1536, 2),
			zeros("diffusion_model.blocks.29.ffn.0.lora_down.weight", 2, 1536), zeros("diffusion_model.blocks.29.ffn.0.lora_up.weight", 8960, 2)},
			[]string{"Wan 2.1 T2V-1.3B", "dim", "1536", "256"}, true},
		{"Wan 2.2 5B", 1, []safetensors.Tensor{
			zeros("diffusion_model.blocks.0.ffn.2.lora_down.weight", 2, 14336), zeros("diffusion_model.blocks.0.ffn.2.lora_up.weight", 3072, 2)},
			[]string{"Wan 2.2 TI2V-5B", "3072"}, true},
		{"Wan 2.1 I2V image branch", 1, []safetensors.Tensor{
			zeros("diffusion_model.blocks.0.cross_attn.k_img.lora_down.weight", 2, d), zeros("diffusion_model.blocks.0.cross_attn.k_img.lora_up.weight", d, 2)},
			[]string{"Wan 2.1 I2V", "k_img"}, true},
		{"t2v patch embedding", 1, []safetensors.Tensor{
			zeros("diffusion_model.patch_embedding.lora_down.weight", 2, 16, 1, 2, 2), zeros("diffusion_model.patch_embedding.lora_up.weight", d, 2, 1, 1, 1)},
			[]string{"in_dim", "16", "36"}, true},
		{"more blocks", 1, []safetensors.Tensor{
			zeros("diffusion_model.blocks.5.self_attn.q.lora_down.weight", 2, d), zeros("diffusion_model.blocks.5.self_attn.q.lora_up.weight", d, 2)},
			[]string{"block 5", "2 blocks"}, true},
		{"missing up", 1, []safetensors.Tensor{zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 2, d)},
			[]string{"diffusion_model.blocks.0.self_attn.q.lora_down.weight", "no matching up"}, false},
		{"rank mismatch", 1, []safetensors.Tensor{
			zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 2, d), zeros("diffusion_model.blocks.0.self_attn.q.lora_up.weight", d, 3)},
			[]string{"same rank"}, false},
		{"delta of a quantized matrix", 1, []safetensors.Tensor{zeros("diffusion_model.blocks.0.ffn.2.diff", d, 512)},
			[]string{"diffusion_model.blocks.0.ffn.2.diff", "Q8_0", "F16/BF16"}, false},
		{"LoHa", 1, []safetensors.Tensor{zeros("lora_unet_blocks_0_self_attn_q.hada_w1_a", 2, d)},
			[]string{"LoHa", "lora_unet_blocks_0_self_attn_q.hada_w1_a"}, false},
		// An integer matrix: engine/lora reads an integer alpha as its value, as
		// ComfyUI does, but the matrices must be floating point.
		{"integer tensor", 1, []safetensors.Tensor{
			{Name: "diffusion_model.blocks.0.self_attn.q.lora_down.weight", Type: gguf.TypeI32, Shape: []int64{2, d}, Data: make([]byte, 4*2*d)},
			zeros("diffusion_model.blocks.0.self_attn.q.lora_up.weight", d, 2)},
			[]string{"diffusion_model.blocks.0.self_attn.q.lora_down.weight", "I32", "floating point"}, false},
		{"non-finite strength", float32(math.Inf(1)), []safetensors.Tensor{
			zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 2, d), zeros("diffusion_model.blocks.0.self_attn.q.lora_up.weight", d, 2)},
			[]string{"strength", "finite"}, false},
	}
	plain := forwardOf(t, m)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := badLoRA(t, m, c.strength, c.ts...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if got := errors.Is(err, lora.ErrWrongModel); got != c.wrong {
				t.Errorf("errors.Is(err, ErrWrongModel) = %v, want %v (%v)", got, c.wrong, err)
			}
		})
	}
	if m.AttachedLoRAs() != nil {
		t.Errorf("failed attaches left LoRAs attached: %q", m.AttachedLoRAs())
	}
	got := forwardOf(t, m)
	for i := range plain {
		if got[i] != plain[i] {
			t.Fatalf("failed attaches changed the model: output[%d] %v, was %v", i, got[i], plain[i])
		}
	}
}

func TestTruncatedLoRA(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "l.safetensors")
	newTestLoRA(smallConfig, 4, 4, 71, "blocks.0.self_attn.q").write(t, path, keyStyles[0])
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{len(raw) - 7, len(raw) / 2, 20, 3} {
		p := filepath.Join(dir, "cut.safetensors")
		if err := os.WriteFile(p, raw[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := lora.Open(p)
		if err == nil || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), p) {
			t.Errorf("cut at %d of %d bytes: error %v, want one naming the file and saying it is truncated", cut, len(raw), err)
		}
	}
}
