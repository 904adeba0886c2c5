package blockswap

// PoolSlack is the fraction added to the activations for the CUDA activation
// pool's size classes: a request is served from a buffer of its class (eight
// classes per power of two above 1 MiB, so at most 12.5% bigger), and freed
// buffers of one class cannot serve another. 25% covers the rounding and some
// fragmentation; calibrate it against the pool's measured peak on the device.
const PoolSlack = 0.25

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
// for the VRAM planner. It is deliberately an upper bound: every transient of
// a block is counted as if alive at once. With L = Tokens, D = Dim, T =
// TextLen, c = min(FFNChunk, L), F = FFNDim, r = Dim/Heads/2:
//
//	per stream, alive for the whole pass:
//	  residual stream x        f32  [L, D]        4·L·D
//	  text context             f32  [T, D]        4·T·D
//	once, for the stream whose block is computing:
//	  modulated input          bf16 [L, D]        2·L·D
//	  its bf16 shadow          bf16 [L, D]        2·L·D
//	  q, k, v                  bf16 [L, D] ×3     6·L·D
//	  attention output         bf16 [L, D]        2·L·D
//	  o-projection output      bf16 [L, D]        2·L·D
//	  cross-attention k, v     bf16 [T, D] ×2     4·T·D
//	  FFN chunk: GEMM out, GELU bf16 [c, F] ×2     4·c·F (twice even when fused, to be safe)
//	  FFN chunk output         bf16 [c, D]        2·c·D
//	  rotary tables (cos, sin) f32  [L, r] ×2     8·L·r
//	then ×(1+PoolSlack) for the pool's rounding, plus WeightScratch (not pooled).
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
	transient := (2+2+6+2+2)*L*D + 4*T*D + 4*c*F + 2*c*D + 8*L*r
	pooled := streams*perStream + transient
	return pooled + int64(float64(pooled)*PoolSlack) + max(a.WeightScratch, 0)
}

// pos is n as int64, or 0 when n is negative.
func pos(n int) int64 { return int64(max(n, 0)) }
