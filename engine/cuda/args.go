package cuda

import (
	"cmp"
	"fmt"

	"github.com/wan22/wan22/gguf"
)

// Mem is a range of device memory: a whole Buffer (Buffer.Mem) or a part of one. The zero Mem means
// "none" where an argument is optional.
type Mem struct {
	Ptr   uintptr
	Bytes int64
}

// IsNil reports whether m is the zero Mem.
func (m Mem) IsNil() bool { return m.Ptr == 0 }

// Slice returns n bytes of m from byte offset off. Like slicing a Go slice, it panics when the range is
// outside m (a programming error).
func (m Mem) Slice(off, n int64) Mem {
	if off < 0 || n < 0 || off+n > m.Bytes {
		panic(fmt.Sprintf("cuda: Mem.Slice(%d, %d) out of range of %d bytes", off, n, m.Bytes))
	}
	return Mem{Ptr: m.Ptr + uintptr(off), Bytes: n}
}

// GemmPath selects the GEMM implementation.
type GemmPath int

const (
	// GemmAuto uses cuBLASLt when it was loaded, the own kernel otherwise.
	GemmAuto GemmPath = iota
	// GemmCublasLt requires cuBLASLt.
	GemmCublasLt
	// GemmOwn uses the package's mma.sync kernel.
	GemmOwn
)

func (p GemmPath) String() string {
	switch p {
	case GemmAuto:
		return "auto"
	case GemmCublasLt:
		return "cublaslt"
	case GemmOwn:
		return "own"
	}
	return fmt.Sprintf("GemmPath(%d)", int(p))
}

// GemmOp is Y[M,N] = X[M,K] · Wᵀ + Bias, W [N,K] bf16 row-major (the GGUF layout of a linear weight).
type GemmOp struct {
	Y        Mem
	YType    gguf.Type // F32 or BF16
	X        Mem       // bf16 [M,K]
	W        Mem       // bf16 [N,K]
	Bias     Mem       // optional, [N]
	BiasType gguf.Type // must equal YType (cuBLASLt's epilogue adds a bias of the output's type, as PyTorch's autocast does)
	M, N, K  int
	Path     GemmPath
	// GELU applies GELU with the tanh approximation to the result (after the bias, in f32): in
	// cuBLASLt's epilogue, or as a separate pass after the own kernel.
	GELU bool
	// Beta ≠ 0 accumulates into Y: Y = epilogue(X·Wᵀ + Beta·Y + Bias), Y read in place before the bias and
	// GELU are applied (cuBLASLt only: the own kernel refuses it).
	Beta float32
	// LdX and LdY are the row strides of X and Y in elements (0: dense, K and N): row i of X starts at
	// element i·LdX, so a GEMM can read the first K columns of a wider matrix or write into columns of one
	// (run-time LoRA's K-concatenated GEMM, lora_kcat.go). A strided operand needs cuBLASLt (the own
	// kernel refuses it); a stride is at least the row width and a multiple of 8 (16-byte rows).
	LdX, LdY int
}

// ldx and ldy are op's row strides with 0 resolved to dense.
func (op GemmOp) ldx() int { return cmp.Or(op.LdX, op.K) }
func (op GemmOp) ldy() int { return cmp.Or(op.LdY, op.N) }

// dense reports whether X and Y are dense (no row stride beyond the row width).
func (op GemmOp) dense() bool { return op.ldx() == op.K && op.ldy() == op.N }

// stridedBytes is the extent of rows rows of cols elements of eb bytes with a row stride of ld elements.
func stridedBytes(rows, cols, ld int, eb int64) int64 {
	return (int64(rows-1)*int64(ld) + int64(cols)) * eb
}

// Weight is a linear layer's weight as stored in a GGUF file: N rows of K elements of a ggml type, quant
// blocks along K.
type Weight struct {
	Mem  Mem
	Type gguf.Type
	N, K int
}

// elemBytes is the storage size of an activation element type, 0 for types this package does not take as
// activations.
func elemBytes(t gguf.Type) int64 {
	switch t {
	case gguf.TypeF32:
		return 4
	case gguf.TypeBF16, gguf.TypeF16:
		return 2
	}
	return 0
}

// need checks that m is present and holds at least n bytes.
func need(name string, m Mem, n int64) error {
	if m.IsNil() {
		return fmt.Errorf("cuda: %s: missing device memory", name)
	}
	if m.Bytes < n {
		return fmt.Errorf("cuda: %s: %d bytes given, %d needed", name, m.Bytes, n)
	}
	return nil
}

// needOpt is need for an optional argument.
func needOpt(name string, m Mem, n int64) error {
	if m.IsNil() {
		return nil
	}
	return need(name, m, n)
}

func checkActType(what string, t gguf.Type, allowed ...gguf.Type) error {
	for _, a := range allowed {
		if t == a {
			return nil
		}
	}
	return fmt.Errorf("cuda: %s: element type %v not supported (want one of %v)", what, t, allowed)
}

func checkGemm(op GemmOp) error {
	if op.M <= 0 || op.N <= 0 || op.K <= 0 {
		return fmt.Errorf("cuda: gemm: bad shape M=%d N=%d K=%d", op.M, op.N, op.K)
	}
	if op.K%8 != 0 {
		return fmt.Errorf("cuda: gemm: K=%d is not a multiple of 8", op.K)
	}
	if err := checkActType("gemm output", op.YType, gguf.TypeF32, gguf.TypeBF16); err != nil {
		return err
	}
	if op.LdX < 0 || op.LdY < 0 || op.ldx() < op.K || op.ldy() < op.N || op.ldx()%8 != 0 || (op.LdY != 0 && op.LdY%8 != 0) {
		return fmt.Errorf("cuda: gemm: row strides LdX=%d LdY=%d do not fit K=%d N=%d (want 0, or at least the row width and a multiple of 8)", op.LdX, op.LdY, op.K, op.N)
	}
	n, k := int64(op.N), int64(op.K)
	if err := need("gemm X", op.X, stridedBytes(op.M, op.K, op.ldx(), 2)); err != nil {
		return err
	}
	if err := need("gemm W", op.W, n*k*2); err != nil {
		return err
	}
	if err := need("gemm Y", op.Y, stridedBytes(op.M, op.N, op.ldy(), elemBytes(op.YType))); err != nil {
		return err
	}
	if !op.Bias.IsNil() {
		if op.BiasType != op.YType {
			return fmt.Errorf("cuda: gemm: bias type %v differs from the output type %v (cast the bias once at load)", op.BiasType, op.YType)
		}
		if err := need("gemm bias", op.Bias, n*elemBytes(op.BiasType)); err != nil {
			return err
		}
	}
	if op.X.Ptr%16 != 0 || op.W.Ptr%16 != 0 {
		return fmt.Errorf("cuda: gemm: X and W must be 16-byte aligned (X %#x, W %#x)", op.X.Ptr, op.W.Ptr)
	}
	if op.Y.Ptr%8 != 0 {
		return fmt.Errorf("cuda: gemm: Y must be 8-byte aligned (%#x)", op.Y.Ptr)
	}
	return nil
}

// dequantizable lists the ggml weight types with GPU dequantization kernels and their kernel name stems.
var dequantizable = map[gguf.Type]string{
	gguf.TypeF32:    "f32",
	gguf.TypeF16:    "f16",
	gguf.TypeBF16:   "bf16",
	gguf.TypeQ4_0:   "q4_0",
	gguf.TypeQ4_1:   "q4_1",
	gguf.TypeQ5_0:   "q5_0",
	gguf.TypeQ5_1:   "q5_1",
	gguf.TypeQ8_0:   "q8_0",
	gguf.TypeQ2_K:   "q2_k",
	gguf.TypeQ3_K:   "q3_k",
	gguf.TypeQ4_K:   "q4_k",
	gguf.TypeQ5_K:   "q5_k",
	gguf.TypeQ6_K:   "q6_k",
	gguf.TypeIQ4_NL: "iq4_nl",
	gguf.TypeIQ4_XS: "iq4_xs",
}

// CanDequantize reports whether the GPU has a dequantization kernel for weights of type t.
func CanDequantize(t gguf.Type) bool { _, ok := dequantizable[t]; return ok }

// checkDequant validates a dequantization of n elements of type xt into y of type yt and returns the
// source size in bytes.
func checkDequant(y Mem, yt gguf.Type, x Mem, xt gguf.Type, n int64) (int64, error) {
	if _, ok := dequantizable[xt]; !ok {
		return 0, fmt.Errorf("cuda: dequantize: no GPU kernel for ggml type %v", xt)
	}
	if err := checkActType("dequantize output", yt, gguf.TypeF32, gguf.TypeBF16); err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, fmt.Errorf("cuda: dequantize: %d elements", n)
	}
	src, err := xt.RowBytes(n)
	if err != nil {
		return 0, fmt.Errorf("cuda: dequantize: %w", err)
	}
	if err := need("dequantize source", x, src); err != nil {
		return 0, err
	}
	if err := need("dequantize output", y, n*elemBytes(yt)); err != nil {
		return 0, err
	}
	if y.Ptr%16 != 0 {
		return 0, fmt.Errorf("cuda: dequantize: output must be 16-byte aligned (%#x)", y.Ptr)
	}
	return src, nil
}

// LayerNormArgs are the optional parts of LayerNorm: affine Weight and Bias (f32 [cols]) and the
// modulation Scale and Shift (f32; row r reads cols values at element offset r·ModStride; ModStride 0
// broadcasts one vector to all rows).
type LayerNormArgs struct {
	Weight, Bias Mem
	Scale, Shift Mem
	ModStride    int
	// LdY is the output's row stride in elements (0: cols): a bf16 GEMM shadow with spare columns for
	// run-time LoRA (lora_kcat.go) is written with LdY = cols + its spare columns. A multiple of 4 when set.
	LdY int
}

// ldy is the output row stride of a norm of cols columns.
func (a LayerNormArgs) ldy(cols int) int { return cmp.Or(a.LdY, cols) }

// checkLdY validates a norm's output stride.
func checkLdY(what string, a LayerNormArgs, cols int) error {
	if a.LdY != 0 && (a.LdY < cols || a.LdY%4 != 0) {
		return fmt.Errorf("cuda: %s: output row stride %d does not fit %d columns (want 0, or at least cols and a multiple of 4)", what, a.LdY, cols)
	}
	return nil
}

func checkRows(what string, rows, cols int) error {
	if rows <= 0 || cols <= 0 {
		return fmt.Errorf("cuda: %s: bad shape rows=%d cols=%d", what, rows, cols)
	}
	return nil
}

// checkModulation validates a per-row vector argument of cols f32 with the given row stride.
func checkModulation(what string, m Mem, rows, cols, stride int) error {
	if m.IsNil() {
		return nil
	}
	if stride < 0 {
		return fmt.Errorf("cuda: %s: negative stride %d", what, stride)
	}
	last := int64(rows-1)*int64(stride) + int64(cols)
	return need(what, m, last*4)
}
