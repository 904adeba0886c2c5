//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// Merging a LoRA adapter into a weight on the device (engine/dit's LoRAMerger fast path): W += up·down for
// W [out, in] (F32, F16 or BF16), up [out, r] and down [r, in].
//
// The product runs as one GEMM that accumulates into W (cuBLASLt, Beta = 1): Y = W [M = out, N = in],
// X = up [out, K], and the GEMM's W operand downᵀ [in, K]. The GEMM's operands are bf16, whose 8-bit
// significand would make the update a bf16-accurate one; so each value x of up and down is split on the host
// into three bf16 parts, x = x₀ + x₁ + x₂ exactly (each part the bf16 rounding of what the earlier ones
// leave), and the rank is widened to the six products xᵢ·yⱼ with i + j ≤ 2, concatenated along K: the
// dropped terms are below 2⁻²⁴ of the product, so the update is float32-accurate. f32 accumulation; the
// epilogue adds W read in its type (F32 W: in the GEMM itself).
//
// F16 and BF16 W: taken in row chunks, each widened into an f32 temporary, the GEMM accumulates into that,
// and a cast rounds the sums back into W once, to nearest even, all on the device (the GEMM writes no F16,
// and a GEMM accumulating into a BF16 W directly does not round once: see docs/BENCHMARKS.md).

// mergeParts lists the products of the bf16 parts (i of up, j of down) a merge sums: i + j ≤ 2.
var mergeParts = [][2]int{{0, 0}, {0, 1}, {1, 0}, {0, 2}, {1, 1}, {2, 0}}

// mergeChunkBytes bounds the f32 temporary of an F16 or BF16 merge, which also takes at most a quarter of the
// weight's rows (a variable: tests lower it to merge in many chunks).
var mergeChunkBytes = 64 << 20

// MergeLoRA is engine/dit's LoRAMerger fast path: it returns w + up·down for a weight w [out, in] stored
// F32, F16 or BF16 in device memory, up [out, rank] and down [rank, in] row-major host values, the sum
// float32-accurate and rounded once to w's type. With inPlace it is written into w's own memory (converted
// copies of w, and a cached [W | up] of run-time LoRA made from it, are dropped) and w is returned;
// otherwise a new weight under the backend's owner is returned and w is unchanged. name names w in errors.
// It declines, with an error wrapping errors.ErrUnsupported and nothing changed, a weight of another type,
// a weight of a swapped block (its memory is a slot's), an activation, and any weight when cuBLASLt is not
// loaded (the own GEMM kernel cannot accumulate into its output).
func (b *Backend) MergeLoRA(w engine.Tensor, name string, up, down []float32, rank int, inPlace bool) (engine.Tensor, error) {
	var out engine.Tensor
	err := b.d.Do(func() error {
		t, err := b.lookup(w)
		if err != nil {
			return err
		}
		switch {
		case !t.st.weight:
			return fmt.Errorf("cuda: merging a LoRA into %s: it is an activation %v, not a weight: %w", name, t.shape, errors.ErrUnsupported)
		case t.st.borrowed:
			return fmt.Errorf("cuda: merging a LoRA into %s: it is a weight of a swapped block, in a device slot: %w", name, errors.ErrUnsupported)
		case elemBytes(t.st.wtype) == 0:
			return fmt.Errorf("cuda: merging a LoRA into %s: it is %v; only F32, F16 and BF16 weights are merged on the device: %w", name, t.st.wtype, errors.ErrUnsupported)
		case !b.d.CanAccumulate(GemmAuto):
			return fmt.Errorf("cuda: merging a LoRA into %s: accumulating GEMMs need cuBLASLt, which is %s: %w", name, b.d.ltReason, errors.ErrUnsupported)
		}
		if len(t.shape) != 2 {
			return fmt.Errorf("cuda: merging a LoRA into %s: weight %v is not a matrix", name, t.shape)
		}
		rows, cols := t.shape[0], t.shape[1]
		if rank < 0 || len(up) != rows*rank || len(down) != rank*cols {
			return fmt.Errorf("cuda: merging a LoRA into %s %v: up has %d values and down %d, want [%d, %d] and [%d, %d]",
				name, t.shape, len(up), len(down), rows, rank, rank, cols)
		}
		var ts temps
		defer ts.release(b.pool)
		// Everything that can run out of memory comes before the first write into w.
		var x, wop Mem
		k := (len(mergeParts)*rank + 7) / 8 * 8
		if k > 0 && rows > 0 && cols > 0 {
			if x, wop, err = b.mergeOperands(up, down, rows, rank, cols, k, &ts); err != nil {
				return err
			}
		}
		var chunk Mem
		chunkRows := rows
		half := t.st.wtype == gguf.TypeF16 || t.st.wtype == gguf.TypeBF16
		if half && !x.IsNil() {
			// At most a quarter of w's rows: the chunk and the GEMM autotune's temporary of the chunk's size
			// stay within the one matrix of extra memory the pipeline plans for a merge.
			chunkRows = max(1, min(rows/4, mergeChunkBytes/(4*cols)))
			if chunk, err = b.tmp(&ts, int64(chunkRows)*int64(cols)*4); err != nil {
				return err
			}
		}
		dst := t
		if inPlace {
			b.settle(t.st)          // deferred norms reading w run before it changes
			b.pool.forgetKept(t.st) // a cached [W | up] made from w would be stale
			for _, c := range []**Buffer{&t.st.f32c, &t.st.bf16c} {
				if *c != nil {
					err := (*c).free()
					*c = nil
					if err != nil {
						return err
					}
				}
			}
		} else if dst, err = b.cloneWeight(t); err != nil {
			return fmt.Errorf("cuda: merging a LoRA into a copy of %s: %w", name, err)
		}
		if !x.IsNil() {
			if half {
				err = b.mergeHalf(dst.mem(), t.st.wtype, x, wop, chunk, rows, cols, k, chunkRows)
			} else {
				err = b.d.Gemm(nil, GemmOp{Y: dst.mem(), YType: t.st.wtype, X: x, W: wop, M: rows, N: cols, K: k, Beta: 1})
			}
			if err != nil {
				if !inPlace {
					err = errors.Join(err, b.freeWeight(dst.st))
				}
				return err
			}
		}
		out = dst
		return nil
	})
	return out, err
}

// cloneWeight makes a new weight under the backend's owner with t's type, shape and bytes (a device copy,
// queued on the compute stream). Runs on the CUDA goroutine.
func (b *Backend) cloneWeight(t *Tensor) (*Tensor, error) {
	buf, err := b.d.Alloc(b.owner, max(t.st.size, 1))
	if err != nil {
		return nil, err
	}
	if err := b.d.CopyDtoD(nil, buf.Mem(), t.mem(), t.st.size); err != nil {
		return nil, errors.Join(err, buf.free())
	}
	st := &storage{buf: buf, size: t.st.size, weight: true, wtype: t.st.wtype, owner: b.owner}
	b.weights[st] = struct{}{}
	return &Tensor{shape: append([]int(nil), t.shape...), st: st}, nil
}

// mergeOperands uploads the merge GEMM's operands (mergeOperandsHost) into temporaries. Runs on the CUDA
// goroutine.
func (b *Backend) mergeOperands(up, down []float32, rows, rank, cols, k int, ts *temps) (x, w Mem, err error) {
	xh, wh := mergeOperandsHost(up, down, rows, rank, cols, k)
	if x, err = b.uploadU16(xh, ts); err != nil {
		return
	}
	w, err = b.uploadU16(wh, ts)
	return
}

// mergeOperandsHost lays out the merge GEMM's bf16 operands for up [rows, rank] and down [rank, cols]:
// X [rows, k] holds, for each product (i, j) of mergeParts in turn, the rank columns of part i of up, and
// W [cols, k] the rank columns of part j of downᵀ; the columns past len(mergeParts)·rank are zero, so that
// X·Wᵀ = up·down to about float32 accuracy.
func mergeOperandsHost(up, down []float32, rows, rank, cols, k int) (x, w []uint16) {
	upParts, downParts := splitBF16x3(up), splitBF16x3(down)
	x = make([]uint16, rows*k)
	w = make([]uint16, cols*k)
	for p, ij := range mergeParts {
		u, d := upParts[ij[0]], downParts[ij[1]]
		for o := range rows {
			copy(x[o*k+p*rank:o*k+(p+1)*rank], u[o*rank:(o+1)*rank])
		}
		for r := range rank {
			for n, v := range d[r*cols : (r+1)*cols] {
				w[n*k+p*rank+r] = v
			}
		}
	}
	return x, w
}

// uploadU16 copies 16-bit host values into a new temporary. Runs on the CUDA goroutine.
func (b *Backend) uploadU16(h []uint16, ts *temps) (Mem, error) {
	m, err := b.tmp(ts, int64(len(h))*2)
	if err != nil || len(h) == 0 {
		return m, err
	}
	// SAFETY: h is Go memory without pointers; a host-to-device copy from pageable memory is staged by the
	// driver before the call returns, so the driver keeps no reference to it.
	return m, b.copyIn(m, unsafe.Pointer(&h[0]), int64(len(h))*2)
}

// splitBF16x3 splits each value into three bf16 parts whose sum is the value: part 0 is its bf16 rounding,
// part 1 the rounding of what part 0 leaves, part 2 of what both leave (each remainder is exact in f32, and
// 3·8 significand bits cover f32's 24).
func splitBF16x3(v []float32) [3][]uint16 {
	var p [3][]uint16
	for i := range p {
		p[i] = make([]uint16, len(v))
	}
	for i, x := range v {
		for j := range p {
			h := gguf.F32ToBF16(x)
			p[j][i] = h
			x -= bf16ToF32(h)
		}
	}
	return p
}

// mergeHalf adds X·Wᵀ to the F16 or BF16 (yt) weight y [rows, cols] chunkRows rows at a time: widen the
// chunk into the f32 temporary chunk, accumulate the GEMM into it and round it back into y, once (a GEMM
// accumulating into a BF16 y directly does not). Runs on the CUDA goroutine.
func (b *Backend) mergeHalf(y Mem, yt gguf.Type, x, w, chunk Mem, rows, cols, k, chunkRows int) error {
	for r0 := 0; r0 < rows; r0 += chunkRows {
		n := min(chunkRows, rows-r0)
		elems := int64(n) * int64(cols)
		yc := Mem{Ptr: y.Ptr + uintptr(int64(r0)*int64(cols)*2), Bytes: elems * 2}
		xc := Mem{Ptr: x.Ptr + uintptr(int64(r0)*int64(k)*2), Bytes: int64(n) * int64(k) * 2}
		tc := Mem{Ptr: chunk.Ptr, Bytes: elems * 4}
		if err := b.d.Cast(nil, tc, gguf.TypeF32, yc, yt, elems); err != nil {
			return err
		}
		if err := b.d.Gemm(nil, GemmOp{Y: tc, YType: gguf.TypeF32, X: xc, W: w, M: n, N: cols, K: k, Beta: 1}); err != nil {
			return err
		}
		if err := b.d.Cast(nil, yc, yt, tc, gguf.TypeF32, elems); err != nil {
			return err
		}
	}
	return nil
}
