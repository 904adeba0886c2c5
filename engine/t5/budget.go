package t5

import (
	"errors"
	"fmt"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// Device memory of the text encoder, resident (Load + Encode) or streamed
// layer by layer (EncodeStreaming).
//
// The peak is the weights (at their file type: the backends keep it) plus
// the activations of one TextLen-token prompt in float32 — the attention
// scores and the bias [heads, L, L], the FFN's three [L, ffn] tensors, q, k,
// v and the attention output, the residual and the normed input — plus, for
// quantized weights, the dequantization scratch of the widest projection.
// Calibrated on the H100 with the CUDA backend in PrecisionF32 (the
// encoder's default there; docs/BENCHMARKS.md, "DiT on CUDA", 2026-11-24,
// umT5-XXL, one 512-token prompt):
//
//	BF16 weights  10.81 GiB (weights 10.58): activations 0.23 GiB, which the
//	              activation formula gives exactly
//	Q8_0 weights   6.22 GiB (weights 5.62): 0.37 GiB more, the scratch,
//	              9.5 bytes per element of the 10240×4096 FFN projection
const (
	// quantScratchPerElem is the dequantization scratch per element of the
	// widest weight, for weights that are not F32, F16 or BF16.
	quantScratchPerElem = 9.5
	// activationMargin scales the activation terms.
	activationMargin = 1.05
)

// typeBytes is the size of n elements of type t (rounded up to whole blocks).
func typeBytes(t gguf.Type, n int64) int64 {
	bs, bb := int64(t.BlockSize()), int64(t.BlockBytes())
	if bs <= 0 || bb <= 0 {
		return 4 * n // unknown type: count F32
	}
	return (n + bs - 1) / bs * bb
}

// layerBytes is one block's weights with matrices of type t; the norms and
// the relative bias table count as F32.
func layerBytes(c Config, t gguf.Type) int64 {
	d, in, f := int64(c.Dim), int64(c.Inner), int64(c.FFN)
	return 3*typeBytes(t, in*d) + typeBytes(t, d*in) + 2*typeBytes(t, f*d) + typeBytes(t, d*f) +
		4*(2*d+numBuckets*int64(c.Heads))
}

// WeightBytes is the device memory of the whole encoder's weights with
// matrices (and the embedding) of type t.
func WeightBytes(c Config, t gguf.Type) int64 {
	return typeBytes(t, int64(c.Vocab)*int64(c.Dim)) + int64(c.Layers)*layerBytes(c, t) + 4*int64(c.Dim)
}

// activationBytes is the activation and scratch peak of one block over
// TextLen tokens, and one more residual stream per extra prompt.
func activationBytes(c Config, t gguf.Type, prompts int) int64 {
	L := int64(TextLen)
	d, in, f, h := int64(c.Dim), int64(c.Inner), int64(c.FFN), int64(c.Heads)
	act := float64(4 * L * (2*h*L + 3*f + 4*in + 2*d + int64(max(prompts-1, 0))*d))
	switch t {
	case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16:
	default:
		act += quantScratchPerElem * float64(max(f*d, in*d))
	}
	return int64(activationMargin * act)
}

// Peak estimates the device memory of Load and Encode: every weight
// resident, one prompt at a time.
func Peak(c Config, weightType gguf.Type) int64 {
	return WeightBytes(c, weightType) + activationBytes(c, weightType, 1)
}

// StreamingPeak estimates the device memory of EncodeStreaming over the
// given number of prompts: one block's weights, the final norm and the
// prompts' residual streams (the embedding rows are looked up on the host).
func StreamingPeak(c Config, weightType gguf.Type, prompts int) int64 {
	return layerBytes(c, weightType) + 4*int64(c.Dim) + activationBytes(c, weightType, prompts)
}

// BudgetError is a text encoder that cannot fit the device budget even
// streamed layer by layer.
type BudgetError struct {
	Need, Budget int64 // bytes: the streaming estimate and what is available
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("t5: the text encoder needs at least %.2f GiB of device memory even streamed layer by layer, but the budget leaves %.2f GiB: raise the VRAM budget to at least %.2f GiB",
		gib(e.Need), gib(e.Budget), gib(e.Need))
}

func gib(b int64) float64 { return float64(b) / (1 << 30) }

// PlanEncode decides how to run the encoder over the given number of
// prompts within budget device bytes (what is free before it loads; ≤ 0: no
// limit): resident (stream false) when Peak fits, streamed layer by layer
// when StreamingPeak fits, else a *BudgetError naming the minimum budget.
func PlanEncode(c Config, weightType gguf.Type, prompts int, budget int64) (stream bool, err error) {
	if budget <= 0 || Peak(c, weightType) <= budget {
		return false, nil
	}
	if need := StreamingPeak(c, weightType, prompts); need > budget {
		return false, &BudgetError{Need: need, Budget: budget}
	}
	return true, nil
}

// Inspect reads the encoder's configuration and the type of its block
// weights (block 0's FFN gate) from the tensor shapes, without loading
// anything: what Peak and PlanEncode need before the model loads.
func Inspect(src gguf.Source) (c Config, weightType gguf.Type, err error) {
	if src == nil {
		return c, 0, errors.New("t5: Inspect needs a model file")
	}
	n, err := resolveNames(src)
	if err != nil {
		return c, 0, err
	}
	defer engine.Catch(&err)
	c = inferConfig(&loader{Loader: engine.NewLoader(nil, src), n: n})
	ti, _ := src.Lookup(n.blockName(0, n.gate)) // inferConfig checked it exists
	return c, ti.Type, nil
}
