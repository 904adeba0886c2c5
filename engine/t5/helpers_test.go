package t5

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
	"github.com/wan22/wan22/safetensors"
)

// memTensor is one tensor of a memSource.
type memTensor struct {
	name  string
	typ   gguf.Type
	shape []int64
	data  []byte
}

// memSource is an in-memory gguf.Source, for building models in tests.
type memSource struct{ ts []memTensor }

func (s *memSource) Tensors() []gguf.TensorInfo {
	out := make([]gguf.TensorInfo, len(s.ts))
	for i, t := range s.ts {
		out[i] = gguf.TensorInfo{Name: t.name, Type: t.typ, Shape: t.shape, Size: int64(len(t.data))}
	}
	return out
}

func (s *memSource) Lookup(name string) (gguf.TensorInfo, bool) {
	for _, ti := range s.Tensors() {
		if ti.Name == name {
			return ti, true
		}
	}
	return gguf.TensorInfo{}, false
}

func (s *memSource) Data(name string) ([]byte, error) {
	for _, t := range s.ts {
		if t.name == name {
			return t.data, nil
		}
	}
	return nil, fmt.Errorf("memSource: no tensor %q", name)
}

func (s *memSource) Close() error { return nil }

func (s *memSource) clone() *memSource { return &memSource{ts: slices.Clone(s.ts)} }

func (s *memSource) drop(name string) *memSource {
	s.ts = slices.DeleteFunc(s.ts, func(t memTensor) bool { return t.name == name })
	return s
}

// set replaces or appends a float32 tensor.
func (s *memSource) set(name string, shape []int64, v []float32) *memSource {
	t := memTensor{name: name, typ: gguf.TypeF32, shape: shape, data: f32Bytes(v)}
	for i := range s.ts {
		if s.ts[i].name == name {
			s.ts[i] = t
			return s
		}
	}
	s.ts = append(s.ts, t)
	return s
}

func (s *memSource) floats(t *testing.T, name string) []float32 {
	t.Helper()
	v, _, err := gguf.ReadFloat32(s, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (s *memSource) tensor(name string) memTensor {
	for _, t := range s.ts {
		if t.name == name {
			return t
		}
	}
	return memTensor{}
}

func (s *memSource) safetensors() []safetensors.Tensor {
	out := make([]safetensors.Tensor, len(s.ts))
	for i, t := range s.ts {
		out[i] = safetensors.Tensor{Name: t.name, Type: t.typ, Shape: t.shape, Data: t.data}
	}
	return out
}

func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// readAll copies every tensor of src into a memSource as float32.
func readAll(t *testing.T, src gguf.Source) *memSource {
	t.Helper()
	m := &memSource{}
	for _, ti := range src.Tensors() {
		v, _, err := gguf.ReadFloat32(src, ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		m.set(ti.Name, slices.Clone(ti.Shape), v)
	}
	return m
}

// tinyGGUF opens the golden tiny encoder (llama.cpp names) as a memSource.
func tinyGGUF(t *testing.T) *memSource {
	t.Helper()
	f, err := gguf.Open(golden.Path(t, "t5_tiny_f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return readAll(t, f)
}

// llamaToHF is ComfyUI's T5_SD_MAP (spec gguf.md §3.5), applied in order by
// substring replacement.
var llamaToHF = [][2]string{
	{"enc.", "encoder."},
	{".blk.", ".block."},
	{"token_embd", "shared"},
	{"output_norm", "final_layer_norm"},
	{"attn_q", "layer.0.SelfAttention.q"},
	{"attn_k", "layer.0.SelfAttention.k"},
	{"attn_v", "layer.0.SelfAttention.v"},
	{"attn_o", "layer.0.SelfAttention.o"},
	{"attn_norm", "layer.0.layer_norm"},
	{"attn_rel_b", "layer.0.SelfAttention.relative_attention_bias"},
	{"ffn_gate", "layer.1.DenseReluDense.wi_0"},
	{"ffn_up", "layer.1.DenseReluDense.wi_1"},
	{"ffn_down", "layer.1.DenseReluDense.wo"},
	{"ffn_norm", "layer.1.layer_norm"},
}

func hfName(name string) string {
	for _, r := range llamaToHF {
		name = strings.ReplaceAll(name, r[0], r[1])
	}
	return name
}

// renamed returns a copy of s with every name mapped by f.
func (s *memSource) renamed(f func(string) string) *memSource {
	out := s.clone()
	for i := range out.ts {
		out.ts[i].name = f(out.ts[i].name)
	}
	return out
}

// writeSafetensors writes s into dir/name and opens it.
func writeSafetensors(t *testing.T, s *memSource, name string, meta map[string]string) *safetensors.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := safetensors.Write(path, s.safetensors(), meta); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// goldenCase is one case of t5_tiny_cases.safetensors.
type goldenCase struct {
	name      string
	ids, mask []int32
	out       []float32 // [len(ids), dim]; only the valid rows are meaningful
}

func loadCases(t *testing.T) []goldenCase {
	t.Helper()
	f, err := safetensors.Open(golden.Path(t, "t5_tiny_cases.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	read := func(name string) []float32 {
		v, _, err := gguf.ReadFloat32(f, name)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ints := func(v []float32) []int32 {
		out := make([]int32, len(v))
		for i, x := range v {
			out[i] = int32(x)
			if float32(out[i]) != x {
				t.Fatalf("non-integer id or mask value %v", x)
			}
		}
		return out
	}
	var cases []goldenCase
	for k := 0; ; k++ {
		p := fmt.Sprintf("case%d.", k)
		if _, ok := f.Lookup(p + "ids"); !ok {
			break
		}
		cases = append(cases, goldenCase{name: fmt.Sprintf("case%d", k), ids: ints(read(p + "ids")), mask: ints(read(p + "mask")), out: read(p + "out")})
	}
	if len(cases) == 0 {
		t.Fatal("no cases in t5_tiny_cases.safetensors")
	}
	return cases
}

// randomModel builds a synthetic encoder in llama.cpp names with F32
// weights of roughly unit-variance activations.
func randomModel(cfg Config, seed uint64) *memSource {
	r := rand.New(rand.NewPCG(seed, 1))
	s := &memSource{}
	add := func(name string, scale float32, shape ...int64) {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64()) * scale
		}
		s.set(name, shape, v)
	}
	norm := func(name string, d int) {
		v := make([]float32, d)
		for i := range v {
			v[i] = 1 + 0.1*float32(r.NormFloat64())
		}
		s.set(name, []int64{int64(d)}, v)
	}
	d, in, f := int64(cfg.Dim), int64(cfg.Inner), int64(cfg.FFN)
	add("token_embd.weight", 1, int64(cfg.Vocab), d)
	for i := range cfg.Layers {
		p := fmt.Sprintf("enc.blk.%d.", i)
		norm(p+"attn_norm.weight", cfg.Dim)
		add(p+"attn_q.weight", 1/float32(math.Sqrt(float64(d))), in, d)
		add(p+"attn_k.weight", 1/float32(math.Sqrt(float64(d))), in, d)
		add(p+"attn_v.weight", 1/float32(math.Sqrt(float64(d))), in, d)
		add(p+"attn_o.weight", 1/float32(math.Sqrt(float64(in))), d, in)
		add(p+"attn_rel_b.weight", 0.5, numBuckets, int64(cfg.Heads))
		norm(p+"ffn_norm.weight", cfg.Dim)
		add(p+"ffn_gate.weight", 1/float32(math.Sqrt(float64(d))), f, d)
		add(p+"ffn_up.weight", 1/float32(math.Sqrt(float64(d))), f, d)
		add(p+"ffn_down.weight", 1/float32(math.Sqrt(float64(f))), d, f)
	}
	norm("enc.output_norm.weight", cfg.Dim)
	return s
}

// tracking wraps a backend and counts the tensors it makes and frees, so a
// test can check that Encode frees its intermediates and Free the weights.
// It counts the ops it runs and can make the failAt-th fail, like a device
// backend out of memory; freeing a tensor it does not hold (twice, or one it
// did not make) is recorded in bad.
type tracking struct {
	engine.Backend
	live   map[engine.Tensor]string
	ops    int // ops run so far
	failAt int // the op that fails (1-based); 0: none
	bad    []string
}

// errInjected is the failure tracking makes an op raise.
var errInjected = errors.New("injected failure")

func newTracking(b engine.Backend) *tracking {
	return &tracking{Backend: b, live: map[engine.Tensor]string{}}
}

// op counts an op and fails it when its turn has come.
func (t *tracking) op(name string) {
	t.ops++
	if t.ops == t.failAt {
		panic(&engine.Error{Op: name, Err: errInjected})
	}
}

// add records x, made by op (which has been counted).
func (t *tracking) add(op string, x engine.Tensor) engine.Tensor { t.live[x] = op; return x }

// run counts op, fails it when its turn has come, and records what f makes.
func (t *tracking) run(op string, f func() engine.Tensor) engine.Tensor {
	t.op(op)
	return t.add(op, f())
}

// activations lists the ops that made the live tensors other than weights
// and scale vectors (made by Weight, or by FromHost at load).
func (t *tracking) activations(weights map[engine.Tensor]bool) []string {
	var out []string
	for x, op := range t.live {
		if !weights[x] {
			out = append(out, op)
		}
	}
	return out
}

func (t *tracking) FromHost(d []float32, shape ...int) engine.Tensor {
	return t.run("FromHost", func() engine.Tensor { return t.Backend.FromHost(d, shape...) })
}
func (t *tracking) ToHost(x engine.Tensor) []float32 {
	t.op("ToHost")
	return t.Backend.ToHost(x)
}
func (t *tracking) Weight(info gguf.TensorInfo, data []byte) engine.Tensor {
	return t.add("Weight "+info.Name, t.Backend.Weight(info, data))
}
func (t *tracking) Free(ts ...engine.Tensor) {
	for _, x := range ts {
		if x == nil {
			continue
		}
		if _, ok := t.live[x]; !ok {
			t.bad = append(t.bad, fmt.Sprint(x.Shape()))
		}
		delete(t.live, x)
	}
	t.Backend.Free(ts...)
}
func (t *tracking) Reshape(x engine.Tensor, shape ...int) engine.Tensor {
	return t.run("Reshape", func() engine.Tensor { return t.Backend.Reshape(x, shape...) })
}
func (t *tracking) Cast(x engine.Tensor, d engine.DType) engine.Tensor {
	return t.run("Cast", func() engine.Tensor { return t.Backend.Cast(x, d) })
}
func (t *tracking) Linear(x, w, b engine.Tensor) engine.Tensor {
	return t.run("Linear", func() engine.Tensor { return t.Backend.Linear(x, w, b) })
}
func (t *tracking) LayerNorm(x, w, b engine.Tensor, eps float32) engine.Tensor {
	return t.run("LayerNorm", func() engine.Tensor { return t.Backend.LayerNorm(x, w, b, eps) })
}
func (t *tracking) RMSNorm(x, w engine.Tensor, eps float32) engine.Tensor {
	return t.run("RMSNorm", func() engine.Tensor { return t.Backend.RMSNorm(x, w, eps) })
}
func (t *tracking) Modulate(x, shift, scale engine.Tensor) engine.Tensor {
	return t.run("Modulate", func() engine.Tensor { return t.Backend.Modulate(x, shift, scale) })
}
func (t *tracking) AddGated(x, y, gate engine.Tensor) {
	t.op("AddGated")
	t.Backend.AddGated(x, y, gate)
}
func (t *tracking) Add(a, b engine.Tensor) engine.Tensor {
	return t.run("Add", func() engine.Tensor { return t.Backend.Add(a, b) })
}
func (t *tracking) Mul(a, b engine.Tensor) engine.Tensor {
	return t.run("Mul", func() engine.Tensor { return t.Backend.Mul(a, b) })
}
func (t *tracking) GELU(x engine.Tensor) engine.Tensor {
	return t.run("GELU", func() engine.Tensor { return t.Backend.GELU(x) })
}
func (t *tracking) SiLU(x engine.Tensor) engine.Tensor {
	return t.run("SiLU", func() engine.Tensor { return t.Backend.SiLU(x) })
}
func (t *tracking) Rows(x engine.Tensor, ids []int32) engine.Tensor {
	return t.run("Rows", func() engine.Tensor { return t.Backend.Rows(x, ids) })
}
func (t *tracking) Slice(x engine.Tensor, from, to int) engine.Tensor {
	return t.run("Slice", func() engine.Tensor { return t.Backend.Slice(x, from, to) })
}
func (t *tracking) Concat(ts ...engine.Tensor) engine.Tensor {
	return t.run("Concat", func() engine.Tensor { return t.Backend.Concat(ts...) })
}
func (t *tracking) Attention(q, k, v engine.Tensor, o engine.AttentionOpts) engine.Tensor {
	return t.run("Attention", func() engine.Tensor { return t.Backend.Attention(q, k, v, o) })
}
func (t *tracking) RotatePairs(x, cos, sin engine.Tensor, heads int) {
	t.op("RotatePairs")
	t.Backend.RotatePairs(x, cos, sin, heads)
}
