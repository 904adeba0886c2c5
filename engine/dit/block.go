package dit

import (
	"math"

	"github.com/wan22/wan22/engine"
)

// linear is a Linear layer with bias (every DiT linear has one).
type linear struct {
	weight, bias engine.Tensor // [out, in], [out]
}

func newLinear(l *engine.Loader, name string, out, in int) linear {
	return linear{weight: l.Weight(name+".weight", out, in), bias: l.Weight(name+".bias", out)}
}

// forward: x [..., in] → [..., out].
func (p linear) forward(b engine.Backend, x engine.Tensor) engine.Tensor {
	return b.Linear(x, p.weight, p.bias)
}

// modulation is the per-row affine map a block's adaptive LayerNorm applies,
// and the gate of the residual it feeds. Each is [dim].
type modulation struct {
	shift, scale, gate engine.Tensor
}

// apply: x [L, dim] → LN(x)·(1 + scale) + shift, a LayerNorm without affine.
func (m modulation) apply(b engine.Backend, x engine.Tensor) engine.Tensor {
	n := b.LayerNorm(x, nil, nil, Eps)
	defer b.Free(n)
	return b.Modulate(n, m.shift, m.scale)
}

func (m modulation) free(b engine.Backend) { b.Free(m.shift, m.scale, m.gate) }

// row returns row i of t [n, dim] as a new tensor [dim].
func row(b engine.Backend, t engine.Tensor, i, dim int) engine.Tensor {
	return b.Reshape(b.Slice(t, i, i+1), dim)
}

// attention is WanSelfAttention / WanCrossAttention: q, k, v, o projections
// with bias and RMSNorms over the full width on q and k.
type attention struct {
	q, k, v, o   linear
	normQ, normK engine.Tensor // [dim]
	heads        int
}

func newAttention(l *engine.Loader, prefix string, cfg Config) *attention {
	d := cfg.Dim
	return &attention{
		q:     newLinear(l, prefix+".q", d, d),
		k:     newLinear(l, prefix+".k", d, d),
		v:     newLinear(l, prefix+".v", d, d),
		o:     newLinear(l, prefix+".o", d, d),
		normQ: l.Weight(prefix+".norm_q.weight", d),
		normK: l.Weight(prefix+".norm_k.weight", d),
		heads: cfg.Heads,
	}
}

// project: x [L, dim] → RMSNorm(p(x)) [L, dim].
func (a *attention) project(b engine.Backend, p linear, norm, x engine.Tensor) engine.Tensor {
	y := p.forward(b, x)
	defer b.Free(y)
	return b.RMSNorm(y, norm, Eps)
}

// self: x [L, dim] → [L, dim]; cos and sin [L, HeadDim/2] rotate q and k.
func (a *attention) self(b engine.Backend, x, cos, sin engine.Tensor) engine.Tensor {
	q := a.project(b, a.q, a.normQ, x)
	k := a.project(b, a.k, a.normK, x)
	v := a.v.forward(b, x)
	b.RotatePairs(q, cos, sin, a.heads)
	b.RotatePairs(k, cos, sin, a.heads)
	L := x.Shape()[0]
	return a.attend(b, q, k, v, L)
}

// cross: x [L, dim] attends to ctx [TextLen, dim] (no rotary, no mask) → [L, dim].
func (a *attention) cross(b engine.Backend, x, ctx engine.Tensor) engine.Tensor {
	q := a.project(b, a.q, a.normQ, x)
	k := a.project(b, a.k, a.normK, ctx)
	v := a.v.forward(b, ctx)
	return a.attend(b, q, k, v, 0)
}

// attend: q [Lq, dim], k and v [Lk, dim] → o(softmax(q·kᵀ/√HeadDim)·v) [Lq, dim],
// keys limited to keyLen (0: all). It frees q, k and v.
func (a *attention) attend(b engine.Backend, q, k, v engine.Tensor, keyLen int) engine.Tensor {
	y := b.Attention(q, k, v, engine.AttentionOpts{Heads: a.heads, Scale: float32(1 / math.Sqrt(HeadDim)), KeyLen: keyLen})
	b.Free(q, k, v)
	defer b.Free(y)
	return a.o.forward(b, y)
}

// layerNorm is a LayerNorm with affine parameters.
type layerNorm struct {
	weight, bias engine.Tensor // [dim]
}

// block is one WanAttentionBlock ("blocks.N").
type block struct {
	name       string        // "blocks.N", for traces
	modulation engine.Tensor // [6, dim]: shift, scale, gate of self-attention, then of the FFN
	selfAttn   *attention    // self_attn
	norm3      layerNorm     // norm3, before cross-attention
	crossAttn  *attention    // cross_attn
	ffn0, ffn2 linear        // ffn.0 [ffn, dim], ffn.2 [dim, ffn]
	dim        int
}

// newBlock loads the block named prefix ("blocks.7").
func newBlock(l *engine.Loader, prefix string, cfg Config) *block {
	d := cfg.Dim
	return &block{
		name:       prefix,
		modulation: l.Weight(prefix+".modulation", 6, d),
		selfAttn:   newAttention(l, prefix+".self_attn", cfg),
		norm3:      layerNorm{weight: l.Weight(prefix+".norm3.weight", d), bias: l.Weight(prefix+".norm3.bias", d)},
		crossAttn:  newAttention(l, prefix+".cross_attn", cfg),
		ffn0:       newLinear(l, prefix+".ffn.0", cfg.FFNDim, d),
		ffn2:       newLinear(l, prefix+".ffn.2", d, cfg.FFNDim),
		dim:        d,
	}
}

// modulations: e0 [6, dim] (the time projection) → the self-attention and
// FFN modulations, modulation + e0 split into its six rows.
func (blk *block) modulations(b engine.Backend, e0 engine.Tensor) (attn, ffn modulation) {
	E := b.Add(blk.modulation, e0)
	defer b.Free(E)
	r := func(i int) engine.Tensor { return row(b, E, i, blk.dim) }
	return modulation{r(0), r(1), r(2)}, modulation{r(3), r(4), r(5)}
}

// forward updates the residual stream x [L, dim] in place.
// e0 [6, dim] is the time projection, ctx [TextLen, dim] the embedded text,
// cos and sin [L, HeadDim/2] the rotary tables; the FFN runs chunk rows at a time.
func (blk *block) forward(b engine.Backend, x, e0, ctx, cos, sin engine.Tensor, chunk int, trace engine.TraceFunc) {
	attnMod, ffnMod := blk.modulations(b, e0)
	defer attnMod.free(b)
	defer ffnMod.free(b)

	a := attnMod.apply(b, x)
	y := blk.selfAttn.self(b, a, cos, sin)
	b.Free(a)
	trace.Emit(blk.name+".self_attn", y)
	b.AddGated(x, y, attnMod.gate)
	b.Free(y)

	n := b.LayerNorm(x, blk.norm3.weight, blk.norm3.bias, Eps)
	y = blk.crossAttn.cross(b, n, ctx)
	b.Free(n)
	trace.Emit(blk.name+".cross_attn", y)
	b.AddGated(x, y, nil)
	b.Free(y)

	blk.ffnResidual(b, x, ffnMod, chunk)
}

// ffn: x [r, dim] → ffn.2(GELU(ffn.0(LN(x)·(1+scale) + shift))) [r, dim].
func (blk *block) ffn(b engine.Backend, x engine.Tensor, mod modulation) engine.Tensor {
	a := mod.apply(b, x)
	h := blk.ffn0.forward(b, a)
	b.Free(a)
	g := b.GELU(h)
	b.Free(h)
	defer b.Free(g)
	return blk.ffn2.forward(b, g)
}

// GatedRowAdder is an optional Backend fast path for the chunked FFN.
// AddGatedRows adds y·gate in place to rows [from, from+r) of x, for x
// [L, D], y [r, D] and gate [D]. Without it the chunk outputs are
// concatenated before one AddGated, which costs one more [L, D] tensor.
type GatedRowAdder interface {
	AddGatedRows(x, y, gate engine.Tensor, from int)
}

// ffnResidual adds gate·ffn(x) to x [L, dim] in place, chunk rows at a time,
// so the [rows, ffn] intermediate never exists for all L rows at once.
func (blk *block) ffnResidual(b engine.Backend, x engine.Tensor, mod modulation, chunk int) {
	L := x.Shape()[0]
	if chunk <= 0 {
		engine.Failf("dit", "FFN chunk of %d rows", chunk)
	}
	if L <= chunk {
		y := blk.ffn(b, x, mod)
		b.AddGated(x, y, mod.gate)
		b.Free(y)
		return
	}
	adder, direct := b.(GatedRowAdder)
	var ys []engine.Tensor
	for from := 0; from < L; from += chunk {
		xs := b.Slice(x, from, min(from+chunk, L))
		y := blk.ffn(b, xs, mod)
		b.Free(xs)
		if direct {
			adder.AddGatedRows(x, y, mod.gate, from)
			b.Free(y)
			continue
		}
		ys = append(ys, y)
	}
	if direct {
		return
	}
	y := b.Concat(ys...)
	b.Free(ys...)
	b.AddGated(x, y, mod.gate)
	b.Free(y)
}

// head is the output Head: its own two-row modulation over e, a LayerNorm
// without affine and the projection to OutDim·4 patch values.
type head struct {
	modulation engine.Tensor // [2, dim]: shift, scale
	head       linear        // head.head [out·4, dim]
	dim        int
}

func newHead(l *engine.Loader, cfg Config) *head {
	return &head{
		modulation: l.Weight("head.modulation", 2, cfg.Dim),
		head:       newLinear(l, "head.head", cfg.OutDim*4, cfg.Dim),
		dim:        cfg.Dim,
	}
}

// forward: x [L, dim], e [dim] (the time embedding, not e0) → [L, out·4].
func (h *head) forward(b engine.Backend, x, e engine.Tensor) engine.Tensor {
	E := b.Add(h.modulation, e)
	mod := modulation{shift: row(b, E, 0, h.dim), scale: row(b, E, 1, h.dim)}
	b.Free(E)
	defer mod.free(b)
	a := mod.apply(b, x)
	defer b.Free(a)
	return h.head.forward(b, a)
}
