package dit

import (
	"fmt"
	"math"
	"strconv"

	"github.com/wan22/wan22/engine/internal/synthrand"
	"github.com/wan22/wan22/gguf"
)

// Synthetic experts: random weights with a real model's names, shapes and
// per-tensor types, for benchmarks and memory tests without the 15–29 GB
// downloads, written by engine/internal/synthrand: a 15 GB Q8_0 file writes
// at disk speed and the generator holds a few tiles in memory, never the
// model.

// WriteSynthetic writes a WAN DiT of shape cfg with random weights to path,
// laid out as a city96 GGUF with the "model.diffusion_model." name prefix
// and general.architecture "wan":
//   - the block linears (blocks.N.{self_attn,cross_attn}.{q,k,v,o}.weight,
//     blocks.N.ffn.{0,2}.weight) in weightType; a row length that is not a
//     whole number of weightType blocks falls back to F16, as city96's
//     quantizer does;
//   - the other matrices (text, time and head embeddings) in F16, or in
//     weightType when that is F32, F16 or BF16;
//   - biases, norms, modulations and tensors of at most 1024 elements in F32;
//   - patch_embedding.weight as a 5-D F32 tensor [dim, in, 1, 2, 2].
//
// Weights are N(0, 1/fan_in), biases N(0, 0.02²), norm weights N(1, 0.02²),
// modulations N(0, 1/dim), so activations stay O(1) through any depth. The
// same seed gives the same file. weightType must be one gguf.Quantize
// supports.
func WriteSynthetic(path string, cfg Config, weightType gguf.Type, seed int64) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if !weightType.Known() {
		return fmt.Errorf("dit: synthetic weight type %v is unknown", weightType)
	}
	return writeSynthetic(path, syntheticTensors(cfg, weightType), seed, cfg)
}

// writeSynthetic writes the tensors ts (bare names) as a city96 GGUF.
func writeSynthetic(path string, ts []synthrand.Tensor, seed int64, cfg Config) error {
	if err := synthrand.WriteGGUF(path, syntheticMeta(cfg, seed), prefixed(ts), seed); err != nil {
		return fmt.Errorf("dit: writing synthetic model: %w", err)
	}
	return nil
}

// syntheticMeta sets the metadata of a synthetic expert.
func syntheticMeta(cfg Config, seed int64) func(*gguf.Writer) {
	return func(w *gguf.Writer) {
		w.SetKV(gguf.KeyArchitecture, "wan")
		w.SetKV("general.name", "wan22 synthetic "+cfg.String())
		w.SetKV("wan22.synthetic.seed", seed)
	}
}

// prefixed returns ts with Prefix before every name, as city96's files have.
func prefixed(ts []synthrand.Tensor) []synthrand.Tensor {
	out := make([]synthrand.Tensor, len(ts))
	for i, t := range ts {
		t.Name = Prefix + t.Name
		out[i] = t
	}
	return out
}

// syntheticTensors lists the tensors of a WAN DiT of shape cfg in state-dict
// order, with the types city96's converter and quantizer give them.
func syntheticTensors(cfg Config, weightType gguf.Type) []synthrand.Tensor {
	big := gguf.TypeF16
	switch weightType {
	case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16:
		big = weightType
	}
	d := int64(cfg.Dim)
	var ts []synthrand.Tensor
	add := func(name string, typ gguf.Type, ds synthrand.Dist, shape ...int64) {
		t := synthrand.Tensor{Name: name, Type: typ, Shape: shape, Dist: ds}
		if t.Elems() <= 1024 || len(shape) == 1 {
			t.Type = gguf.TypeF32
		}
		ts = append(ts, t)
	}
	bias := normal(0, 0.02)
	linear := func(name string, typ gguf.Type, out, in int64) {
		if bs := int64(typ.BlockSize()); bs > 1 && in%bs != 0 {
			typ = gguf.TypeF16
		}
		add(name+".weight", typ, normal(0, 1/math.Sqrt(float64(in))), out, in)
		add(name+".bias", gguf.TypeF32, bias, out)
	}
	in, text, freq, ffn := int64(cfg.InDim), int64(cfg.TextDim), int64(cfg.FreqDim), int64(cfg.FFNDim)

	add("patch_embedding.bias", gguf.TypeF32, bias, d)
	add("patch_embedding.weight", gguf.TypeF32, normal(0, 1/math.Sqrt(float64(in*4))), d, in, 1, 2, 2)
	linear("text_embedding.0", big, d, text)
	linear("text_embedding.2", big, d, d)
	linear("time_embedding.0", big, d, freq)
	linear("time_embedding.2", big, d, d)
	linear("time_projection.1", big, 6*d, d)
	modulation := normal(0, 1/math.Sqrt(float64(d)))
	for i := range cfg.Layers {
		p := "blocks." + strconv.Itoa(i)
		add(p+".modulation", gguf.TypeF32, modulation, 1, 6, d)
		for _, attn := range []string{".self_attn", ".cross_attn"} {
			for _, n := range []string{".q", ".k", ".v", ".o"} {
				linear(p+attn+n, weightType, d, d)
			}
			add(p+attn+".norm_q.weight", gguf.TypeF32, normal(1, 0.02), d)
			add(p+attn+".norm_k.weight", gguf.TypeF32, normal(1, 0.02), d)
			if attn == ".self_attn" {
				add(p+".norm3.weight", gguf.TypeF32, normal(1, 0.02), d)
				add(p+".norm3.bias", gguf.TypeF32, bias, d)
			}
		}
		linear(p+".ffn.0", weightType, ffn, d)
		linear(p+".ffn.2", weightType, d, ffn)
	}
	add("head.modulation", gguf.TypeF32, modulation, 1, 2, d)
	linear("head.head", big, int64(cfg.OutDim)*4, d)
	return ts
}

// normal is the distribution N(mean, std²).
func normal(mean, std float64) synthrand.Dist { return synthrand.Dist{Mean: mean, Std: std} }
