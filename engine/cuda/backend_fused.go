//go:build cuda

package cuda

import (
	"fmt"
	"slices"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// Fused forms of the DiT block's elementwise work, offered to engine/dit as optional fast paths
// (dit.LinearGELU, dit.NormRotator); the separate ops stay the fallback of other backends.

// LinearGELU is GELU(Linear(x, w, bias)) with the tanh approximation: in cuBLASLt's GELU_BIAS epilogue,
// which applies GELU to the f32 sum before the output is rounded (the separate ops round the Linear output
// to bf16 first); with the own GEMM kernel or PrecisionF32, a GELU pass over the Linear output.
func (b *Backend) LinearGELU(x, w, bias engine.Tensor) engine.Tensor {
	return b.linear("LinearGELU", x, w, bias, true, nil)
}

// RMSNormRotate is RMSNorm(x, w, eps) followed by RotatePairs(·, cos, sin, heads) in one pass over each
// row: x [L, H·D] (the norm runs over the full row, as WanRMSNorm on q and k), w [H·D] (nil: none), cos
// and sin [L, D/2]. It returns a new tensor of x's type, equal to the two ops' result up to the order of
// the sum of squares.
func (b *Backend) RMSNormRotate(xx, ww, cc, ss engine.Tensor, heads int, eps float32) engine.Tensor {
	var y *Tensor
	b.run("RMSNormRotate", func() error {
		var ts temps
		defer ts.release(b.pool)
		x, err := b.tensor(xx)
		if err != nil {
			return err
		}
		L, HD := x.rowsCols()
		if len(x.shape) != 2 || heads <= 0 || HD%heads != 0 || (HD/heads)%2 != 0 {
			return fmt.Errorf("x %v with %d heads", x.shape, heads)
		}
		P := HD / heads / 2
		xm, dt, err := b.input(x, &ts)
		if err != nil {
			return err
		}
		wm, err := b.vector(ww, HD, "weight", &ts)
		if err != nil {
			return err
		}
		cs, sn, err := b.ropeTables(cc, ss, L, P, &ts)
		if err != nil {
			return err
		}
		if y, err = b.newAct(x.shape, dt); err != nil {
			return err
		}
		if L == 0 {
			return nil
		}
		g := ggmlOf(dt)
		if err = b.d.RMSNormRope(nil, y.mem(), g, xm, g, L, HD, P, eps, wm, cs, sn); err != nil {
			b.drop(y)
		}
		return err
	})
	return y
}

// ropeTables resolves the cosines and sines of a rotary embedding, cc and ss [L, P], as F32 memory.
func (b *Backend) ropeTables(cc, ss engine.Tensor, L, P int, ts *temps) (cs, sn Mem, err error) {
	var m [2]Mem
	for i, v := range []engine.Tensor{cc, ss} {
		t, err := b.tensor(v)
		if err != nil {
			return Mem{}, Mem{}, err
		}
		if !slices.Equal(t.shape, []int{L, P}) {
			return Mem{}, Mem{}, fmt.Errorf("cos/sin %v, want [%d %d]", t.shape, L, P)
		}
		if m[i], err = b.as(t, engine.F32, ts); err != nil {
			return Mem{}, Mem{}, err
		}
	}
	return m[0], m[1], nil
}

// RMSNormRope computes y = rotate(RMSNorm(x)·weight) over rows rows of cols elements (kernels/fused.cu,
// rmsnorm_rope): the norm over the full row, then the interleaved pairs of every head of 2·pairs columns
// rotated by cos and sin (f32 [rows, pairs]). x and y are both f32 or both bf16 and must not overlap;
// weight (f32 [cols]) is optional.
func (d *Device) RMSNormRope(s *Stream, y Mem, yt gguf.Type, x Mem, xt gguf.Type, rows, cols, pairs int, eps float32, weight, cos, sin Mem) error {
	if err := checkRows("rmsnorm_rope", rows, cols); err != nil {
		return err
	}
	if pairs <= 0 || cols%(2*pairs) != 0 {
		return fmt.Errorf("cuda: rmsnorm_rope: %d columns are not whole heads of %d pairs", cols, pairs)
	}
	if err := checkActType("rmsnorm_rope", xt, gguf.TypeF32, gguf.TypeBF16); err != nil {
		return err
	}
	if yt != xt {
		return fmt.Errorf("cuda: rmsnorm_rope: output type %v differs from the input type %v", yt, xt)
	}
	n := int64(rows) * int64(cols)
	tab := int64(rows) * int64(pairs) * 4
	if err := firstErr(need("rmsnorm_rope x", x, n*elemBytes(xt)), need("rmsnorm_rope y", y, n*elemBytes(yt)),
		needOpt("rmsnorm_rope weight", weight, int64(cols)*4), need("rmsnorm_rope cos", cos, tab), need("rmsnorm_rope sin", sin, tab)); err != nil {
		return err
	}
	if y.Ptr+uintptr(y.Bytes) > x.Ptr && x.Ptr+uintptr(x.Bytes) > y.Ptr {
		return fmt.Errorf("cuda: rmsnorm_rope: y overlaps x")
	}
	vec, threads := int32(0), normThreads(cols/2)
	if cols%8 == 0 && pairs%4 == 0 && aligned16(y, x, weight, cos, sin) {
		vec, threads = 1, normThreads(cols/8)
	}
	return d.Do(func() error {
		k, err := d.getKernel("fused", "rmsnorm_rope_"+typeSuffix(xt)+"_"+typeSuffix(yt))
		if err != nil {
			return err
		}
		return d.launch(s, k, dim3{uint32(rows), 1, 1}, dim3{threads, 1, 1}, 0, y, x, int32(cols), eps, weight, cos, sin, int32(pairs), vec)
	})
}
