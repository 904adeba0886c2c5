package t5

import (
	"context"
	"errors"
	"fmt"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/tokenizer"
	"github.com/wan22/wan22/gguf"
)

// Tokens is one tokenized prompt: ids and mask as the tokenizer pads them
// (mask 1 for the valid tokens, then 0), as Encoder.Encode takes them.
type Tokens struct {
	IDs, Mask []int32
}

// EncodeStreaming runs the encoder over several prompts with at most one
// block's weights on b at a time: the embedding rows of the prompts' tokens
// are read and dequantized on the host, then each block is loaded from src,
// run on every prompt's residual stream and freed before the next one loads,
// and the final norm last. Every block crosses to the device once, whatever
// the number of prompts. The outputs are the valid rows of each prompt,
// out[i] [ns[i], Dim] row-major, the same values as Load + Encode computes
// (the same ops in the same order on the same backend); only its default
// mode (valid tokens only, not FullLength) is offered. The peak device memory
// is StreamingPeak. On failure nothing stays allocated on b. ctx is checked
// before every block is loaded: once it is done, EncodeStreaming stops and
// returns an error wrapping ctx.Err().
func EncodeStreaming(ctx context.Context, b engine.Backend, src gguf.Source, prompts []Tokens) (out [][]float32, ns []int, err error) {
	if b == nil || src == nil {
		return nil, nil, errors.New("t5: EncodeStreaming needs a backend and a model file")
	}
	if len(prompts) == 0 {
		return nil, nil, errors.New("t5: EncodeStreaming: no prompts")
	}
	n, err := resolveNames(src)
	if err != nil {
		return nil, nil, err
	}
	ns = make([]int, len(prompts))
	for i, p := range prompts {
		if ns[i], err = validLength(p.IDs, p.Mask); err != nil {
			return nil, nil, fmt.Errorf("prompt %d: %w", i, err)
		}
	}
	// xs are the residual streams [ns[i], Dim], one per prompt.
	xs := make([]engine.Tensor, len(prompts))
	defer func() { b.Free(xs...) }()
	defer func() {
		if err != nil {
			err = fmt.Errorf("t5: streaming the %s-named encoder: %w", n.name, err)
		}
	}()
	defer engine.Catch(&err)

	cfg := inferConfig(&loader{Loader: engine.NewLoader(nil, src), n: n})
	for i, p := range prompts {
		xs[i] = b.FromHost(embedRows(src, n, cfg, p.IDs[:ns[i]]), ns[i], cfg.Dim)
	}
	buckets := make([][]int32, len(prompts)) // shared by every layer's bias
	for i := range prompts {
		buckets[i] = offsetBuckets(ns[i], ns[i])
	}
	for layer := range cfg.Layers {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("stopped before block %d: %w", layer, err)
		}
		withLoader(b, src, n, func(l *loader) {
			blk := newBlock(l, cfg, layer)
			for i, x := range xs {
				blk.forward(b, cfg, x, ns[i], buckets[i])
			}
		})
	}
	out = make([][]float32, len(prompts))
	withLoader(b, src, n, func(l *loader) {
		norm := l.weight(n.finalNorm(), cfg.Dim, cfg.Dim)
		for i, x := range xs {
			y := norm.rmsNorm(b, x)
			out[i] = func() []float32 { defer b.Free(y); return b.ToHost(y) }()
		}
	})
	return out, ns, nil
}

// withLoader runs f with a fresh loader on b and frees everything it loaded
// when f returns or panics.
func withLoader(b engine.Backend, src gguf.Source, n *names, f func(*loader)) {
	l := &loader{Loader: engine.NewLoader(b, src), n: n}
	defer func() {
		l.FreeAll()
		b.Free(l.extra...)
	}()
	f(l)
}

// embedRows returns the token embedding's rows for ids, [len(ids), Dim]
// row-major, dequantized on the host and multiplied by the embedding's
// scale, as Rows followed by the scale does on a backend.
func embedRows(src gguf.Source, n *names, c Config, ids []int32) []float32 {
	name := n.embedding(src)
	ti, _ := src.Lookup(name) // inferConfig checked its shape
	rowBytes, err := ti.Type.RowBytes(int64(c.Dim))
	if err != nil {
		engine.Failf("load", "tensor %q: %v", name, err)
	}
	data, err := src.Data(name)
	if err != nil {
		engine.Failf("load", "reading tensor %q: %v", name, err)
	}
	if int64(len(data)) < int64(c.Vocab)*rowBytes {
		engine.Failf("load", "tensor %q holds %d bytes, want %d rows of %d", name, len(data), c.Vocab, rowBytes)
	}
	l := &loader{Loader: engine.NewLoader(nil, src), n: n}
	sname, s, scaled := l.scale(name)
	if scaled && (s != s || s == 0 || s > 3.4e38 || s < -3.4e38) {
		engine.Failf("load", "tensor %q: scale %v is not a usable number", sname, s)
	}
	out := make([]float32, len(ids)*c.Dim)
	for i, id := range ids {
		if id < 0 || int(id) >= c.Vocab {
			engine.Failf("Rows", "token id %d out of range [0, %d) of the embedding %q", id, c.Vocab, name)
		}
		dst := out[i*c.Dim : (i+1)*c.Dim]
		if err := gguf.Dequantize(ti.Type, data[int64(id)*rowBytes:int64(id+1)*rowBytes], dst); err != nil {
			engine.Failf("Rows", "tensor %q: %v", name, err)
		}
		if scaled && s != 1 {
			for j := range dst {
				dst[j] *= s
			}
		}
	}
	return out
}

// EncodeTextsStreaming is EncodeText for several prompts with
// EncodeStreaming: each prompt is cleaned and tokenized as EncodeText does,
// and the encoder streams from src onto b one block at a time. Prompts
// longer than TextLen tokens are truncated as EncodeText truncates them
// (PromptLength tells which).
func EncodeTextsStreaming(ctx context.Context, tok *tokenizer.Tokenizer, b engine.Backend, src gguf.Source, prompts ...string) (texts [][]float32, ns []int, err error) {
	if tok == nil {
		return nil, nil, errors.New("t5: EncodeTextsStreaming needs a tokenizer")
	}
	c, _, err := Inspect(src)
	if err != nil {
		return nil, nil, err
	}
	if tok.Vocab() > c.Vocab {
		return nil, nil, fmt.Errorf("t5: the tokenizer has %d pieces but the encoder's embedding only %d rows: they are not from the same model", tok.Vocab(), c.Vocab)
	}
	ts := make([]Tokens, len(prompts))
	for i, p := range prompts {
		ts[i].IDs, ts[i].Mask = tok.EncodePadded(tokenizer.Clean(p), TextLen)
	}
	return EncodeStreaming(ctx, b, src, ts)
}
