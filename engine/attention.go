package engine

import (
	"fmt"
	"strings"
)

// AttentionPrecision selects the arithmetic of the DiT's attention on backends that offer more than one
// (the CUDA backend; the CPU reference backend always computes in f32 and ignores it).
//
//   - AttentionBF16, the default: bf16 Q, K, V and P with f32 accumulation (FlashAttention-2 style).
//   - AttentionINT8: Q·Kᵀ in INT8 with per-block scales of Q and K, K smoothed by its mean over the tokens
//     (the SageAttention recipe), and P·V in INT8 (P as unsigned 8-bit, V with per-channel scales); every
//     GPU from sm_80 on.
//   - AttentionFP8: Q·Kᵀ as for INT8, P·V in FP8 (e4m3) with per-block V scales where the GPU has FP8
//     tensor cores (sm_89 and newer); elsewhere it runs as AttentionINT8.
//
// The CUDA backend runs the 8-bit modes for the self-attention only: key sequences of at most 2048 keys (the
// cross-attention over the text) run bf16, where the 8-bit kernels' quantization costs more than it saves.
//
// The 8-bit modes trade accuracy for speed: today 3–5e-2 relative error against f64 at the model's shapes
// (their goal is 3e-2; bf16 gets about 1.5e-3, bench/attention/README.md); they are opt-in and experimental
// until their quality is shown on real weights.
type AttentionPrecision string

const (
	AttentionBF16 AttentionPrecision = "bf16"
	AttentionINT8 AttentionPrecision = "int8"
	AttentionFP8  AttentionPrecision = "fp8"
)

// ParseAttentionPrecision reads "bf16", "int8" or "fp8" (any case; "" is bf16).
func ParseAttentionPrecision(s string) (AttentionPrecision, error) {
	switch p := AttentionPrecision(strings.ToLower(strings.TrimSpace(s))); p {
	case "":
		return AttentionBF16, nil
	case AttentionBF16, AttentionINT8, AttentionFP8:
		return p, nil
	}
	return "", fmt.Errorf("attention precision %q not understood: use bf16 (default), int8 or fp8", s)
}

// AttentionPrecisionSetter is implemented by backends with more than one attention precision. Models do
// not call it; the pipeline sets the precision once, before the first forward.
type AttentionPrecisionSetter interface {
	// SetAttentionPrecision makes later Attention calls with head dim 128 use p. It returns an error when
	// the backend cannot run p at all (a mode the device lacks but can stand in for is not an error: the
	// backend logs what it runs instead).
	SetAttentionPrecision(p AttentionPrecision) error
}
