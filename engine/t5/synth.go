package t5

import (
	"fmt"
	"math"
	"strconv"

	"github.com/wan22/wan22/engine/internal/synthrand"
	"github.com/wan22/wan22/engine/tokenizer"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/plural"
)

// Synthetic encoders: random weights in the layout of city96's umT5 GGUF
// files (llama.cpp names, general.architecture "t5encoder") with a working
// synthetic tokenizer in the metadata (tokenizer.SyntheticMetadata), for
// benchmarks and the demo without the 6–11 GB download. Weights stream from
// tiles of random values (engine/internal/synthrand), so the 11 GB BF16 file
// writes at disk speed in a few tens of MB.

// UMT5XXL is the configuration of umT5-XXL, the text encoder of WAN 2.x.
func UMT5XXL() Config {
	return Config{Vocab: 256384, Dim: 4096, Inner: 4096, Heads: 64, FFN: 10240, Layers: 24}
}

// Tiny is a small umT5-shaped encoder for tests and the demo: a 2048-piece
// synthetic vocabulary, width 64, 4 heads, gated FFN 160, 3 layers.
func Tiny() Config {
	return Config{Vocab: 2048, Dim: 64, Inner: 64, Heads: 4, FFN: 160, Layers: 3}
}

// validateSynthetic checks that cfg and weightType describe a file
// WriteSynthetic can write and Load can read.
func validateSynthetic(cfg Config, weightType gguf.Type) error {
	for _, f := range []struct {
		name string
		v    int
	}{{"vocab", cfg.Vocab}, {"dim", cfg.Dim}, {"inner", cfg.Inner}, {"heads", cfg.Heads}, {"ffn", cfg.FFN}, {"layers", cfg.Layers}} {
		if f.v <= 0 || f.v > 1<<24 {
			return fmt.Errorf("t5: synthetic config %s is %d, must be in [1, %d]", f.name, f.v, 1<<24)
		}
	}
	if cfg.Inner%cfg.Heads != 0 {
		return fmt.Errorf("t5: synthetic config: attention width %d is not a multiple of %d heads", cfg.Inner, cfg.Heads)
	}
	if cfg.Layers > maxLayers {
		return fmt.Errorf("t5: synthetic config has %d layers, at most %d", cfg.Layers, maxLayers)
	}
	if cfg.Vocab < tokenizer.SyntheticMinVocab {
		return fmt.Errorf("t5: synthetic config vocab %d: the synthetic tokenizer needs at least %d pieces", cfg.Vocab, tokenizer.SyntheticMinVocab)
	}
	switch weightType {
	case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0, gguf.TypeQ4_K, gguf.TypeQ6_K:
	default:
		return fmt.Errorf("t5: synthetic weight type %v is not supported (use Q8_0, BF16, F16, F32, Q6_K or Q4_K)", weightType)
	}
	return nil
}

// syntheticTensors lists the encoder's tensors with llama.cpp names in the
// order of city96's files: the token embedding and the projections in
// weightType (F16 where a row is not a whole number of weightType blocks,
// as llama.cpp's quantizer falls back), norms and relative position biases
// in F32.
//
// Statistics keep activations finite and O(1) through any depth: embedding
// N(0, 1); k, v, gate, up N(0, 1/dim); q N(0, 1/(dim·head_dim)), which
// gives T5's unscaled attention logits of O(1) as T5's own initialization
// does; o N(0, 1/inner); down N(0, 1/ffn); norm weights N(1, 0.02²);
// relative biases N(0, 0.5²). The residual stream grows by O(1) per layer
// and the final norm brings it back to unit RMS.
func syntheticTensors(cfg Config, weightType gguf.Type) []synthrand.Tensor {
	var ts []synthrand.Tensor
	norm := synthrand.Dist{Mean: 1, Std: 0.02}
	add := func(name string, typ gguf.Type, d synthrand.Dist, shape ...int64) {
		ts = append(ts, synthrand.Tensor{Name: name, Type: typ, Shape: shape, Dist: d})
	}
	matrix := func(name string, out, in int, std float64) {
		typ := weightType
		if bs := typ.BlockSize(); in%bs != 0 {
			typ = gguf.TypeF16
		}
		add(name, typ, synthrand.Dist{Std: std}, int64(out), int64(in))
	}
	inv := func(n int) float64 { return 1 / math.Sqrt(float64(n)) }
	d, in, f := cfg.Dim, cfg.Inner, cfg.FFN
	n := namings[0] // llama.cpp
	matrix(n.embd[0], cfg.Vocab, d, 1)
	for i := range cfg.Layers {
		p := n.block + strconv.Itoa(i) + "."
		add(p+n.attnNorm, gguf.TypeF32, norm, int64(d))
		matrix(p+n.q, in, d, inv(d*cfg.HeadDim()))
		matrix(p+n.k, in, d, inv(d))
		matrix(p+n.v, in, d, inv(d))
		matrix(p+n.o, d, in, inv(in))
		add(p+n.ffnNorm, gguf.TypeF32, norm, int64(d))
		matrix(p+n.gate, f, d, inv(d))
		matrix(p+n.up, f, d, inv(d))
		matrix(p+n.down, d, f, inv(f))
		add(p+n.relB, gguf.TypeF32, synthrand.Dist{Std: 0.5}, numBuckets, int64(cfg.Heads))
	}
	add(n.norm, gguf.TypeF32, norm, int64(d))
	return ts
}

// syntheticMeta returns the metadata writer of a synthetic encoder: the
// llama.cpp t5encoder keys and the tokenizer.
func syntheticMeta(cfg Config, seed int64) (func(*gguf.Writer), error) {
	tok, err := tokenizer.SyntheticMetadata(cfg.Vocab)
	if err != nil {
		return nil, fmt.Errorf("t5: %w", err)
	}
	return func(w *gguf.Writer) {
		const a = "t5encoder"
		w.SetKV(gguf.KeyArchitecture, a)
		w.SetKV("general.name", fmt.Sprintf("wan22 synthetic umT5: vocab %d, dim %d, %s, %s, ffn %d",
			cfg.Vocab, cfg.Dim, plural.Count(cfg.Layers, "layer"), plural.Count(cfg.Heads, "head"), cfg.FFN))
		w.SetKV("wan22.synthetic.seed", seed)
		w.SetKV(a+".context_length", uint32(TextLen))
		w.SetKV(a+".embedding_length", uint32(cfg.Dim))
		w.SetKV(a+".feed_forward_length", uint32(cfg.FFN))
		w.SetKV(a+".block_count", uint32(cfg.Layers))
		w.SetKV(a+".attention.head_count", uint32(cfg.Heads))
		w.SetKV(a+".attention.key_length", uint32(cfg.HeadDim()))
		w.SetKV(a+".attention.value_length", uint32(cfg.HeadDim()))
		w.SetKV(a+".attention.layer_norm_epsilon", float32(Eps))
		w.SetKV(a+".attention.relative_buckets_count", uint32(numBuckets))
		for _, kv := range tok {
			w.SetKV(kv.Key, kv.Value)
		}
	}, nil
}

// WriteSynthetic writes a umT5 encoder of shape cfg with random weights to
// path as a GGUF file in the layout of city96's umt5-xxl files, with a
// synthetic tokenizer of cfg.Vocab pieces in its tokenizer.ggml.* metadata
// (see syntheticTensors for the types and statistics). The file is written
// through a temporary file renamed on success; the same seed gives the same
// bytes. weightType is one of Q8_0, BF16, F16, F32, Q6_K, Q4_K.
func WriteSynthetic(path string, cfg Config, weightType gguf.Type, seed int64) error {
	if err := validateSynthetic(cfg, weightType); err != nil {
		return err
	}
	meta, err := syntheticMeta(cfg, seed)
	if err != nil {
		return err
	}
	if err := synthrand.WriteGGUF(path, meta, syntheticTensors(cfg, weightType), seed); err != nil {
		return fmt.Errorf("t5: writing synthetic encoder: %w", err)
	}
	return nil
}

// SyntheticSize returns the exact size in bytes of the file WriteSynthetic
// writes for cfg and weightType, without writing anything (for a disk
// space check before a long write).
func SyntheticSize(cfg Config, weightType gguf.Type) (int64, error) {
	if err := validateSynthetic(cfg, weightType); err != nil {
		return 0, err
	}
	meta, err := syntheticMeta(cfg, 0)
	if err != nil {
		return 0, err
	}
	return synthrand.GGUFSize(meta, syntheticTensors(cfg, weightType))
}
