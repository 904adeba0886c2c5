// Package dit is the WAN 2.x diffusion transformer (WanModel of the official
// code, spec/wan22.md §2), written once over engine.Backend.
//
// A Model is loaded from a GGUF or safetensors file whose tensors may mix
// ggml types (Q4_K, Q6_K, Q8_0, F16, BF16, F32); its configuration is
// inferred from the tensor shapes and every tensor's shape is checked at
// load, so a wrong file fails there with an error naming the tensor.
//
// One denoising call is
//
//	text, err := m.EmbedText(context, ctxLen) // once per prompt and model
//	v, err := m.Forward(x, y, dit.Grid{T, H, W}, t, text, nil)
//
// Patchify, the sinusoidal time embedding and the rotary tables are host
// computations in float64; everything else runs on the backend. The FFN runs
// FFNChunk token rows at a time so its [L, ffn_dim] intermediate never exists
// whole, and intermediates are freed as soon as they are used.
package dit

import (
	"fmt"
	"strconv"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// DefaultFFNChunk is the FFN row chunk a loaded model starts with: at the
// 14B's ffn_dim 13824 one bf16 [chunk, ffn] intermediate is 226 MB.
const DefaultFFNChunk = 8192

// Model is a loaded WAN DiT. Its methods must not be called concurrently.
type Model struct {
	Config Config
	// FFNChunk is the number of token rows the FFN processes at once.
	FFNChunk int

	b      engine.Backend
	loader *engine.Loader

	patchEmbedding linear    // patch_embedding: the Conv3d weight viewed as [dim, in·4]
	textEmbedding  [2]linear // text_embedding.0 [dim, text], text_embedding.2 [dim, dim]
	timeEmbedding  [2]linear // time_embedding.0 [dim, freq], time_embedding.2 [dim, dim]
	timeProjection linear    // time_projection.1 [6·dim, dim]
	blocks         []*block  // blocks.N
	head           *head     // head

	// rope caches the host RoPE tables of the last grid: every step of a
	// generation (two forwards each) uses the same one.
	rope struct {
		grid     Grid
		cos, sin []float32
	}
}

// Load reads a WAN DiT from src onto b. Names may carry the
// "model.diffusion_model." prefix. Tensors are copied onto the backend, so
// src may be closed afterwards. A missing, wrongly shaped or unexpected
// tensor is an error naming it.
func Load(b engine.Backend, src gguf.Source) (m *Model, err error) {
	v := newView(src)
	cfg, err := configFrom(v)
	if err != nil {
		return nil, err
	}
	l := engine.NewLoader(b, v)
	defer func() {
		if err != nil {
			l.FreeAll()
			m = nil
		}
	}()
	defer engine.Catch(&err)

	d := cfg.Dim
	m = &Model{Config: cfg, FFNChunk: DefaultFFNChunk, b: b, loader: l}
	pw := l.Weight("patch_embedding.weight", d, cfg.InDim, 1, 2, 2)
	m.patchEmbedding = linear{weight: b.Reshape(pw, d, cfg.InDim*4), bias: l.Weight("patch_embedding.bias", d)}
	m.textEmbedding = [2]linear{newLinear(l, "text_embedding.0", d, cfg.TextDim), newLinear(l, "text_embedding.2", d, d)}
	m.timeEmbedding = [2]linear{newLinear(l, "time_embedding.0", d, cfg.FreqDim), newLinear(l, "time_embedding.2", d, d)}
	m.timeProjection = newLinear(l, "time_projection.1", 6*d, d)
	for i := range cfg.Layers {
		m.blocks = append(m.blocks, newBlock(l, "blocks."+strconv.Itoa(i), cfg))
	}
	m.head = newHead(l, cfg)
	if name, ok := v.unused(); ok {
		return nil, fmt.Errorf("dit: tensor %q is not part of a WAN 2.2 DiT (%s); wrong model kind?", name, cfg)
	}
	return m, nil
}

// Free releases the model's weights. The model must not be used afterwards.
func (m *Model) Free() {
	if m.loader != nil {
		m.loader.FreeAll()
	}
}

// Text is a prompt embedded by one model's text_embedding: [TextLen, dim] on
// the backend. Embed each prompt once per model with EmbedText and reuse it
// for every step that model runs.
type Text struct {
	m   *Model
	emb engine.Tensor // [TextLen, dim]
}

// Free releases the embedding.
func (t *Text) Free() {
	if t != nil && t.emb != nil {
		t.m.b.Free(t.emb)
		t.emb = nil
	}
}

// EmbedText embeds a text-encoder output: context holds rows valid tokens
// [rows, TextDim]; it is zero-padded to TextLen rows, and the padded rows
// take part in cross-attention like the real ones (as in the official code).
func (m *Model) EmbedText(context []float32, rows int) (t *Text, err error) {
	defer engine.Catch(&err)
	c := m.Config
	if rows < 0 || rows > TextLen {
		return nil, fmt.Errorf("dit: %d context rows; the model takes at most %d", rows, TextLen)
	}
	if len(context) != rows*c.TextDim {
		return nil, fmt.Errorf("dit: context has %d values, want %d rows × %d", len(context), rows, c.TextDim)
	}
	padded := make([]float32, TextLen*c.TextDim)
	copy(padded, context)
	b := m.b
	h := consume(b, b.FromHost(padded, TextLen, c.TextDim), func(x engine.Tensor) engine.Tensor {
		return m.textEmbedding[0].forward(b, x)
	})
	g := consume(b, h, b.GELU)
	emb := consume(b, g, func(g engine.Tensor) engine.Tensor { return m.textEmbedding[1].forward(b, g) })
	return &Text{m: m, emb: emb}, nil
}

// Forward predicts the flow velocity for the noisy latent x [OutDim, T, H, W]
// and the conditioning y [InDim − OutDim, T, H, W] (nil for t2v) at timestep
// t with the embedded prompt text. It returns [OutDim, T, H, W].
//
// trace, when not nil, receives the named intermediates: "context_embedding"
// [TextLen, dim], "patch_embedding" [L, dim], "time_embedding" [dim] (e),
// "time_projection" [6, dim] (e0: shift, scale, gate of attention, then of
// the FFN), "blockN.self_attn" and "blockN.cross_attn" [L, dim] (the branch
// outputs before the residual), "blockN.out" [L, dim] and "head" [L, OutDim·4],
// with tokens in (frame, row, column) order.
func (m *Model) Forward(x, y []float32, g Grid, t float64, text *Text, trace engine.TraceFunc) (out []float32, err error) {
	defer engine.Catch(&err)
	c := m.Config
	if err := g.validate(); err != nil {
		return nil, err
	}
	if len(x) != c.OutDim*g.Size() || len(x)+len(y) != c.InDim*g.Size() {
		return nil, fmt.Errorf("dit: x has %d and y %d values; for a %d×%d×%d grid the model wants %d + %d",
			len(x), len(y), g.T, g.H, g.W, c.OutDim*g.Size(), (c.InDim-c.OutDim)*g.Size())
	}
	if text == nil || text.m != m || text.emb == nil {
		return nil, fmt.Errorf("dit: the text was not embedded by this model (or was freed); call EmbedText on it")
	}
	if m.FFNChunk <= 0 {
		return nil, fmt.Errorf("dit: FFNChunk is %d, must be positive", m.FFNChunk)
	}
	b := m.b
	trace.Emit("context_embedding", text.emb)

	e := m.timeEmbed(t)
	defer b.Free(e)
	trace.Emit("time_embedding", e)
	e0 := m.timeProject(e)
	defer b.Free(e0)
	trace.Emit("time_projection", e0)

	L := g.Tokens()
	if m.rope.cos == nil || m.rope.grid != g {
		m.rope.cos, m.rope.sin = ropeTables(g, HeadDim)
		m.rope.grid = g
	}
	cosH, sinH := m.rope.cos, m.rope.sin
	cos := b.FromHost(cosH, L, HeadDim/2)
	defer b.Free(cos)
	sin := b.FromHost(sinH, L, HeadDim/2)
	defer b.Free(sin)

	h := consume(b, b.FromHost(patchify(x, y, g), L, c.InDim*4), func(tok engine.Tensor) engine.Tensor {
		return m.patchEmbedding.forward(b, tok)
	})
	defer b.Free(h)
	trace.Emit("patch_embedding", h)

	for _, blk := range m.blocks {
		blk.forward(b, h, e0, text.emb, &rope{cos, sin}, m.FFNChunk, trace)
	}

	o := m.head.forward(b, h, e)
	defer b.Free(o)
	trace.Emit("head", o)
	return unpatchify(b.ToHost(o), g, c.OutDim), nil
}

// timeEmbed: t → e = time_embedding(sinusoid(t)) [dim].
func (m *Model) timeEmbed(t float64) engine.Tensor {
	b, c := m.b, m.Config
	h := consume(b, b.FromHost(sinusoid(t, c.FreqDim), 1, c.FreqDim), func(s engine.Tensor) engine.Tensor {
		return m.timeEmbedding[0].forward(b, s)
	})
	a := consume(b, h, b.SiLU)
	return reshape(b, consume(b, a, func(a engine.Tensor) engine.Tensor { return m.timeEmbedding[1].forward(b, a) }), c.Dim)
}

// timeProject: e [dim] → e0 = time_projection(SiLU(e)) [6, dim].
func (m *Model) timeProject(e engine.Tensor) engine.Tensor {
	b, d := m.b, m.Config.Dim
	return reshape(b, consume(b, b.SiLU(e), func(s engine.Tensor) engine.Tensor { return m.timeProjection.forward(b, s) }), 6, d)
}
