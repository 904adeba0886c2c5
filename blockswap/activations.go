package blockswap

// PoolSlack is the fraction added to the activations for the CUDA activation
// pool's size classes (eight per power of two above 1 MiB, so a buffer is at
// most 12.5% bigger than asked) and fragmentation between classes.
// Calibrated on the H100 (docs/BENCHMARKS.md): 14B, 832×480×81, CFG, the
// pool peaked at 2.71 GB where this estimate gives 3.53 GB.
const PoolSlack = 0.15

// Activations describes one DiT run for ActivationPeak. Sizes are in elements.
type Activations struct {
	Tokens   int // L: latent tokens of one stream (frames/4+1 × H/16 × W/16)
	Dim      int // model width (5120 for the 14B)
	FFNDim   int // FFN hidden width (13824 for the 14B)
	FFNChunk int // token rows the FFN processes at once; 0 or ≥ Tokens: unchunked
	Heads    int // attention heads; the rotary tables have Dim/Heads/2 columns (64 when Heads is 0)
	TextLen  int // text context length (512)
	// Streams is 2 under CFG with both residual streams alive (blocks are
	// visited once per step with the conditional and the unconditional stream),
	// else 1. 0 counts as 1.
	Streams int
	// WeightScratch is the GEMM's dequantization scratch: the largest quantized
	// weight as bf16 bytes; 0 for bf16/f16 weights. The caller computes it.
	WeightScratch int64
}

// ActivationPeak estimates the device bytes the DiT's activations take at
// their peak under the CUDA backend (its activation pool and GEMM scratch),
// for the VRAM planner. With L = Tokens, D = Dim, T = TextLen,
// c = min(FFNChunk, L), F = FFNDim, r = Dim/Heads/2:
//
//	per stream, alive for the whole pass:
//	  residual stream x        f32  [L, D]        4·L·D
//	  text context             f32  [T, D]        4·T·D
//	the larger phase of the block being computed, for one stream:
//	  attention: the bf16 shadow of the normalized input, q, k, v and the
//	  attention output (bf16 [L, D] ×5)            10·L·D
//	  plus cross-attention k, v bf16 [T, D] ×2    4·T·D
//	  or the FFN chunk: GEMM out and GELU bf16 [c, F] ×2 and the chunk's
//	  input shadow and output bf16 [c, D] ×2      4·c·F + 4·c·D
//	  rotary tables (cos, sin) f32  [L, r] ×2     8·L·r
//	then ×(1+PoolSlack) for the pool's rounding, plus WeightScratch (not pooled).
//
// The modulated LayerNorm input is never materialized in f32 on the CUDA
// backend (it is fused into the GEMM's input), and the modulated input is
// freed as soon as q, k and v exist. Measured on the H100, 14B at L = 32760
// with two streams: pool peak 2.71 GB, estimate 3.53 GB.
//
// Non-positive sizes count as zero.
func ActivationPeak(a Activations) int64 {
	L, D, T, F := pos(a.Tokens), pos(a.Dim), pos(a.TextLen), pos(a.FFNDim)
	c := pos(a.FFNChunk)
	if c == 0 || c > L {
		c = L
	}
	streams := max(int64(a.Streams), 1)
	r := int64(64)
	if a.Heads > 0 {
		r = D / int64(a.Heads) / 2
	}
	perStream := 4*L*D + 4*T*D
	transient := max(10*L*D+4*T*D, 4*c*F+4*c*D) + 8*L*r
	pooled := streams*perStream + transient
	return pooled + int64(float64(pooled)*PoolSlack) + max(a.WeightScratch, 0)
}

// pos is n as int64, or 0 when n is negative.
func pos(n int) int64 { return int64(max(n, 0)) }
