package cuda

import "github.com/wan22/wan22/gguf"

// Planning of run-time LoRA's K-concatenated GEMM (lora_kcat.go): how many spare columns a bf16 GEMM
// shadow gets, whether a LoRA of a given rank fits a shadow, and which path a call takes (the byte-count
// cost model kcatPays). Pure logic, tested without a GPU.

// kcatSpareAlign rounds a shadow's spare columns up, so that the later LoRA readers of one input (q, k and
// v share it; their ranks usually agree, and a rank of 16 or 32 leaves room for one of 64) fit the columns
// made for the first. It is a multiple of 8, so the strided rows stay 16-byte aligned.
const kcatSpareAlign = 64

// kcatSpare is the number of spare columns a new shadow gets when its first reader is a LoRA of rank r:
// r rounded up to a multiple of kcatSpareAlign (0 for r ≤ 0: no spare columns).
func kcatSpare(r int) int {
	if r <= 0 {
		return 0
	}
	return (r + kcatSpareAlign - 1) / kcatSpareAlign * kcatSpareAlign
}

// kcatFits reports whether a GEMM operand of K columns with row stride ld (elements) has room for the
// rank-r product h = x·downᵀ in its spare columns K … K+r−1.
func kcatFits(ld, K, r int) bool { return r > 0 && K > 0 && ld-K >= r }

// kcatCopiesW reports whether the K-concatenated path copies W into its bf16 operand [W | up] [N, K + r]:
// W is bf16 already (a BF16 weight, or an activation as b.as makes it), a read and a write of 2·N·K bytes
// that the three-GEMM path, which reads W where it is, does not make. Otherwise (a quantized, F16 or F32
// weight) W is dequantized straight into the operand with its row stride (Device.DequantizeRows): the
// three-GEMM path's Linear dequantizes it just the same into the weight scratch, so the K-concatenated
// path costs nothing more for W.
func kcatCopiesW(weight bool, wt gguf.Type) bool { return !weight || wt == gguf.TypeBF16 }

// kcatCosts is the byte-count cost model of run-time LoRA for x [M, K], W [N, K] and rank r: the bytes the
// K-concatenated path moves that the three-GEMM path does not (extra), and those the three-GEMM path moves
// that the K-concatenated one does not (saved). Both paths make the same products (the down GEMM over K,
// and N·r more multiply-adds per row, as an extra GEMM or as r more columns of the layer's) and read x, h,
// W (or its dequantized copy) and up once each, so the difference is memory traffic:
//
//	extra = 2·N·r + 2·N·r                           [W | up]'s up columns: read up, write them
//	      + 2·N·K + 2·N·K    (copyW only)           W copied into the operand: read it, write it
//	saved = 2·M·N + 2·M·N                           the up GEMM's [M, N] product: written, then read
//	                                                back as the layer GEMM's C operand
//
// The model leaves out what does not differ between the paths, and the kernels' efficiency: both sides
// stream at about the same bandwidth (a 2-D copy or dequantization kernel, and a memory-bound GEMM with
// K = r).
func kcatCosts(M, N, K, r int, copyW bool) (extra, saved int64) {
	m, n, k, rr := int64(M), int64(N), int64(K), int64(r)
	extra = 4 * n * rr
	if copyW {
		extra += 4 * n * k
	}
	return extra, 4 * m * n
}

// kcatPays is the cost model's choice for a LinearLoRA call (whether x has room for the rank is kcatFits'
// question): true for the K-concatenated GEMM, when it moves fewer bytes (kcatCosts: extra < saved), false
// for three GEMMs. With N cancelled it is M > K + r for a copied W (copyW: a BF16 weight; for the 14B DiT,
// K = 5120, the cross-attention's keys and values of 512 text tokens run three GEMMs, the projections of
// 32760 video tokens and the FFN's first linear on chunks of 8192 rows run K-concatenated), and M > r for
// a dequantized one (a quantized or F16 weight: every input of more rows than the rank). Ties go to three
// GEMMs, which need no [W | up] temporary.
func kcatPays(M, N, K, r int, copyW bool) bool {
	extra, saved := kcatCosts(M, N, K, r, copyW)
	return extra < saved
}
