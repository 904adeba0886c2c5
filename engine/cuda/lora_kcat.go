//go:build cuda

package cuda

// #include "shim.h"
import "C"

import (
	"fmt"
	"sync/atomic"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// Run-time LoRA as one K-concatenated GEMM (see backend_lora.go for the data flow):
//
//	y = act([x | h] · [W | up]ᵀ + bias),  h = x·downᵀ
//
// [x | h] is the input's bf16 GEMM shadow [M, K + R] (row stride K + R): x in columns 0 … K−1, written by
// the kernel that makes the shadow (LayerNorm, AddLayerNorm or a cast), and R spare columns that the down
// GEMM writes h into (ldc = K + R). [W | up] is a bf16 operand [N, K + r] built for the call (or found in
// the cache below): a quantized, F16 or F32 W is dequantized straight into its first K columns
// (Device.DequantizeRows, the same write Linear makes into the weight scratch), a BF16 W is copied in (a
// read and a write of the weight), and up is copied into the last r. Whether that build pays for itself is
// the cost model's choice (kcatPays in lora_kcat_plan.go: the three-GEMM path writes and reads an [M, N]
// product instead; it counts a build for every call, as if nothing were cached). The shadow gets its spare
// columns when its first GEMM reader is a LinearLoRA that takes this path (R = kcatSpare(r), r rounded up
// to 64: M·R·2 bytes more, 4 MiB at M = 32760 and R = 64). Later LoRA readers of the same input with rank ≤
// R reuse the spare columns: each call's down GEMM overwrites them before its K-concatenated GEMM reads
// them, and the calls run one after another on the one compute stream, so no reader sees another's h. A
// reader with a larger rank, and plain Linear readers, read the first K columns with lda = K + R.
//
// The last [W | up] built is kept in a one-entry cache (lora_kcat_cache.go) and used again by the next call
// with the same W and up (their storages and bindings), types, shape and rank: the FFN's first linear, run
// on row chunks with only three-GEMM calls in between, builds it once per block. Freeing or unbinding W or
// up, an in-place merge into either, a call with another key and the pool's trim (Trim, Close, an
// allocation's out-of-memory retry) drop it.

// kcatStats counts LinearLoRA calls by path (tests check which path ran): fused through the K-concatenated
// GEMM, or the three-GEMM path (fallback); declined counts the fallback calls that took it because the
// cost model (kcatPays) chose it, whether or not x had room for the rank; builds counts the [W | up]
// operands the fused calls built (the others found theirs in the cache, lora_kcat_cache.go).
var kcatStats struct{ fused, fallback, declined, builds atomic.Int64 }

// setShadow makes buf st's bf16 shadow, with cols columns in rows of ld elements.
func (b *Backend) setShadow(st *storage, buf *Buffer, cols, ld int) {
	st.shadow, st.shadowCols, st.shadowLd = buf, cols, ld
}

// shadowStride is the row stride of st's shadow for a reader of cols columns: cols for a dense shadow, 0
// when the shadow is strided for another width (a view of another shape cannot use it).
func shadowStride(st *storage, cols int) int {
	switch {
	case st.shadowLd == st.shadowCols:
		return cols
	case st.shadowCols != cols:
		return 0
	}
	return st.shadowLd
}

// dropShadow returns st's shadow, if any, to the pool (stream order makes that safe while queued GEMMs
// still read it).
func (b *Backend) dropShadow(st *storage) {
	if st.shadow == nil {
		return
	}
	b.pool.put(st.shadow)
	st.shadow, st.shadowCols, st.shadowLd = nil, 0, 0
}

// castRowsBF16 writes F32 x [rows, cols] to bf16 y with a row stride of ld elements: one cast when y is
// dense, else a cast into a temporary and a strided copy (the path of an F32 input without a pending
// normalization, which the DiT's LoRA inputs rarely are). Runs on the CUDA goroutine.
func (b *Backend) castRowsBF16(y Mem, ld int, x Mem, rows, cols int) error {
	n := int64(rows) * int64(cols)
	if ld == cols || n == 0 {
		return b.d.Cast(nil, y, gguf.TypeBF16, x, gguf.TypeF32, n)
	}
	var ts temps
	defer ts.release(b.pool)
	t, err := b.tmp(&ts, n*2)
	if err != nil {
		return err
	}
	if err := b.d.Cast(nil, t, gguf.TypeBF16, x, gguf.TypeF32, n); err != nil {
		return err
	}
	return b.d.copy2D(nil, y, int64(ld)*2, t, int64(cols)*2, int64(cols)*2, int64(rows))
}

// copy2D copies height rows of width bytes from src (rows spitch bytes apart) to dst (dpitch apart) on s
// (nil: the compute stream). Runs on the CUDA goroutine.
func (d *Device) copy2D(s *Stream, dst Mem, dpitch int64, src Mem, spitch int64, width, height int64) error {
	if width <= 0 || height <= 0 {
		return nil
	}
	if dpitch < width || spitch < width {
		return fmt.Errorf("cuda: 2-D copy: pitches %d and %d are narrower than a row of %d bytes", dpitch, spitch, width)
	}
	if err := firstErr(need("2-D copy destination", dst, (height-1)*dpitch+width), need("2-D copy source", src, (height-1)*spitch+width)); err != nil {
		return err
	}
	if aligned16(dst, src) && dpitch%16 == 0 && spitch%16 == 0 && width%16 == 0 {
		// 16-byte words by a kernel: 0.104 against 0.171 ms for ffn.0's [13824, 5120] bf16 weight on the H100.
		k, err := d.getKernel("elementwise", "copy_rows_u128")
		if err != nil {
			return err
		}
		return d.launch(s, k, dim3{uint32(min(height, int64(d.info.SMs)*16)), 1, 1}, dim3{256, 1, 1}, 0,
			dst, dpitch/16, src, spitch/16, width/16, height)
	}
	st := d.stream(s)
	return cuErr(fmt.Sprintf("cuMemcpy2DAsync(%d rows of %s, %s)", height, FormatBytes(width), st.name),
		C.wan22_copy2d(C.uint64_t(dst.Ptr), C.size_t(dpitch), C.uint64_t(src.Ptr), C.size_t(spitch), C.size_t(width), C.size_t(height), cuStream(st.s)))
}

// loraAdapter resolves lr's matrices for an output of N columns and an input of K: down [r, K] and up
// [N, r], r a multiple of 8. Runs on the CUDA goroutine.
func (b *Backend) loraAdapter(lr *loraOperands, N, K int) (down, up *Tensor, r int, err error) {
	if down, err = b.tensor(lr.down); err != nil {
		return nil, nil, 0, fmt.Errorf("LoRA down: %w", err)
	}
	if up, err = b.tensor(lr.up); err != nil {
		return nil, nil, 0, fmt.Errorf("LoRA up: %w", err)
	}
	if len(down.shape) != 2 || down.shape[1] != K || len(up.shape) != 2 || up.shape[0] != N || up.shape[1] != down.shape[0] {
		return nil, nil, 0, fmt.Errorf("LoRA down %v and up %v do not fit an input of %d columns and an output of %d (want [r %d] and [%d r])",
			down.shape, up.shape, K, N, K, N)
	}
	r = down.shape[0]
	if r%8 != 0 {
		return nil, nil, 0, fmt.Errorf("LoRA rank %d is not a multiple of 8 (pad down's rows and up's columns with zeros)", r)
	}
	return down, up, r, nil
}

// linearLoRA writes act(x·Wᵀ + bias + up·(down·x)) into BF16 y [M, N] for x [M, K]: through the
// K-concatenated GEMM when the cost model (kcatPays) picks it and x's shadow has room for the rank, else
// in three GEMMs (loraProduct, then the layer's GEMM accumulating into y). A new shadow gets spare columns
// only for a call that would use them. Runs on the CUDA goroutine.
func (b *Backend) linearLoRA(y Mem, x, w *Tensor, bias Mem, lr *loraOperands, M, N, K int, gelu bool, ts *temps) error {
	down, up, r, err := b.loraAdapter(lr, N, K)
	if err != nil {
		return err
	}
	copyW := kcatCopiesW(w.st.weight, w.st.wtype)
	kcat := kcatPays(M, N, K, r, copyW)
	spare := 0
	if kcat && b.d.CanStride(GemmAuto) {
		spare = kcatSpare(r)
	}
	xm, ld, err := b.gemmInputLd(x, ts, spare)
	if err != nil {
		return err
	}
	dm, err := b.as(down, engine.BF16, ts)
	if err != nil {
		return err
	}
	um, err := b.as(up, engine.BF16, ts)
	if err != nil {
		return err
	}
	if kcat && kcatFits(ld, K, r) {
		done, err := b.kcatGemm(y, xm, ld, w, up, copyW, dm, um, bias, M, N, K, r, gelu, ts)
		if err != nil || done {
			return err
		}
	}
	if !kcat {
		kcatStats.declined.Add(1)
	}
	kcatStats.fallback.Add(1)
	if err := b.loraProduct(y, xm, ld, dm, um, M, N, K, r, ts); err != nil {
		return err
	}
	return b.linearBF16(y, engine.BF16, x, w, bias, M, N, K, gelu, 1, ts)
}

// kcatGemm runs the K-concatenated GEMM (see above) for x's shadow xm [M, ld] with room for rank r, W w
// [N, K] and up [N, r], with the bf16 adapter matrices dm [r, K] and um [N, r]; copyW says how W gets into
// [W | up] (kcatCopiesW). [W | up] comes from the cache when it holds the operand of w, up and r
// (lora_kcat_cache.go), else it is built into a pool buffer that the cache keeps afterwards (when w and up
// may be cached: weights). done is false, with nothing written, when [W | up] cannot be allocated (the
// caller takes the three-GEMM path). Runs on the CUDA goroutine.
func (b *Backend) kcatGemm(y, xm Mem, ld int, w, up *Tensor, copyW bool, dm, um, bias Mem, M, N, K, r int, gelu bool, ts *temps) (done bool, err error) {
	kr := K + r
	n := int64(N) * int64(kr) * 2
	key, cacheable := kcatKeyOf(w, up, N, K, r)
	var buf *Buffer
	if cacheable {
		buf = b.pool.takeKept(key)
	} else {
		b.pool.evictKept() // one entry: a call that cannot be cached makes room for its own operand too
	}
	built := buf == nil
	if built {
		if buf, err = b.pool.get(max(n, 1)); err != nil {
			if outOfMemory(err) {
				return false, nil
			}
			return false, err
		}
	}
	// The buffer goes back to the pool, or into the cache once the GEMM that reads it is queued (a failed
	// build may have left it half written).
	keep := false
	defer func() {
		if keep {
			b.pool.keep(key, buf)
		} else {
			b.pool.put(buf)
		}
	}()
	wcat := Mem{Ptr: uintptr(buf.ptr), Bytes: n}
	if built {
		// [W | up]: W as bf16 in columns 0 … K−1, up in columns K … K+r−1.
		if err := b.kcatWeight(wcat, w, copyW, N, K, r, ts); err != nil {
			return false, err
		}
		row := int64(kr) * 2
		if err := b.d.copy2D(nil, wcat.Slice(int64(K)*2, wcat.Bytes-int64(K)*2), row, um, int64(r)*2, int64(r)*2, int64(N)); err != nil {
			return false, err
		}
		kcatStats.builds.Add(1)
	}
	bf := gguf.TypeBF16
	// h = x·downᵀ into the spare columns: X is the first K columns of the shadow, Y starts at column K.
	h := xm.Slice(int64(K)*2, xm.Bytes-int64(K)*2)
	if err := b.d.Gemm(nil, GemmOp{Y: h, YType: bf, LdY: ld, X: xm, LdX: ld, W: dm, M: M, N: r, K: K}); err != nil {
		return false, err
	}
	if err := b.d.Gemm(nil, GemmOp{Y: y, YType: bf, X: xm, LdX: ld, W: wcat, Bias: bias, BiasType: bf, M: M, N: N, K: kr, GELU: gelu}); err != nil {
		return false, err
	}
	keep = cacheable
	kcatStats.fused.Add(1)
	return true, nil
}

// kcatWeight writes W [N, K] as bf16 into columns 0 … K−1 of wcat [N, K + r]: a bf16 W (copyW: a BF16
// weight as it is, an activation as b.as makes it) with a 2-D copy, another weight dequantized or
// converted straight into them (one kernel, the write that the three-GEMM path's Linear makes into the
// weight scratch). Runs on the CUDA goroutine.
func (b *Backend) kcatWeight(wcat Mem, w *Tensor, copyW bool, N, K, r int, ts *temps) error {
	if !copyW {
		if !CanDequantize(w.st.wtype) {
			return fmt.Errorf("weight type %v has no GPU kernel", w.st.wtype)
		}
		return b.d.DequantizeRows(nil, wcat, gguf.TypeBF16, w.mem(), w.st.wtype, int64(N), int64(K), int64(K+r))
	}
	wm, err := b.as(w, engine.BF16, ts)
	if err != nil {
		return err
	}
	return b.d.copy2D(nil, wcat, int64(K+r)*2, wm, int64(K)*2, int64(K)*2, int64(N))
}
