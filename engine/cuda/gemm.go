//go:build cuda

package cuda

import (
	"fmt"
	"math"

	"github.com/wan22/wan22/gguf"
)

// Own GEMM kernel variants (kernels/gemm.cu): CTA tile BM×BN, K slice BK, shared memory
// STAGES·(BM+BN)·BK·2 bytes.
type gemmTile struct {
	name   string
	bm, bn int
	smem   int
}

var gemmTiles = []gemmTile{
	{"128x128_k32", 128, 128, 4 * (128 + 128) * 32 * 2},
	{"128x256_k64", 128, 256, 3 * (128 + 256) * 64 * 2},
}

// ownTileOverride forces one variant of the own kernel (tests and benchmarks); "" picks by shape.
var ownTileOverride string

func (d *Device) pickTile(m, n int) gemmTile {
	for _, t := range gemmTiles {
		if t.name == ownTileOverride {
			return t
		}
	}
	// The wide tile needs enough tiles to keep every multiprocessor busy with one CTA each.
	wide := ((m + 127) / 128) * ((n + 255) / 256)
	if wide >= 2*d.info.SMs {
		return gemmTiles[1]
	}
	return gemmTiles[0]
}

// Gemm computes op.Y = op.X · op.Wᵀ (+ op.Beta·op.Y) (+ op.Bias) on s (nil: the compute stream) with bf16
// operands and f32 accumulation, through cuBLASLt or the own tensor-core kernel as op.Path says. A nonzero
// Beta needs cuBLASLt (CanAccumulate): the own kernel has no C operand, and Gemm refuses it there.
func (d *Device) Gemm(s *Stream, op GemmOp) error {
	if err := checkGemm(op); err != nil {
		return err
	}
	if math.IsNaN(float64(op.Beta)) || math.IsInf(float64(op.Beta), 0) {
		return fmt.Errorf("cuda: gemm: beta %v is not finite", op.Beta)
	}
	return d.Do(func() error {
		if op.Beta != 0 && (op.Path == GemmOwn || d.lt == nil) {
			return fmt.Errorf("cuda: gemm: accumulating into Y (beta %v) needs cuBLASLt, and %s", op.Beta, d.gemmOwnReason(op.Path))
		}
		if !op.dense() && (op.Path == GemmOwn || d.lt == nil) {
			return fmt.Errorf("cuda: gemm: strided operands (LdX %d, LdY %d for K %d, N %d) need cuBLASLt, and %s", op.LdX, op.LdY, op.K, op.N, d.gemmOwnReason(op.Path))
		}
		switch op.Path {
		case GemmCublasLt:
			if d.lt == nil {
				return fmt.Errorf("cuda: gemm: cuBLASLt requested but %s", d.ltReason)
			}
			return d.ltGemmGELU(s, op)
		case GemmAuto:
			if d.lt != nil {
				return d.ltGemmGELU(s, op)
			}
		}
		if err := d.ownGemm(s, op); err != nil || !op.GELU {
			return err
		}
		return d.GELUTanh(s, op.Y, op.Y, op.YType, int64(op.M)*int64(op.N))
	})
}

// ltGemmGELU is ltGemm, with a dense GEMM's GELU as a separate pass over Y when Config.SeparateGELU says so.
// Runs on the CUDA goroutine.
func (d *Device) ltGemmGELU(s *Stream, op GemmOp) error {
	if !op.GELU || !d.cfg.SeparateGELU || !op.dense() {
		return d.ltGemm(s, op)
	}
	op.GELU = false
	if err := d.ltGemm(s, op); err != nil {
		return err
	}
	return d.GELUTanh(s, op.Y, op.Y, op.YType, int64(op.M)*int64(op.N))
}

// CanStride reports whether GEMMs on path p can take strided operands (GemmOp.LdX, LdY): cuBLASLt is
// loaded and p may use it.
func (d *Device) CanStride(p GemmPath) bool { return d.CanAccumulate(p) }

// gemmOwnReason says why a GEMM would run on the own kernel. Runs on the CUDA goroutine.
func (d *Device) gemmOwnReason(p GemmPath) string {
	if p == GemmOwn {
		return "the own kernel was requested"
	}
	return "cuBLASLt is " + d.ltReason
}

// CanAccumulate reports whether GEMMs on path p can take a nonzero GemmOp.Beta (cuBLASLt is loaded and p
// may use it).
func (d *Device) CanAccumulate(p GemmPath) bool { return d.lt != nil && p != GemmOwn }

// ownGemm launches the mma.sync kernel. Runs on the CUDA goroutine.
func (d *Device) ownGemm(s *Stream, op GemmOp) error {
	t := d.pickTile(op.M, op.N)
	out := "bf16"
	if op.YType == gguf.TypeF32 {
		out = "f32"
	}
	k, err := d.getKernel("gemm", "gemm_bf16_"+t.name+"_"+out)
	if err != nil {
		return err
	}
	biasKind := int32(0)
	if !op.Bias.IsNil() {
		biasKind = 1
		if op.BiasType == gguf.TypeBF16 {
			biasKind = 2
		}
	}
	tiles := int64((op.M+t.bm-1)/t.bm) * int64((op.N+t.bn-1)/t.bn)
	if tiles >= 1<<31 {
		return fmt.Errorf("cuda: gemm: %d×%d output is too large for one launch", op.M, op.N)
	}
	return d.launch(s, k, dim3{uint32(tiles), 1, 1}, dim3{256, 1, 1}, t.smem,
		op.Y, op.X, op.W, op.Bias, biasKind, int32(op.M), int32(op.N), int32(op.K))
}

// LinearOp is Y[M,N] = X[M,K] · Wᵀ + Bias with W in any ggml type the GPU can dequantize.
type LinearOp struct {
	Y        Mem
	YType    gguf.Type // F32 or BF16
	X        Mem       // bf16 [M,K], row stride LdX
	LdX      int       // X's row stride in elements (0: K), as GemmOp.LdX
	W        Weight
	Bias     Mem       // optional, [N]
	BiasType gguf.Type // must equal YType
	M        int
	// Scratch receives the bf16 copy of W when W is not bf16 (N·K·2 bytes); nil uses the device's own
	// scratch buffer, which grows to the largest weight seen and is meant for one compute stream.
	Scratch Mem
	Path    GemmPath
	GELU    bool    // GELU (tanh) on the result, as GemmOp.GELU
	Beta    float32 // ≠ 0: accumulate into Y before the bias and GELU, as GemmOp.Beta
}

// Linear computes op on s (nil: the compute stream): a bf16 weight goes straight to the GEMM; any other
// type is first dequantized into a bf16 scratch (bit-exactly as gguf.Dequantize followed by rounding to
// bf16).
func (d *Device) Linear(s *Stream, op LinearOp) error {
	w := op.W
	if w.N <= 0 || w.K <= 0 {
		return fmt.Errorf("cuda: linear: bad weight shape %d×%d", w.N, w.K)
	}
	g := GemmOp{Y: op.Y, YType: op.YType, X: op.X, W: w.Mem, Bias: op.Bias, BiasType: op.BiasType, M: op.M, N: w.N, K: w.K, Path: op.Path, GELU: op.GELU, Beta: op.Beta, LdX: op.LdX}
	if w.Type == gguf.TypeBF16 {
		return d.Gemm(s, g)
	}
	if !CanDequantize(w.Type) {
		return fmt.Errorf("cuda: linear: weight type %v has no GPU kernel", w.Type)
	}
	n := int64(w.N) * int64(w.K)
	return d.Do(func() error {
		scratch := op.Scratch
		if scratch.IsNil() {
			var err error
			if scratch, err = d.scratchMem(n * 2); err != nil {
				return err
			}
		}
		g.W = scratch
		if err := checkGemm(g); err != nil {
			return err
		}
		if err := d.Dequantize(s, scratch, gguf.TypeBF16, w.Mem, w.Type, n); err != nil {
			return err
		}
		return d.Gemm(s, g)
	})
}

// scratchMem returns the device's scratch buffer with at least n bytes, growing it (as owner
// "cuda.scratch") when needed. Runs on the CUDA goroutine.
func (d *Device) scratchMem(n int64) (Mem, error) {
	if d.scratch != nil && d.scratch.size >= n {
		return d.scratch.Mem(), nil
	}
	if d.scratch != nil {
		// Work queued with the old scratch must finish before it is freed.
		if err := d.stream(nil).s.Synchronize(); err != nil {
			return Mem{}, asyncErr(wrap("cuStreamSynchronize(compute)", err))
		}
		if err := d.scratch.free(); err != nil {
			return Mem{}, err
		}
		d.scratch = nil
	}
	b, err := d.Alloc("cuda.scratch", n)
	if err != nil {
		return Mem{}, fmt.Errorf("cuda: weight scratch: %w", err)
	}
	d.scratch = b
	return b.Mem(), nil
}

// FreeScratch releases the device's weight scratch buffer.
func (d *Device) FreeScratch() error {
	return d.Do(func() error {
		if d.scratch == nil {
			return nil
		}
		if err := asyncErr(wrap("cuCtxSynchronize", d.stream(nil).s.Synchronize())); err != nil {
			return err
		}
		err := d.scratch.free()
		d.scratch = nil
		return err
	})
}
