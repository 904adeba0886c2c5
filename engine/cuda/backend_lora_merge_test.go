//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// mergeWeight makes a weight of type typ and shape [rows, cols] from v on b.
func mergeWeight(t *testing.T, b *Backend, typ gguf.Type, v []float32, rows, cols int) engine.Tensor {
	t.Helper()
	data, err := gguf.Quantize(typ, v)
	if err != nil {
		t.Fatal(err)
	}
	return b.Weight(gguf.TensorInfo{Name: "w", Type: typ, Shape: []int64{int64(rows), int64(cols)}, Size: int64(len(data))}, data)
}

// mergeRef is w + up·down in float64, for w [rows, cols], up [rows, rank] and down [rank, cols].
func mergeRef(w, up, down []float32, rows, rank, cols int) []float64 {
	out := make([]float64, len(w))
	for o := range rows {
		for n := range cols {
			s := float64(w[o*cols+n])
			for r := range rank {
				s += float64(up[o*rank+r]) * float64(down[r*cols+n])
			}
			out[o*cols+n] = s
		}
	}
	return out
}

// mergeMagnitudes is |w| + Σ|up·down| per element, the scale of the f32 accumulation's rounding.
func mergeMagnitudes(w, up, down []float32, rows, rank, cols int) []float64 {
	abs := func(v []float32) []float32 {
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(math.Abs(float64(x)))
		}
		return out
	}
	return mergeRef(abs(w), abs(up), abs(down), rows, rank, cols)
}

// ulpOf is the spacing of typ's values at |x|: one unit in the last place of a normal number, the
// subnormal step below the normal range.
func ulpOf(typ gguf.Type, x float64) float64 {
	bits, minExp := 23, -126 // f32
	switch typ {
	case gguf.TypeBF16:
		bits = 7
	case gguf.TypeF16:
		bits, minExp = 10, -14
	}
	e := minExp
	if x != 0 {
		e = max(minExp, int(math.Floor(math.Log2(math.Abs(x)))))
	}
	return math.Ldexp(1, e-bits)
}

// TestMergeLoRA checks the LoRA merge on the device (engine/dit's LoRAMerger fast path) against w + up·down
// in float64: F32, F16 and BF16 weights over odd shapes and ranks (1 to 19, so K is padded), in place and
// into a copy, with updates as large as the weights so that the update's accuracy shows. A BF16 or F16
// result must be the exact sum rounded once (every element within one unit in the last place of it, plus
// 2⁻²² of the summed magnitudes that the f32 accumulation may lose), an
// F32 one float32-accurate (≤ 1e-5 relative L2, where bf16 GEMM operands without the three-part split
// would give about 1e-3). F16 and BF16 merges run in many small chunks too. A copy leaves the original's bytes
// unchanged and is freed with the model's weights.
func TestMergeLoRA(t *testing.T) {
	d := testDevice(t)
	if !d.CanAccumulate(GemmAuto) {
		t.Skipf("cuBLASLt not loaded (%s): the device merge declines every weight", d.ltReason)
	}
	b := NewBackendOn(d).ForModel("merge-test")
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	r := rand.New(rand.NewPCG(61, 62))
	defer func(c int) { mergeChunkBytes = c }(mergeChunkBytes)
	for _, chunk := range []int{64 << 20, 4 << 10} {
		mergeChunkBytes = chunk
		for _, sh := range [][3]int{{1, 8, 1}, {37, 72, 5}, {130, 264, 16}, {96, 33, 19}} {
			rows, cols, rank := sh[0], sh[1], sh[2]
			for _, typ := range []gguf.Type{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16} {
				if chunk != 64<<20 && typ == gguf.TypeF32 {
					continue // only F16 and BF16 merges run in chunks
				}
				for _, inPlace := range []bool{true, false} {
					name := fmt.Sprintf("%v/%dx%d/rank%d/inPlace=%v/chunk=%d", typ, rows, cols, rank, inPlace, chunk)
					t.Run(name, func(t *testing.T) {
						w0 := randF32(r, rows*cols, 1)
						up := randF32(r, rows*rank, 1/math.Sqrt(float64(rank)))
						down := randF32(r, rank*cols, 1)
						w := mergeWeight(t, b, typ, w0, rows, cols)
						defer b.Free(w)
						before := b.ToHost(w) // w0 in typ
						got, err := b.MergeLoRA(w, "w", up, down, rank, inPlace)
						if err != nil {
							t.Fatal(err)
						}
						if inPlace && got != w {
							t.Fatal("in place: MergeLoRA returned another tensor")
						}
						if !inPlace {
							defer b.Free(got)
							if got == w {
								t.Fatal("copy: MergeLoRA returned w itself")
							}
							if !slices.Equal(b.ToHost(w), before) {
								t.Error("copy: the original weight changed")
							}
						}
						if gt := got.(*Tensor).GGMLType(); gt != typ || !slices.Equal(got.Shape(), []int{rows, cols}) {
							t.Fatalf("merged weight is %v %v, want %v [%d %d]", gt, got.Shape(), typ, rows, cols)
						}
						want := mergeRef(before, up, down, rows, rank, cols)
						v := b.ToHost(got)
						if typ == gguf.TypeF32 {
							if e := relL2(v, want); !(e <= 1e-5) {
								t.Errorf("relative L2 error %.3g > 1e-5", e)
							}
							return
						}
						// One rounding to typ, plus what the f32 accumulation may lose where the sum
						// cancels: 2⁻²² of the summed magnitudes.
						mag := mergeMagnitudes(before, up, down, rows, rank, cols)
						bad := 0
						for i, x := range want {
							if diff := math.Abs(float64(v[i]) - x); !(diff <= ulpOf(typ, x)+math.Ldexp(mag[i], -22)) {
								if bad++; bad <= 3 {
									t.Errorf("element %d: %v, want %v rounded once to %v (off by %.3g ulp)", i, v[i], x, typ, diff/ulpOf(typ, x))
								}
							}
						}
						if bad > 0 {
							t.Errorf("%d of %d elements off by more than one ulp", bad, len(want))
						}
					})
				}
			}
		}
	}
	if left := b.MemStats().ByOwner["merge-test"]; left != 0 {
		t.Errorf("%d bytes of weights left after freeing every one", left)
	}
}

// TestMergeLoRACachedCopy merges into an F16 bias in place after a Linear has cached its converted copy:
// the next Linear must add the merged bias, not the cached original.
func TestMergeLoRACachedCopy(t *testing.T) {
	d := testDevice(t)
	if !d.CanAccumulate(GemmAuto) {
		t.Skipf("cuBLASLt not loaded (%s)", d.ltReason)
	}
	b := NewBackendOn(d).ForModel("merge-test")
	t.Cleanup(func() { _ = b.Close() })
	r := rand.New(rand.NewPCG(63, 64))
	const n, k = 16, 8
	bias0 := randF32(r, n, 1)
	bias := mergeWeight(t, b, gguf.TypeF16, bias0, 1, n)
	w := mergeWeight(t, b, gguf.TypeBF16, randF32(r, n*k, 1), n, k)
	x := b.FromHost(make([]float32, 2*k), 2, k) // zero rows: the Linear's output is the bias
	defer b.Free(bias, w, x)
	y := b.Linear(x, w, bias)
	b.Free(y)
	up, down := randF32(r, 2, 1), randF32(r, 2*n, 1) // rank 2, [1, 2] and [2, n]
	if _, err := b.MergeLoRA(bias, "bias", up, down, 2, true); err != nil {
		t.Fatal(err)
	}
	ref := mergeWeight(t, b, gguf.TypeF16, bias0, 1, n) // the original bias, rounded to f16 as it is stored
	want := mergeRef(b.ToHost(ref), up, down, 1, 2, n)
	b.Free(ref)
	y = b.Linear(x, w, bias)
	defer b.Free(y)
	got := b.ToHost(y)
	for row := range 2 {
		if e := relL2(got[row*n:(row+1)*n], want); !(e <= tolBF16) {
			t.Errorf("row %d after the merge: relative L2 error %.3g to the merged bias > %g (the cached original used?)", row, e, tolBF16)
		}
	}
}

// TestMergeLoRADeclines checks what the device merge refuses: a quantized weight, an activation (both
// wrapping errors.ErrUnsupported, so that the caller merges on the host) and matrices of the wrong size (a
// plain error); none changes the weight.
func TestMergeLoRADeclines(t *testing.T) {
	d := testDevice(t)
	b := NewBackendOn(d).ForModel("merge-test")
	t.Cleanup(func() { _ = b.Close() })
	r := rand.New(rand.NewPCG(65, 66))
	q := mergeWeight(t, b, gguf.TypeQ8_0, randF32(r, 4*32, 1), 4, 32)
	f := mergeWeight(t, b, gguf.TypeF32, randF32(r, 4*32, 1), 4, 32)
	act := b.FromHost(randF32(r, 4*32, 1), 4, 32)
	defer b.Free(q, f, act)
	up, down := randF32(r, 4*2, 1), randF32(r, 2*32, 1)
	for _, c := range []struct {
		name        string
		w           engine.Tensor
		up          []float32
		unsupported bool
	}{{"Q8_0 weight", q, up, true}, {"activation", act, up, true}, {"up of the wrong size", f, up[:6], false}} {
		before := b.ToHost(c.w)
		_, err := b.MergeLoRA(c.w, c.name, c.up, down, 2, true)
		switch {
		case err == nil:
			t.Errorf("%s: merged, want an error", c.name)
		case errors.Is(err, errors.ErrUnsupported) != c.unsupported && d.CanAccumulate(GemmAuto):
			t.Errorf("%s: %v; wraps ErrUnsupported %v, want %v", c.name, err, errors.Is(err, errors.ErrUnsupported), c.unsupported)
		}
		if !slices.Equal(b.ToHost(c.w), before) {
			t.Errorf("%s: the tensor changed", c.name)
		}
	}
}

// TestMergeOperands checks the merge GEMM's operand layout on the host (no GPU): X·Wᵀ summed in float64
// over the bf16 parts is up·down to float32 accuracy (the dropped part products are below 2⁻²⁴ of it),
// the padding columns are zero, and with only the first parts (as plain bf16 operands would be) it is not.
func TestMergeOperands(t *testing.T) {
	r := rand.New(rand.NewPCG(67, 68))
	for _, sh := range [][3]int{{1, 8, 1}, {5, 9, 3}, {17, 33, 19}} {
		rows, cols, rank := sh[0], sh[1], sh[2]
		k := (len(mergeParts)*rank + 7) / 8 * 8
		up, down := randF32(r, rows*rank, 1), randF32(r, rank*cols, 1)
		x, w := mergeOperandsHost(up, down, rows, rank, cols, k)
		want := mergeRef(make([]float32, rows*cols), up, down, rows, rank, cols)
		got, first := make([]float32, rows*cols), make([]float32, rows*cols)
		for o := range rows {
			for n := range cols {
				var s, s0 float64
				for c := range k {
					p := float64(bf16ToF32(x[o*k+c])) * float64(bf16ToF32(w[n*k+c]))
					s += p
					if c < rank {
						s0 += p
					}
				}
				got[o*cols+n], first[o*cols+n] = float32(s), float32(s0)
			}
		}
		for c := len(mergeParts) * rank; c < k; c++ {
			for o := range rows {
				if x[o*k+c] != 0 {
					t.Fatalf("%v: X[%d, %d] = %#x in the padding, want 0", sh, o, c, x[o*k+c])
				}
			}
		}
		if e := relL2(got, want); !(e <= 1e-6) {
			t.Errorf("%v: X·Wᵀ is %.3g relative from up·down, want ≤ 1e-6", sh, e)
		}
		if e := relL2(first, want); e < 1e-4 {
			t.Errorf("%v: the first parts alone are already %.3g from up·down: the test cannot tell the split from none", sh, e)
		}
	}
}
