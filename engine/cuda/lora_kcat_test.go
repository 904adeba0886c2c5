//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// strided returns rows rows of cols values spread to a row stride of ld, the gaps filled with fill.
func strided(v []float32, rows, cols, ld int, fill float32) []float32 {
	out := make([]float32, rows*ld)
	for i := range out {
		out[i] = fill
	}
	for r := 0; r < rows; r++ {
		copy(out[r*ld:r*ld+cols], v[r*cols:(r+1)*cols])
	}
	return out
}

// dense takes the first cols of every row of a matrix with row stride ld.
func dense(v []float32, rows, cols, ld int) []float32 {
	out := make([]float32, 0, rows*cols)
	for r := 0; r < rows; r++ {
		out = append(out, v[r*ld:r*ld+cols]...)
	}
	return out
}

// checkGaps reports the first element of the gaps (columns cols … ld−1 of every row) that is not fill.
func checkGaps(t *testing.T, what string, v []float32, rows, cols, ld int, fill float32) {
	t.Helper()
	for r := 0; r < rows; r++ {
		for c := cols; c < ld; c++ {
			if g := v[r*ld+c]; g != fill {
				t.Errorf("%s: spare column %d of row %d changed to %v", what, c, r, g)
				return
			}
		}
	}
}

// TestGemmStrided checks GemmOp.LdX and LdY (strided cuBLASLt plans, lora_kcat_lt.go) against float64:
// X read from the first K columns of a wider matrix, Y written into the first N columns of one (the other
// columns untouched), with bias and GELU, odd M, and a shape large enough to be autotuned. The own kernel
// and strides narrower than a row or not a multiple of 8 are refused.
func TestGemmStrided(t *testing.T) {
	d := testDevice(t)
	if !d.CanStride(GemmAuto) {
		t.Skipf("cuBLASLt not loaded (%s): no GEMM path takes strided operands", d.ltReason)
	}
	r := rand.New(rand.NewPCG(41, 42))
	const fill = 3.5 // bf16-exact
	for _, sh := range []struct{ m, n, k, ldx, ldy, rows int }{
		{67, 24, 64, 128, 40, 67}, {5, 72, 256, 320, 72, 5}, {130, 264, 256, 256, 328, 130}, {1024, 1024, 512, 576, 1088, 9},
	} {
		x := roundBF16(randF32(r, sh.m*sh.k, 1))
		w := roundBF16(randF32(r, sh.n*sh.k, 0.1))
		bias := roundBF16(randF32(r, sh.n, 1))
		xd := upload(t, d, strided(x, sh.m, sh.k, sh.ldx, fill), gguf.TypeBF16)
		wd, bd := upload(t, d, w, gguf.TypeBF16), upload(t, d, bias, gguf.TypeBF16)
		prod := refGemm(x[:sh.rows*sh.k], w, nil, sh.rows, sh.n, sh.k)
		for _, epi := range []struct{ bias, gelu bool }{{false, false}, {true, true}} {
			name := fmt.Sprintf("M=%d N=%d K=%d ldx=%d ldy=%d bias=%v gelu=%v", sh.m, sh.n, sh.k, sh.ldx, sh.ldy, epi.bias, epi.gelu)
			yd := alloc(t, d, int64(sh.m*sh.ldy)*2)
			must(t, d.Memset16(nil, yd, 0x4060)) // fill (3.5) in bf16
			op := GemmOp{Y: yd, YType: gguf.TypeBF16, X: xd, W: wd, BiasType: gguf.TypeBF16, M: sh.m, N: sh.n, K: sh.k, GELU: epi.gelu, LdX: sh.ldx, LdY: sh.ldy}
			if epi.bias {
				op.Bias = bd
			}
			if err := d.Gemm(nil, op); err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			want := make([]float64, sh.rows*sh.n)
			for i := range want {
				v := prod[i]
				if epi.bias {
					v += float64(bias[i%sh.n])
				}
				if epi.gelu {
					v = geluTanh(v)
				}
				want[i] = v
			}
			got := download(t, d, yd, sh.m*sh.ldy, gguf.TypeBF16)
			if e := relL2(dense(got, sh.rows, sh.n, sh.ldy), want); !(e <= tolFor(gguf.TypeBF16)) {
				t.Errorf("%s: relative L2 error %.3g", name, e)
			}
			checkGaps(t, name, got, sh.m, sh.n, sh.ldy, fill)
		}
	}
	x := alloc(t, d, 16*16*2)
	for _, op := range []GemmOp{
		{Y: x, YType: gguf.TypeBF16, X: x, W: x, M: 8, N: 8, K: 8, LdX: 16, Path: GemmOwn},
		{Y: x, YType: gguf.TypeBF16, X: x, W: x, M: 8, N: 8, K: 16, LdX: 8},
		{Y: x, YType: gguf.TypeBF16, X: x, W: x, M: 8, N: 8, K: 8, LdX: 12},
		{Y: x, YType: gguf.TypeBF16, X: x, W: x, M: 8, N: 8, K: 8, LdY: 12},
	} {
		if err := d.Gemm(nil, op); err == nil {
			t.Errorf("Gemm accepted LdX=%d LdY=%d for K=%d N=%d on path %v", op.LdX, op.LdY, op.K, op.N, op.Path)
		} else {
			singleLine(t, err)
		}
	}
}

// TestNormStrided checks LayerNormArgs.LdY: LayerNorm and AddLayerNorm into a bf16 output with spare
// columns write exactly what they write densely and leave the spare columns alone (AddLayerNorm's 4-wide
// path at 256 columns, its scalar one at 92).
func TestNormStrided(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(43, 44))
	const rows, fill = 37, 3.5
	bf := gguf.TypeBF16
	for _, cols := range []int{256, 92} {
		ld := cols + 64
		x := randF32(r, rows*cols, 1)
		res := randF32(r, rows*cols, 1)
		sh, sc := randF32(r, cols, 0.5), randF32(r, cols, 0.5)
		a := LayerNormArgs{Shift: upload(t, d, sh, gguf.TypeF32), Scale: upload(t, d, sc, gguf.TypeF32)}
		for _, add := range []bool{false, true} {
			name := fmt.Sprintf("cols %d add %v", cols, add)
			yd := alloc(t, d, int64(rows*cols*2))
			ys := upload(t, d, strided(make([]float32, rows*cols), rows, cols, ld, fill), bf)
			for i, y := range []Mem{yd, ys} {
				xd, rd := upload(t, d, x, gguf.TypeF32), upload(t, d, res, gguf.TypeF32)
				aa := a
				if i == 1 {
					aa.LdY = ld
				}
				if add {
					must(t, d.AddLayerNorm(nil, y, bf, xd, rd, gguf.TypeF32, Mem{}, rows, cols, 1e-6, aa))
				} else {
					must(t, d.LayerNorm(nil, y, bf, xd, gguf.TypeF32, rows, cols, 1e-6, aa))
				}
			}
			want := download(t, d, yd, rows*cols, bf)
			got := download(t, d, ys, rows*ld, bf)
			if g := dense(got, rows, cols, ld); !slicesEqualF32(g, want) {
				t.Errorf("%s: the strided output differs from the dense one", name)
			}
			checkGaps(t, name, got, rows, cols, ld, fill)
		}
	}
	y := alloc(t, d, 4*64*2)
	if err := d.LayerNorm(nil, y, bf, y, bf, 2, 32, 1e-6, LayerNormArgs{LdY: 34}); err == nil {
		t.Error("LayerNorm accepted an output stride that is not a multiple of 4")
	}
}

func slicesEqualF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(float64(a[i])) && math.IsNaN(float64(b[i]))) {
			return false
		}
	}
	return true
}

// kcatCounts reads the LinearLoRA path counters.
func kcatCounts() (fused, fallback int64) { return kcatStats.fused.Load(), kcatStats.fallback.Load() }

// TestBackendLinearLoRAKcat checks the K-concatenated LoRA GEMM (lora_kcat.go) against the CPU reference
// Linear(x, w, b) + Linear(Linear(x, down), up) (then GELU) and that it ran where it should: an F32 input
// with a pending LayerNorm + Modulate read by LoRA linears of ranks 16, 64 and 128 (the shadow gets 64
// spare columns from the first: the first two fuse, the third takes the three-GEMM path) and then by a
// plain Linear reading the strided shadow; an F32 input without a pending norm; a BF16 input (no shadow:
// three GEMMs); bias and GELU; Q8_0, F16 and BF16 base weights; M = 67 (not a multiple of 8 or 16).
func TestBackendLinearLoRAKcat(t *testing.T) {
	p := newOpPair(t)
	if !p.g.d.CanStride(GemmAuto) {
		t.Skipf("cuBLASLt not loaded (%s): LinearLoRA runs the separate ops", p.g.d.ltReason)
	}
	ref := p.loraRef
	const M, K, N = 67, 256, 72
	type adapter struct{ dg, dc, ug, uc engine.Tensor }
	lora := func(r int) adapter {
		dg, dc := p.weight(gguf.TypeBF16, 1/math.Sqrt(K), r, K)
		ug, uc := p.weight(gguf.TypeBF16, 0.5/math.Sqrt(float64(r)), N, r)
		return adapter{dg, dc, ug, uc}
	}
	adapters := map[int]adapter{16: lora(16), 64: lora(64), 128: lora(128), 32: lora(32)}
	defer func() {
		for _, a := range adapters {
			p.g.Free(a.dg, a.ug)
		}
	}()
	expect := func(name string, f0, b0 int64, fused, fallback int64) {
		t.Helper()
		f1, b1 := kcatCounts()
		if f1-f0 != fused || b1-b0 != fallback {
			t.Errorf("%s: %d K-concatenated and %d three-GEMM calls, want %d and %d", name, f1-f0, b1-b0, fused, fallback)
		}
	}
	for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeF16, gguf.TypeBF16} {
		wg, wc := p.weight(typ, 1/math.Sqrt(K), N, K)
		bg, bc := p.weight(gguf.TypeF32, 0.5, N)

		// A pending LayerNorm + Modulate read by three LoRA linears and a plain Linear.
		xg, xc := p.act(engine.F32, 1, M, K)
		shg, shc := p.act(engine.F32, 0.5, K)
		scg, scc := p.act(engine.F32, 0.5, K)
		ng := p.g.Modulate(p.g.LayerNorm(xg, nil, nil, 1e-6), shg, scg)
		nc := p.c.Modulate(p.c.LayerNorm(xc, nil, nil, 1e-6), shc, scc)
		var outs []engine.Tensor
		for i, c := range []struct {
			r           int
			bias, gelu  bool
			fused, back int64
		}{{16, true, false, 1, 0}, {64, false, true, 1, 0}, {128, true, true, 0, 1}} {
			a := adapters[c.r]
			var bgi, bci engine.Tensor
			if c.bias {
				bgi, bci = bg, bc
			}
			name := fmt.Sprintf("%v: pending norm, reader %d (rank %d, bias %v, gelu %v)", typ, i+1, c.r, c.bias, c.gelu)
			f0, b0 := kcatCounts()
			y := p.g.LinearLoRA(ng, wg, bgi, a.dg, a.ug, c.gelu)
			expect(name, f0, b0, c.fused, c.back)
			p.check(name, y, ref(nc, wc, bci, a.dc, a.uc, c.gelu), tolBF16)
			outs = append(outs, y)
			if i == 0 {
				st := ng.(*Tensor).st
				if ld := shadowStride(st, K); st.shadow == nil || ld != K+kcatSpare(16) {
					t.Errorf("%s: shadow row stride %d, want %d", name, ld, K+kcatSpare(16))
				}
			}
		}
		yl := p.g.Linear(ng, wg, bg)
		p.check(fmt.Sprintf("%v: plain Linear of the strided shadow", typ), yl, p.c.Linear(nc, wc, bc), tolBF16)
		yg := p.g.LinearGELU(ng, wg, bg)
		p.check(fmt.Sprintf("%v: LinearGELU of the strided shadow", typ), yg, p.c.GELU(p.c.Linear(nc, wc, bc)), tolBF16)
		// The F32 value of the pending norm (materialized, not the shadow) is unchanged by the spare columns.
		p.check(fmt.Sprintf("%v: the norm itself", typ), ng, nc, tolF32)
		outs = append(outs, yl, yg)

		// An F32 input without a pending norm: its shadow is a strided cast.
		x2g, x2c := p.act(engine.F32, 1, M, K)
		a := adapters[32]
		f0, b0 := kcatCounts()
		y2 := p.g.LinearLoRA(x2g, wg, bg, a.dg, a.ug, true)
		expect(fmt.Sprintf("%v: F32 input", typ), f0, b0, 1, 0)
		p.check(fmt.Sprintf("%v: F32 input without a pending norm", typ), y2, ref(x2c, wc, bc, a.dc, a.uc, true), tolBF16)

		// A BF16 input has no shadow: three GEMMs.
		x3g, x3c := p.act(engine.BF16, 1, M, K)
		f0, b0 = kcatCounts()
		y3 := p.g.LinearLoRA(x3g, wg, bg, a.dg, a.ug, false)
		expect(fmt.Sprintf("%v: BF16 input", typ), f0, b0, 0, 1)
		p.check(fmt.Sprintf("%v: BF16 input", typ), y3, ref(x3c, wc, bc, a.dc, a.uc, false), tolBF16)

		// A write to x drops the strided shadow; the next LoRA reader makes a new one.
		p.g.AddGated(x2g, x3g, nil)
		p.c.AddGated(x2c, x3c, nil)
		f0, b0 = kcatCounts()
		y4 := p.g.LinearLoRA(x2g, wg, nil, adapters[64].dg, adapters[64].ug, false)
		expect(fmt.Sprintf("%v: after a write", typ), f0, b0, 1, 0)
		p.check(fmt.Sprintf("%v: F32 input after a write", typ), y4, ref(x2c, wc, nil, adapters[64].dc, adapters[64].uc, false), tolBF16)

		p.g.Free(outs...)
		p.g.Free(wg, bg, xg, shg, scg, ng, x2g, y2, x3g, y3, y4)
	}
}
