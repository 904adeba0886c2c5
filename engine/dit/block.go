package dit

import (
	"math"
	"strings"

	"github.com/wan22/wan22/engine"
)

// linear is a Linear layer with bias (every DiT linear has one), and the
// low-rank adapters attached to it at run time (lora.go).
type linear struct {
	weight, bias engine.Tensor // [out, in], [out]
	lora         *loraPair     // nil without LoRA
}

func newLinear(l *engine.Loader, name string, out, in int) linear {
	return linear{weight: l.Weight(name+".weight", out, in), bias: l.Weight(name+".bias", out)}
}

// forward: x [..., in] → W·x + b [..., out], plus up·(down·x) with a LoRA.
func (p linear) forward(b engine.Backend, x engine.Tensor) engine.Tensor {
	if p.lora != nil {
		return p.lora.linear(b, p, x, false)
	}
	return b.Linear(x, p.weight, p.bias)
}

// consume returns f(x) and frees x, also when f panics, so that a failing
// op (out of device memory) leaks no intermediate.
func consume(b engine.Backend, x engine.Tensor, f func(engine.Tensor) engine.Tensor) engine.Tensor {
	defer b.Free(x)
	return f(x)
}

// addGated adds y·gate to x in place (gate nil: 1) and frees y.
func addGated(b engine.Backend, x, y, gate engine.Tensor) {
	defer b.Free(y)
	b.AddGated(x, y, gate)
}

// modulation is the per-row affine map a block's adaptive LayerNorm applies,
// and the gate of the residual it feeds. Each is [dim].
type modulation struct {
	shift, scale, gate engine.Tensor
}

// apply: x [L, dim] → LN(x)·(1 + scale) + shift, a LayerNorm without affine.
func (m modulation) apply(b engine.Backend, x engine.Tensor) engine.Tensor {
	return consume(b, b.LayerNorm(x, nil, nil, Eps), func(n engine.Tensor) engine.Tensor {
		return b.Modulate(n, m.shift, m.scale)
	})
}

func (m modulation) free(b engine.Backend) { b.Free(m.shift, m.scale, m.gate) }

// reshape returns x viewed with a new shape; x is freed if that fails.
func reshape(b engine.Backend, x engine.Tensor, shape ...int) engine.Tensor {
	ok := false
	defer func() {
		if !ok {
			b.Free(x)
		}
	}()
	v := b.Reshape(x, shape...)
	ok = true
	return v
}

// splitRows returns the rows of t [n, dim] as n new tensors [dim]; on a
// failure none is left allocated.
func splitRows(b engine.Backend, t engine.Tensor, n, dim int) []engine.Tensor {
	rows := make([]engine.Tensor, n)
	ok := false
	defer func() {
		if !ok {
			b.Free(rows...)
		}
	}()
	for i := range rows {
		rows[i] = reshape(b, b.Slice(t, i, i+1), dim)
	}
	ok = true
	return rows
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

// NormRotator is an optional Backend fast path for self-attention's q and k:
// RMSNormRotate(x, w, cos, sin, heads, eps) is RMSNorm(x, w, eps) followed by
// RotatePairs(·, cos, sin, heads), returned as a new tensor, in one op.
type NormRotator interface {
	RMSNormRotate(x, w, cos, sin engine.Tensor, heads int, eps float32) engine.Tensor
}

// project: x [L, dim] → RMSNorm(p(x)) [L, dim], rotated by r when r is not nil.
func (a *attention) project(b engine.Backend, p linear, norm, x engine.Tensor, r *rope) engine.Tensor {
	if nr, ok := b.(NormRotator); ok && r != nil {
		return consume(b, p.forward(b, x), func(y engine.Tensor) engine.Tensor {
			return nr.RMSNormRotate(y, norm, r.cos, r.sin, a.heads, Eps)
		})
	}
	y := consume(b, p.forward(b, x), func(y engine.Tensor) engine.Tensor { return b.RMSNorm(y, norm, Eps) })
	if r != nil {
		func() {
			ok := false
			defer func() {
				if !ok {
					b.Free(y)
				}
			}()
			b.RotatePairs(y, r.cos, r.sin, a.heads)
			ok = true
		}()
	}
	return y
}

// rope is the rotary embedding of self-attention: cos and sin [L, HeadDim/2].
type rope struct{ cos, sin engine.Tensor }

// forward: queries from xq [Lq, dim], keys and values from xkv [Lk, dim] →
// o(attention) [Lq, dim]. With r, q and k are rotated (self-attention);
// keys are limited to keyLen (0: all). To keep the peak low, forward frees
// xq as soon as q, k and v exist (xkv is freed only when it is xq), and q,
// k and v before the o projection runs.
func (a *attention) forward(b engine.Backend, xq, xkv engine.Tensor, r *rope, keyLen int) engine.Tensor {
	y := func() engine.Tensor {
		var q, k, v engine.Tensor
		defer func() { b.Free(q, k, v) }()
		func() {
			defer b.Free(xq)
			q = a.project(b, a.q, a.normQ, xq, r)
			k = a.project(b, a.k, a.normK, xkv, r)
			v = a.v.forward(b, xkv)
		}()
		return a.attend(b, q, k, v, keyLen)
	}()
	return consume(b, y, func(y engine.Tensor) engine.Tensor { return a.o.forward(b, y) })
}

// attend: q [Lq, dim], k and v [Lk, dim] → softmax(q·kᵀ/√HeadDim)·v [Lq, dim]
// per head, keys limited to keyLen (0: all).
func (a *attention) attend(b engine.Backend, q, k, v engine.Tensor, keyLen int) engine.Tensor {
	return b.Attention(q, k, v, engine.AttentionOpts{Heads: a.heads, Scale: float32(1 / math.Sqrt(HeadDim)), KeyLen: keyLen})
}

// layerNorm is a LayerNorm with affine parameters.
type layerNorm struct {
	weight, bias engine.Tensor // [dim]
}

// block is one WanAttentionBlock ("blocks.N").
type block struct {
	tag        string        // "blockN": the prefix of its trace names
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
		tag:        "block" + strings.TrimPrefix(prefix, "blocks."),
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
	r := splitRows(b, E, 6, blk.dim)
	return modulation{r[0], r[1], r[2]}, modulation{r[3], r[4], r[5]}
}

// forward updates the residual stream x [L, dim] in place.
// e0 [6, dim] is the time projection, ctx [TextLen, dim] the embedded text,
// r the rotary tables of the L tokens; the FFN runs chunk rows at a time.
func (blk *block) forward(b engine.Backend, x, e0, ctx engine.Tensor, r *rope, chunk int, trace engine.TraceFunc) {
	attnMod, ffnMod := blk.modulations(b, e0)
	defer attnMod.free(b)
	defer ffnMod.free(b)

	a := attnMod.apply(b, x)
	y := blk.selfAttn.forward(b, a, a, r, x.Shape()[0]) // frees a
	trace.Emit(blk.tag+".self_attn", y)
	addGated(b, x, y, attnMod.gate)

	n := b.LayerNorm(x, blk.norm3.weight, blk.norm3.bias, Eps)
	y = blk.crossAttn.forward(b, n, ctx, nil, 0) // frees n
	trace.Emit(blk.tag+".cross_attn", y)
	addGated(b, x, y, nil)

	blk.ffnResidual(b, x, ffnMod, chunk)
	trace.Emit(blk.tag+".out", x)
}

// GELULinear is an optional Backend fast path for the FFN: LinearGELU(x, w, b)
// is GELU(Linear(x, w, b)) with the tanh approximation in one op (in the GEMM's
// epilogue, say).
type GELULinear interface {
	LinearGELU(x, w, b engine.Tensor) engine.Tensor
}

// ffn: x [r, dim] → ffn.2(GELU(ffn.0(LN(x)·(1+scale) + shift))) [r, dim].
func (blk *block) ffn(b engine.Backend, x engine.Tensor, mod modulation) engine.Tensor {
	var g engine.Tensor
	f, fused := b.(GELULinear)
	switch {
	case blk.ffn0.lora != nil: // LinearGELU has no LoRA path; LoRALinear has a GELU one
		g = consume(b, mod.apply(b, x), func(a engine.Tensor) engine.Tensor {
			return blk.ffn0.lora.linear(b, blk.ffn0, a, true)
		})
	case fused:
		g = consume(b, mod.apply(b, x), func(a engine.Tensor) engine.Tensor {
			return f.LinearGELU(a, blk.ffn0.weight, blk.ffn0.bias)
		})
	default:
		h := consume(b, mod.apply(b, x), func(a engine.Tensor) engine.Tensor { return blk.ffn0.forward(b, a) })
		g = consume(b, h, b.GELU)
	}
	return consume(b, g, func(g engine.Tensor) engine.Tensor { return blk.ffn2.forward(b, g) })
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
		addGated(b, x, blk.ffn(b, x, mod), mod.gate)
		return
	}
	ffnRows := func(from int) engine.Tensor {
		return consume(b, b.Slice(x, from, min(from+chunk, L)), func(xs engine.Tensor) engine.Tensor {
			return blk.ffn(b, xs, mod)
		})
	}
	if adder, ok := b.(GatedRowAdder); ok {
		for from := 0; from < L; from += chunk {
			y := ffnRows(from)
			func() {
				defer b.Free(y)
				adder.AddGatedRows(x, y, mod.gate, from)
			}()
		}
		return
	}
	var ys []engine.Tensor
	defer func() { b.Free(ys...) }()
	for from := 0; from < L; from += chunk {
		ys = append(ys, ffnRows(from))
	}
	y := b.Concat(ys...)
	b.Free(ys...)
	ys = nil
	addGated(b, x, y, mod.gate)
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
	mod := func() modulation {
		E := b.Add(h.modulation, e)
		defer b.Free(E)
		r := splitRows(b, E, 2, h.dim)
		return modulation{shift: r[0], scale: r[1]}
	}()
	defer mod.free(b)
	return consume(b, mod.apply(b, x), func(a engine.Tensor) engine.Tensor { return h.head.forward(b, a) })
}
