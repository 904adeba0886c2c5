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
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/wan22/wan22/blockswap"
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

	b       engine.Backend
	loaders []*engine.Loader // every weight, for Free: the model's loader and one per swapped block

	// residency, when set, is called around every block's compute (the
	// block schedule of a swapped model, or a test's recorder).
	residency Residency
	swap      *swapState // the swapped blocks' storage and schedule; nil when every block is resident
	plan      blockswap.Plan
	lora      *loraState // attached LoRAs (lora.go); nil: none

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
// tensor is an error naming it. Every block is resident; LoadForRun plans
// block swapping within a budget.
func Load(b engine.Backend, src gguf.Source) (*Model, error) {
	return load(context.Background(), b, newView(src), nil)
}

// load reads the model through v; blockBackend, when not nil, gives the
// backend each block's weights are made on (a swapped block's slab view).
// ctx is checked before every tensor is read: once it is cancelled, load
// frees what it made and returns an error wrapping ctx.Err().
func load(ctx context.Context, b engine.Backend, v *view, blockBackend func(i int) engine.Backend) (m *Model, err error) {
	if err := loadStopped(ctx, "before the first tensor"); err != nil {
		return nil, err
	}
	cfg, err := configFrom(v)
	if err != nil {
		return nil, err
	}
	defer v.loading(ctx)()
	l := engine.NewLoader(b, v)
	model := &Model{Config: cfg, FFNChunk: DefaultFFNChunk, b: b, loaders: []*engine.Loader{l}}
	m = model
	defer func() {
		if err != nil {
			if stop := loadStopped(ctx, "part way"); stop != nil && !errors.Is(err, ctx.Err()) {
				err = stop // the loader reported the view's refusal to read as a plain error
			}
			model.Free()
			m = nil
		}
	}()
	defer engine.Catch(&err)

	d := cfg.Dim
	pw := l.Weight("patch_embedding.weight", d, cfg.InDim, 1, 2, 2)
	m.patchEmbedding = linear{weight: b.Reshape(pw, d, cfg.InDim*4), bias: l.Weight("patch_embedding.bias", d)}
	m.textEmbedding = [2]linear{newLinear(l, "text_embedding.0", d, cfg.TextDim), newLinear(l, "text_embedding.2", d, d)}
	m.timeEmbedding = [2]linear{newLinear(l, "time_embedding.0", d, cfg.FreqDim), newLinear(l, "time_embedding.2", d, d)}
	m.timeProjection = newLinear(l, "time_projection.1", 6*d, d)
	for i := range cfg.Layers {
		if err := loadStopped(ctx, fmt.Sprintf("before block %d of %d", i, cfg.Layers)); err != nil {
			return nil, err
		}
		bl := l
		if blockBackend != nil {
			if bb := blockBackend(i); bb != nil {
				bl = engine.NewLoader(bb, v)
				m.loaders = append(m.loaders, bl)
			}
		}
		m.blocks = append(m.blocks, newBlock(bl, "blocks."+strconv.Itoa(i), cfg))
	}
	m.head = newHead(l, cfg)
	if name, ok := v.unused(); ok {
		return nil, fmt.Errorf("dit: tensor %q is not part of a WAN 2.2 DiT (%s); wrong model kind?", name, cfg)
	}
	return m, nil
}

// loadStopped returns nil while ctx is live, else an error wrapping
// ctx.Err() that says where the load stopped ("before block 3 of 40").
func loadStopped(ctx context.Context, where string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dit: loading stopped %s: %w", where, err)
	}
	return nil
}

// Free releases the model's weights, and for a swapped model its slabs and
// device slots. The model must not be used afterwards. Close does the same
// and reports a failure to release the swapped blocks' storage.
func (m *Model) Free() { _ = m.Close() }

// Close releases everything the model holds, like Free, and returns the
// error of releasing a swapped model's slabs and slots, if any.
func (m *Model) Close() error {
	m.DetachLoRAs()
	for _, l := range m.loaders {
		l.FreeAll()
	}
	m.loaders = nil
	m.residency = nil
	var err error
	if m.swap != nil {
		err = m.swap.close()
		m.swap = nil
	}
	return err
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
func (m *Model) Forward(x, y []float32, g Grid, t float64, text *Text, trace engine.TraceFunc) ([]float32, error) {
	outs, err := m.forward(context.Background(), x, y, g, t, []*Text{text}, trace)
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}

// ForwardCFG runs the conditional pass with cond and, when uncond is not nil,
// the unconditional pass with uncond, block by block: both residual streams
// go through block i before block i+1 starts, so a block whose weights are
// swapped in is moved once per step, not once per pass. The results equal
// two Forward calls. ctx is checked before every block: a cancelled context
// stops the pass within one block and returns its error, with every
// intermediate released.
func (m *Model) ForwardCFG(ctx context.Context, x, y []float32, g Grid, t float64, cond, uncond *Text) (vc, vu []float32, err error) {
	texts := []*Text{cond}
	if uncond != nil {
		texts = append(texts, uncond)
	}
	outs, err := m.forward(ctx, x, y, g, t, texts, nil)
	if err != nil {
		return nil, nil, err
	}
	if uncond != nil {
		vu = outs[1]
	}
	return outs[0], vu, nil
}

// forward runs one residual stream per text through the model, block by
// block. trace is honoured for a single stream only.
func (m *Model) forward(ctx context.Context, x, y []float32, g Grid, t float64, texts []*Text, trace engine.TraceFunc) (outs [][]float32, err error) {
	defer engine.Catch(&err)
	c := m.Config
	if err := g.validate(); err != nil {
		return nil, err
	}
	if len(x) != c.OutDim*g.Size() || len(x)+len(y) != c.InDim*g.Size() {
		return nil, fmt.Errorf("dit: x has %d and y %d values; for a %d×%d×%d grid the model wants %d + %d",
			len(x), len(y), g.T, g.H, g.W, c.OutDim*g.Size(), (c.InDim-c.OutDim)*g.Size())
	}
	for _, text := range texts {
		if text == nil || text.m != m || text.emb == nil {
			return nil, fmt.Errorf("dit: the text was not embedded by this model (or was freed); call EmbedText on it")
		}
	}
	if m.FFNChunk <= 0 {
		return nil, fmt.Errorf("dit: FFNChunk is %d, must be positive", m.FFNChunk)
	}
	if len(texts) > 1 {
		trace = nil
	}
	b := m.b
	trace.Emit("context_embedding", texts[0].emb)

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

	tokens := patchify(x, y, g)
	hs := make([]engine.Tensor, len(texts)) // the residual streams [L, dim]
	defer func() { b.Free(hs...) }()
	for s := range hs {
		hs[s] = consume(b, b.FromHost(tokens, L, c.InDim*4), func(tok engine.Tensor) engine.Tensor {
			return m.patchEmbedding.forward(b, tok)
		})
	}
	trace.Emit("patch_embedding", hs[0])

	held := -1 // the block acquired and not yet released, released if an op fails
	defer func() {
		if held >= 0 && m.residency != nil {
			_ = m.residency.Release(held)
		}
	}()
	for i, blk := range m.blocks {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("dit: stopped before block %d: %w", i, err)
		}
		if m.residency != nil {
			if err := m.residency.Acquire(i); err != nil {
				return nil, fmt.Errorf("dit: making block %d resident: %w", i, err)
			}
			held = i
		}
		for s, h := range hs {
			blk.forward(b, h, e0, texts[s].emb, &rope{cos, sin}, m.FFNChunk, trace)
		}
		if m.residency != nil {
			held = -1
			if err := m.residency.Release(i); err != nil {
				return nil, fmt.Errorf("dit: releasing block %d: %w", i, err)
			}
		}
	}

	outs = make([][]float32, len(hs))
	for s, h := range hs {
		o := m.head.forward(b, h, e)
		if s == 0 {
			trace.Emit("head", o)
		}
		host := func() []float32 { defer b.Free(o); return b.ToHost(o) }()
		outs[s] = unpatchify(host, g, c.OutDim)
	}
	return outs, nil
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
