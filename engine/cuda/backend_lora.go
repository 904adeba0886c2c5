//go:build cuda

package cuda

import (
	"github.com/wan22/wan22/engine"
)

// Run-time LoRA (engine/dit's LoRALinear fast path): a linear with a low-rank adapter computes
//
//	y = act(x·Wᵀ + bias + up·(down·x))
//
// on one of two paths, both with the bias and GELU in cuBLASLt's epilogue:
//
//   - K-concatenated (lora_kcat.go), when the byte-count cost model picks it (kcatPays in
//     lora_kcat_plan.go) and x's bf16 GEMM shadow has spare columns for the rank: the down GEMM writes
//     h = x·downᵀ [M, r] into the shadow's spare columns (ldc = K + R), [W | up] is assembled as a bf16
//     operand [N, K + r] (a quantized or F16 W dequantized straight into it, a BF16 W copied), and one
//     GEMM over K + r computes y = act([x | h]·[W | up]ᵀ + bias). No [M, N] temporary is written or read.
//     The last [W | up] built stays in a one-entry cache (lora_kcat_cache.go) for the next call with the same
//     W, up and rank, so the chunked FFN's first linear builds it once per block, not once per chunk.
//     The shadow of an F32 input (a pending LayerNorm/Modulate, written straight into it, or a cast) gets
//     R spare columns when its first GEMM reader is a LinearLoRA that takes this path.
//   - Three GEMMs otherwise (the cost model's choice: a BF16 W that costs more to copy than the [M, N]
//     product it saves, M ≤ K + r, or M ≤ r for any W; a BF16 input, which has no shadow; a rank larger
//     than the shadow's spare columns; no memory for [W | up]): h = x·downᵀ into a temporary [M, r],
//     y = h·upᵀ [M, N] into the output, then the layer's own GEMM accumulates into it,
//     y = act(x·Wᵀ + 1·y + bias), reading y as C.
//
// The separate ops both replace also wrote the [M, N] up-projection to a temporary, added it to y in one
// more pass and, on the FFN's first linear, lost the GELU epilogue to a separate GELU pass.

// loraOperands are the adapter matrices of one LinearLoRA call: down [r, K] and up [N, r], r a multiple of 8.
type loraOperands struct {
	down, up engine.Tensor
}

// LinearLoRA is Linear(x, w, bias) + Linear(Linear(x, down, nil), up, nil), followed by GELU (tanh) when
// gelu is set, for x [..., K], w [N, K], down [r, K] and up [N, r] (r a multiple of 8): the low-rank
// product is added in the layer's GEMM (see above), so GELU stays in its epilogue. Without cuBLASLt (the
// own GEMM kernel has neither a C operand nor strided operands), with PrecisionF32, or for a single F32 row
// (whose Linear makes F32), it runs the separate ops instead.
func (b *Backend) LinearLoRA(x, w, bias, down, up engine.Tensor, gelu bool) engine.Tensor {
	if !b.loraFusable(x) {
		return b.linearLoRAOps(x, w, bias, down, up, gelu)
	}
	op := "LinearLoRA"
	if gelu {
		op = "LinearLoRAGELU"
	}
	return b.linear(op, x, w, bias, gelu, &loraOperands{down: down, up: up})
}

// loraFusable reports whether LinearLoRA(x, …) can add the low-rank product in the layer's GEMM: cuBLASLt
// is loaded, the view's precision is bf16, and the Linear's output would be BF16. An x that cannot be
// resolved counts as fusable, so that the fused op reports the error.
func (b *Backend) loraFusable(xx engine.Tensor) bool {
	if b.precision == PrecisionF32 {
		return false
	}
	fusable := true
	_ = b.d.Do(func() error {
		if !b.d.CanAccumulate(GemmAuto) {
			fusable = false
			return nil
		}
		if x, err := b.lookup(xx); err == nil {
			M, _ := x.rowsCols()
			fusable = !(x.DType() == engine.F32 && M == 1)
		}
		return nil
	})
	return fusable
}

// linearLoRAOps is LinearLoRA as separate ops. On a failing op nothing it made is left allocated.
func (b *Backend) linearLoRAOps(x, w, bias, down, up engine.Tensor, gelu bool) engine.Tensor {
	y := b.Linear(x, w, bias)
	ok := false
	defer func() {
		if !ok {
			b.Free(y)
		}
	}()
	d := func() engine.Tensor {
		h := b.Linear(x, down, nil)
		defer b.Free(h)
		return b.Linear(h, up, nil)
	}()
	func() {
		defer b.Free(d)
		b.AddGated(y, d, nil)
	}()
	if gelu {
		g := b.GELU(y)
		b.Free(y)
		y = g
	}
	ok = true
	return y
}

// loraProduct writes up·(down·x) into y (BF16 [M, N]) for x's bf16 GEMM operand xm [M, K] (row stride ld)
// and the bf16 adapter matrices dm [r, K] and um [N, r]: h = x·downᵀ into a bf16 temporary [M, r], then
// y = h·upᵀ. Runs on the CUDA goroutine.
func (b *Backend) loraProduct(y, xm Mem, ld int, dm, um Mem, M, N, K, r int, ts *temps) error {
	h, err := b.tmp(ts, int64(M)*int64(r)*2)
	if err != nil {
		return err
	}
	bf := ggmlOf(engine.BF16)
	if err := b.d.Gemm(nil, GemmOp{Y: h, YType: bf, X: xm, LdX: ld, W: dm, M: M, N: r, K: K}); err != nil {
		return err
	}
	return b.d.Gemm(nil, GemmOp{Y: y, YType: bf, X: h, W: um, M: M, N: N, K: r})
}
