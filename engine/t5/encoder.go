// Package t5 is the umT5-XXL text encoder of WAN 2.2 (encoder only), written
// once over engine.Backend.
//
// The math follows wan/modules/t5.py (spec §6): token embedding; per block a
// pre-norm self-attention with a per-layer relative position bias
// (bidirectional buckets, no sharing between layers), no 1/sqrt(d) scaling
// and padded keys masked, then a pre-norm gated-GELU FFN
// down(up(x)·gelu_tanh(gate(x))); T5's RMSNorm (no mean, no bias, eps 1e-6)
// everywhere and a final norm. The output keeps only the valid tokens.
//
// Load reads the three tensor-name conventions in use (llama.cpp names in
// city96's GGUF files, Hugging Face names in ComfyUI safetensors, the
// official Wan names) and ComfyUI's "scaled fp8" safetensors, whose F8_E4M3
// weights carry an F32 `*.scale_weight` scalar: the effective weight is
// fp8 × scale, applied here to the op's output (y = scale·(x·Wᵀ)) so the
// backend keeps the raw fp8 bytes. The configuration (vocab, dim, heads,
// FFN width, layers) is inferred from tensor shapes, and every tensor's shape
// is checked at load; a wrong file fails there with an error naming the tensor.
//
// The encoder runs once per prompt (positive and negative) and is freed with
// Free before the DiT loads.
package t5

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// Eps is the epsilon of every T5 RMSNorm.
const Eps = 1e-6

// Config is the encoder's shape, inferred from the checkpoint.
type Config struct {
	Vocab  int // token embedding rows (256384 for umT5-XXL)
	Dim    int // model width (4096)
	Inner  int // attention width, Heads × head dim (4096 = 64 × 64)
	Heads  int // attention heads (64), from the relative bias table [buckets, heads]
	FFN    int // gated FFN width (10240)
	Layers int // encoder blocks (24)
}

// HeadDim is the width of one attention head.
func (c Config) HeadDim() int { return c.Inner / c.Heads }

// Weight is one loaded tensor and its per-tensor scale. Scale is 1 except in
// ComfyUI "scaled fp8" files, where the effective tensor is W × Scale; the
// op reading W multiplies its output by Scale (Linear, Rows and RMSNorm are
// all linear in their weight).
type Weight struct {
	W     engine.Tensor
	Scale float32
	// scaleVec holds Scale repeated over the op's output width, for Mul;
	// nil when Scale is 1.
	scaleVec engine.Tensor
}

// scaled multiplies y [..., N] by the weight's scale (a no-op when it is
// 1). It consumes y: y is freed, or returned when the scale is 1.
func (w *Weight) scaled(b engine.Backend, y engine.Tensor) engine.Tensor {
	if w.scaleVec == nil {
		return y
	}
	defer b.Free(y)
	return b.Mul(y, w.scaleVec)
}

// consume returns f(x) and frees x, also when f panics, so that a failing
// op (out of device memory) leaks no intermediate.
func consume(b engine.Backend, x engine.Tensor, f func(engine.Tensor) engine.Tensor) engine.Tensor {
	defer b.Free(x)
	return f(x)
}

// addTo adds y to x in place and frees y, also when the add fails.
func addTo(b engine.Backend, x, y engine.Tensor) {
	defer b.Free(y)
	b.AddGated(x, y, nil)
}

// linear: x [L, K] → [L, N] = Scale·(x·Wᵀ) for W [N, K], without bias.
func (w *Weight) linear(b engine.Backend, x engine.Tensor) engine.Tensor {
	return w.scaled(b, b.Linear(x, w.W, nil))
}

// rmsNorm: x [L, D] → [L, D] = x·rsqrt(mean(x²) + eps)·W·Scale.
func (w *Weight) rmsNorm(b engine.Backend, x engine.Tensor) engine.Tensor {
	return w.scaled(b, b.RMSNorm(x, w.W, Eps))
}

// Block is one encoder layer. Field comments give the tensor names in the
// llama.cpp / Hugging Face conventions (the block prefix is enc.blk.N. /
// encoder.block.N.).
type Block struct {
	AttnNorm Weight // attn_norm / layer.0.layer_norm                              [dim]
	AttnQ    Weight // attn_q / layer.0.SelfAttention.q                            [inner, dim]
	AttnK    Weight // attn_k / layer.0.SelfAttention.k                            [inner, dim]
	AttnV    Weight // attn_v / layer.0.SelfAttention.v                            [inner, dim]
	AttnO    Weight // attn_o / layer.0.SelfAttention.o                            [dim, inner]
	AttnRelB Weight // attn_rel_b / layer.0.SelfAttention.relative_attention_bias  [32, heads]
	FFNNorm  Weight // ffn_norm / layer.1.layer_norm                               [dim]
	FFNGate  Weight // ffn_gate / layer.1.DenseReluDense.wi_0 (GELU branch)        [ffn, dim]
	FFNUp    Weight // ffn_up / layer.1.DenseReluDense.wi_1                        [ffn, dim]
	FFNDown  Weight // ffn_down / layer.1.DenseReluDense.wo                        [dim, ffn]

	relB []float32 // host copy of AttnRelB × Scale, [32, heads] row-major
}

// Encoder is a loaded umT5 encoder. It is not safe for concurrent use.
type Encoder struct {
	Config
	TokenEmbd  Weight // token_embd / shared  [vocab, dim]
	Blocks     []*Block
	OutputNorm Weight // enc.output_norm / encoder.final_layer_norm  [dim]

	// Trace, when set, receives "embed", "blockN.out" and "out" during Encode.
	Trace engine.TraceFunc
	// FullLength makes Encode run every position of ids, padded ones
	// included, with the padded keys masked, exactly as the reference
	// does. By default only the valid tokens are computed: the bias depends
	// only on relative offsets and padded keys are masked, so the valid rows
	// are the same (up to summation order) at a fraction of the cost.
	FullLength bool

	b      engine.Backend
	loaded []engine.Tensor // every tensor Load made, for Free
}

// loader wraps engine.Loader with the file's naming and the scaled-fp8 rule.
type loader struct {
	*engine.Loader
	n     *names
	extra []engine.Tensor // scale vectors
}

// shape returns the shape of a tensor that must exist with the given rank,
// leading 1s ignored.
func (l *loader) shape(name string, rank int) []int {
	s := l.Shape(name)
	if s == nil {
		engine.Failf("load", "tensor %q is missing from the model file (wrong model kind or an incomplete file?)", name)
	}
	for len(s) > rank && s[0] == 1 {
		s = s[1:]
	}
	if len(s) != rank {
		engine.Failf("load", "tensor %q has shape %v in the file, the umT5 encoder expects %d dimensions", name, s, rank)
	}
	out := make([]int, rank)
	for i, d := range s {
		if d <= 0 || d > 1<<31 {
			engine.Failf("load", "tensor %q has shape %v in the file", name, s)
		}
		out[i] = int(d)
	}
	return out
}

// weight loads name with the given shape, and its scale_weight if the file
// has one. outWidth is the last dim of the output of the op that reads the
// weight, the width of the scale vector.
func (l *loader) weight(name string, outWidth int, shape ...int) Weight {
	w := Weight{W: l.Weight(name, shape...), Scale: 1}
	sname, s, ok := l.scale(name)
	if !ok || s == 1 {
		return w
	}
	if s != s || s == 0 || s > 3.4e38 || s < -3.4e38 {
		engine.Failf("load", "tensor %q: scale %v is not a usable number", sname, s)
	}
	vec := make([]float32, outWidth)
	for i := range vec {
		vec[i] = s
	}
	w.Scale = s
	w.scaleVec = l.B.FromHost(vec, outWidth)
	l.extra = append(l.extra, w.scaleVec)
	return w
}

// scale reads the per-tensor scale of a ComfyUI scaled-fp8 weight: for
// "X.weight", the scalar "X.scale_weight" (or "X.weight_scale", the newer
// spelling). It must hold exactly one element.
func (l *loader) scale(name string) (string, float32, bool) {
	base := strings.TrimSuffix(name, ".weight")
	for _, sname := range []string{base + ".scale_weight", base + ".weight_scale"} {
		ti, ok := l.Src.Lookup(sname)
		if !ok {
			continue
		}
		if ti.Elements() != 1 {
			engine.Failf("load", "tensor %q has shape %v, a per-tensor scale must be a single number (per-channel or block scales are not supported)", sname, ti.Shape)
		}
		data, err := l.Src.Data(sname)
		if err != nil {
			engine.Failf("load", "reading tensor %q: %v", sname, err)
		}
		var v [1]float32
		if err := gguf.Dequantize(ti.Type, data, v[:]); err != nil {
			engine.Failf("load", "tensor %q: %v", sname, err)
		}
		return sname, v[0], true
	}
	return "", 1, false
}

// Load reads a umT5 encoder from src onto b. It infers the configuration from
// tensor shapes and checks every tensor; errors name the tensor. The caller
// may close src once Load returns (the backend copies the bytes).
func Load(b engine.Backend, src gguf.Source) (enc *Encoder, err error) {
	if b == nil || src == nil {
		return nil, errors.New("t5: Load needs a backend and a model file")
	}
	n, err := resolveNames(src)
	if err != nil {
		return nil, err
	}
	l := &loader{Loader: engine.NewLoader(b, src), n: n}
	defer func() {
		if err != nil {
			l.FreeAll()
			b.Free(l.extra...)
			enc = nil
			err = fmt.Errorf("t5: loading the %s-named encoder: %w", n.name, err)
		}
	}()
	defer engine.Catch(&err)

	cfg := inferConfig(l)
	enc = &Encoder{Config: cfg, b: b}
	enc.TokenEmbd = l.weight(n.embedding(src), cfg.Dim, cfg.Vocab, cfg.Dim)
	for i := range cfg.Layers {
		enc.Blocks = append(enc.Blocks, newBlock(l, cfg, i))
	}
	enc.OutputNorm = l.weight(n.finalNorm(), cfg.Dim, cfg.Dim)
	enc.loaded = append(l.Loaded(), l.extra...)
	return enc, nil
}

// inferConfig reads the configuration from the shapes of the embedding and
// block 0, failing with the tensor's name when a shape cannot be an encoder's.
func inferConfig(l *loader) Config {
	n := l.n
	if n.layers == 0 {
		engine.Failf("load", "no encoder blocks found")
	}
	emb := l.shape(n.embedding(l.Src), 2)
	c := Config{Vocab: emb[0], Dim: emb[1], Layers: n.layers}
	qName := n.blockName(0, n.q)
	q := l.shape(qName, 2)
	c.Inner = q[0]
	rName := n.blockName(0, n.relB)
	rel := l.shape(rName, 2)
	if rel[0] != numBuckets {
		engine.Failf("load", "tensor %q has shape %v, want [%d heads]: the encoder uses %d relative position buckets", rName, rel, numBuckets, numBuckets)
	}
	c.Heads = rel[1]
	if c.Inner%c.Heads != 0 {
		engine.Failf("load", "tensor %q: attention width %d is not a multiple of the %d heads given by %q", qName, c.Inner, c.Heads, rName)
	}
	c.FFN = l.shape(n.blockName(0, n.gate), 2)[0]
	return c
}

// newBlock loads block i, checking every tensor against cfg.
func newBlock(l *loader, cfg Config, i int) *Block {
	n := l.n
	name := func(s string) string { return n.blockName(i, s) }
	d, in, f, h := cfg.Dim, cfg.Inner, cfg.FFN, cfg.Heads
	blk := &Block{
		AttnNorm: l.weight(name(n.attnNorm), d, d),
		AttnQ:    l.weight(name(n.q), in, in, d),
		AttnK:    l.weight(name(n.k), in, in, d),
		AttnV:    l.weight(name(n.v), in, in, d),
		AttnO:    l.weight(name(n.o), d, d, in),
		AttnRelB: l.weight(name(n.relB), h, numBuckets, h),
		FFNNorm:  l.weight(name(n.ffnNorm), d, d),
		FFNGate:  l.weight(name(n.gate), f, f, d),
		FFNUp:    l.weight(name(n.up), f, f, d),
		FFNDown:  l.weight(name(n.down), d, d, f),
	}
	blk.relB = l.B.ToHost(blk.AttnRelB.W)
	for j := range blk.relB {
		blk.relB[j] *= blk.AttnRelB.Scale
	}
	return blk
}

// Free releases every weight. The encoder must not be used afterwards;
// calling Free again does nothing.
func (e *Encoder) Free() {
	if e == nil || e.b == nil {
		return
	}
	e.b.Free(e.loaded...)
	e.loaded, e.Blocks = nil, nil
	e.TokenEmbd, e.OutputNorm = Weight{}, Weight{}
	e.b = nil
}

// Encode runs the encoder on one tokenized prompt: ids and mask as the
// tokenizer pads them (mask 1 for the valid tokens, EOS included, then 0 for
// padding). It returns the valid rows, out [n, Dim] row-major, and n.
// ctx is checked before every block: once it is done, Encode stops and
// returns an error wrapping ctx.Err(), having freed its activations.
func (e *Encoder) Encode(ctx context.Context, ids, mask []int32) (out []float32, n int, err error) {
	if e.b == nil {
		return nil, 0, errors.New("t5: Encode on a freed encoder")
	}
	if n, err = validLength(ids, mask); err != nil {
		return nil, 0, err
	}
	defer engine.Catch(&err)
	b := e.b
	run := ids[:n]
	if e.FullLength {
		run = ids
	}
	x, err := e.forward(ctx, run, n)
	if err != nil {
		return nil, 0, err
	}
	if len(run) > n {
		x = consume(b, x, func(x engine.Tensor) engine.Tensor { return b.Slice(x, 0, n) })
	}
	defer b.Free(x)
	return b.ToHost(x), n, nil
}

// validLength checks ids and mask and returns the number of valid tokens:
// the mask must be ones followed only by zeros (right padding).
func validLength(ids, mask []int32) (int, error) {
	if len(ids) != len(mask) {
		return 0, fmt.Errorf("t5: %d ids but %d mask values", len(ids), len(mask))
	}
	n := 0
	for n < len(mask) && mask[n] == 1 {
		n++
	}
	for i := n; i < len(mask); i++ {
		if mask[i] != 0 {
			return 0, fmt.Errorf("t5: mask[%d] = %d: the mask must be ones for the valid tokens followed by zeros for right padding", i, mask[i])
		}
	}
	if n == 0 {
		return 0, errors.New("t5: no valid tokens (the mask is all zeros; the tokenizer always keeps at least EOS)")
	}
	return n, nil
}

// forward: ids [L] → [L, dim]; keys at positions ≥ keyLen are masked.
// It stops with ctx's error before the first block after ctx is done.
func (e *Encoder) forward(ctx context.Context, ids []int32, keyLen int) (engine.Tensor, error) {
	b := e.b
	x := e.TokenEmbd.scaled(b, b.Rows(e.TokenEmbd.W, ids)) // [L, dim]
	defer b.Free(x)
	e.Trace.Emit("embed", x)
	buckets := offsetBuckets(len(ids), len(ids)) // shared by every layer's bias
	for i, blk := range e.Blocks {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("t5: stopped before block %d: %w", i, err)
		}
		blk.forward(b, e.Config, x, keyLen, buckets)
		e.Trace.Emit(fmt.Sprintf("block%d.out", i), x)
	}
	y := e.OutputNorm.rmsNorm(b, x)
	e.Trace.Emit("out", y)
	return y, nil
}

// forward updates the residual stream x [L, dim] in place:
// x += o(attn(norm1(x))); x += down(up(h)·gelu(gate(h))) with h = norm2(x).
// Every intermediate is freed as soon as it is used, and also when an op fails.
func (blk *Block) forward(b engine.Backend, c Config, x engine.Tensor, keyLen int, buckets []int32) {
	addTo(b, x, blk.attention(b, c, x, keyLen, buckets))
	addTo(b, x, blk.ffn(b, x))
}

// attention: x [L, dim] → o(attn(q, k, v)) [L, dim] with q, k, v projected
// from norm1(x), the relative position bias (buckets: offsetBuckets(L, L))
// added to the scores and keys at positions ≥ keyLen masked.
func (blk *Block) attention(b engine.Backend, c Config, x engine.Tensor, keyLen int, buckets []int32) engine.Tensor {
	L := x.Shape()[0]
	a := func() engine.Tensor {
		var q, k, v, bias engine.Tensor
		defer func() { b.Free(q, k, v, bias) }()
		func() {
			h := blk.AttnNorm.rmsNorm(b, x) // [L, dim]
			defer b.Free(h)
			q = blk.AttnQ.linear(b, h) // [L, inner]
			k = blk.AttnK.linear(b, h) // [L, inner]
			v = blk.AttnV.linear(b, h) // [L, inner]
		}()
		// [heads, L, L], built on the device when the backend can.
		bias = layerBias(b, blk.relB, buckets, c.Heads, L, L)
		return b.Attention(q, k, v, engine.AttentionOpts{Heads: c.Heads, Scale: 1, KeyLen: keyLen, Bias: bias}) // [L, inner]
	}()
	return consume(b, a, func(a engine.Tensor) engine.Tensor { return blk.AttnO.linear(b, a) })
}

// ffn: x [L, dim] → down(up(h)·gelu(gate(h))) [L, dim] with h = norm2(x).
func (blk *Block) ffn(b engine.Backend, x engine.Tensor) engine.Tensor {
	m := func() engine.Tensor {
		var gg, u engine.Tensor
		defer func() { b.Free(gg, u) }()
		func() {
			h := blk.FFNNorm.rmsNorm(b, x) // [L, dim]
			defer b.Free(h)
			gg = consume(b, blk.FFNGate.linear(b, h), b.GELU) // [L, ffn]
			u = blk.FFNUp.linear(b, h)                        // [L, ffn]
		}()
		return b.Mul(u, gg) // [L, ffn]
	}()
	return consume(b, m, func(m engine.Tensor) engine.Tensor { return blk.FFNDown.linear(b, m) })
}
