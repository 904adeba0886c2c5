package cuda

// Planning of run-time LoRA's K-concatenated GEMM (lora_kcat.go): how many spare columns a bf16 GEMM
// shadow gets, and whether a LoRA of a given rank fits a shadow. Pure logic, tested without a GPU.

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
