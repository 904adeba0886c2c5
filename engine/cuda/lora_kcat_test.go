//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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
func kcatCounts() [3]int64 {
	return [3]int64{kcatStats.fused.Load(), kcatStats.fallback.Load(), kcatStats.declined.Load()}
}

// TestDequantizeRows checks Device.DequantizeRows, which run-time LoRA uses to dequantize W straight into
// [W | up]: Q8_0, Q4_K, F16 and F32 matrices written to bf16 and f32 with a row stride equal Dequantize's
// dense output bit for bit row by row, and the columns between the rows keep their fill; strides that are
// narrower than a row or not multiples of 8, and an output too small, are refused.
func TestDequantizeRows(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(45, 46))
	const rows, cols, fill = 5, 512, 0x4060
	for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_K, gguf.TypeF16, gguf.TypeF32} {
		src := randomBlocks(r, typ, rows*cols/typ.BlockSize())
		x := alloc(t, d, int64(len(src)))
		must(t, d.Upload(x, src))
		for _, yt := range []gguf.Type{gguf.TypeBF16, gguf.TypeF32} {
			es := int(elemBytes(yt)) / 2 // 16-bit words per element
			for _, ld := range []int{cols + 8, cols + 64, 2*cols + 24} {
				name := fmt.Sprintf("%v to %v, %d columns in rows of %d", typ, yt, cols, ld)
				yd := alloc(t, d, int64(rows*cols*es*2))
				ys := alloc(t, d, int64(rows*ld*es*2))
				must(t, d.Memset16(nil, ys, fill))
				must(t, d.Dequantize(nil, yd, yt, x, typ, rows*cols))
				if err := d.DequantizeRows(nil, ys, yt, x, typ, rows, cols, int64(ld)); err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				want := make([]uint16, rows*cols*es)
				got := make([]uint16, rows*ld*es)
				must(t, d.DownloadU16(want, yd))
				must(t, d.DownloadU16(got, ys))
				for i := 0; i < rows; i++ {
					row := got[i*ld*es : (i+1)*ld*es]
					if !slices.Equal(row[:cols*es], want[i*cols*es:(i+1)*cols*es]) {
						t.Errorf("%s: row %d differs from the dense dequantization", name, i)
					}
					if j := slices.IndexFunc(row[cols*es:], func(v uint16) bool { return v != fill }); j >= 0 {
						t.Errorf("%s: row %d: the gap was written (16-bit word %d of it)", name, i, j)
					}
				}
			}
		}
	}
	x := alloc(t, d, 64*34)
	y := alloc(t, d, 64*64*2)
	for _, c := range []struct {
		what           string
		rows, cols, ld int64
		y              Mem
	}{
		{"a stride narrower than the row", 2, 64, 32, y},
		{"columns not a multiple of 8", 2, 36, 64, y},
		{"a stride not a multiple of 8", 2, 64, 68, y},
		{"no rows", 0, 64, 72, y},
		{"an output too small", 2, 64, 96, y.Slice(0, (96+63)*2)},
	} {
		if err := d.DequantizeRows(nil, c.y, gguf.TypeBF16, x, gguf.TypeQ8_0, c.rows, c.cols, c.ld); err == nil {
			t.Errorf("DequantizeRows accepted %s (%d rows of %d, stride %d)", c.what, c.rows, c.cols, c.ld)
		} else {
			singleLine(t, err)
		}
	}
}

// TestBackendLinearLoRAKcat checks run-time LoRA's two paths (lora_kcat.go) against the CPU reference
// Linear(x, w, b) + Linear(Linear(x, down), up) (then GELU), and that each call took the path it should
// (the kcatStats counters: K-concatenated, three-GEMM, and of those the cost model's choices).
//
// For Q8_0 and F16 base weights, dequantized straight into the strided [W | up] (Device.DequantizeRows),
// and BF16 ones, copied into it, at an M above the cost model's bound (M > r for a dequantized W, M > K + r
// for a copied one; M odd): an F32 input with a pending LayerNorm + Modulate read by LoRA linears of ranks
// 16, 64 and 128 (the shadow gets 64 spare columns from the first: the first two fuse, the third has no
// room and takes three GEMMs) and then by a plain Linear and a LinearGELU reading the strided shadow; an
// F32 input without a pending norm; a BF16 input (no shadow: three GEMMs); bias and GELU. Then the cost
// model's own choices: a BF16 W at M ≤ K + r and a Q8_0 W at M ≤ r take three GEMMs (and a declined
// call gives a new shadow no spare columns), a Q8_0 W at M > r fuses.
func TestBackendLinearLoRAKcat(t *testing.T) {
	p := newOpPair(t)
	if !p.g.d.CanStride(GemmAuto) {
		t.Skipf("cuBLASLt not loaded (%s): LinearLoRA runs the separate ops", p.g.d.ltReason)
	}
	ref := p.loraRef
	const K, N = 256, 72
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
	// expect checks the counters' change since c0: fused, three-GEMM and declined (by the cost model) calls.
	expect := func(name string, c0 [3]int64, fused, fallback, declined int64) {
		t.Helper()
		c1 := kcatCounts()
		if got := [3]int64{c1[0] - c0[0], c1[1] - c0[1], c1[2] - c0[2]}; got != [3]int64{fused, fallback, declined} {
			t.Errorf("%s: %d K-concatenated, %d three-GEMM (%d by the cost model) calls, want %d, %d (%d)",
				name, got[0], got[1], got[2], fused, fallback, declined)
		}
	}
	for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeF16, gguf.TypeBF16} {
		M := 139 // > 128, the largest rank: the cost model picks the K-concatenated GEMM for a dequantized W
		if kcatCopiesW(true, typ) {
			M = 395 // > K + 128 for a copied W
		}
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
			name := fmt.Sprintf("%v M=%d: pending norm, reader %d (rank %d, bias %v, gelu %v)", typ, M, i+1, c.r, c.bias, c.gelu)
			c0 := kcatCounts()
			y := p.g.LinearLoRA(ng, wg, bgi, a.dg, a.ug, c.gelu)
			expect(name, c0, c.fused, c.back, 0)
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
		c0 := kcatCounts()
		y2 := p.g.LinearLoRA(x2g, wg, bg, a.dg, a.ug, true)
		expect(fmt.Sprintf("%v: F32 input", typ), c0, 1, 0, 0)
		p.check(fmt.Sprintf("%v: F32 input without a pending norm", typ), y2, ref(x2c, wc, bc, a.dc, a.uc, true), tolBF16)

		// A BF16 input has no shadow: three GEMMs, though the cost model would take the other path.
		x3g, x3c := p.act(engine.BF16, 1, M, K)
		c0 = kcatCounts()
		y3 := p.g.LinearLoRA(x3g, wg, bg, a.dg, a.ug, false)
		expect(fmt.Sprintf("%v: BF16 input", typ), c0, 0, 1, 0)
		p.check(fmt.Sprintf("%v: BF16 input", typ), y3, ref(x3c, wc, bc, a.dc, a.uc, false), tolBF16)

		// A write to x drops the strided shadow; the next LoRA reader makes a new one.
		p.g.AddGated(x2g, x3g, nil)
		p.c.AddGated(x2c, x3c, nil)
		c0 = kcatCounts()
		y4 := p.g.LinearLoRA(x2g, wg, nil, adapters[64].dg, adapters[64].ug, false)
		expect(fmt.Sprintf("%v: after a write", typ), c0, 1, 0, 0)
		p.check(fmt.Sprintf("%v: F32 input after a write", typ), y4, ref(x2c, wc, nil, adapters[64].dc, adapters[64].uc, false), tolBF16)

		p.g.Free(outs...)
		p.g.Free(wg, bg, xg, shg, scg, ng, x2g, y2, x3g, y3, y4)
	}

	// The cost model's choices on inputs whose shadows could take the rank.
	bfg, bfc := p.weight(gguf.TypeBF16, 1/math.Sqrt(K), N, K)
	q8g, q8c := p.weight(gguf.TypeQ8_0, 1/math.Sqrt(K), N, K)
	defer p.g.Free(bfg, q8g)
	a := adapters[16]
	for _, c := range []struct {
		what                      string
		M                         int
		wg, wc                    engine.Tensor
		fused, fallback, declined int64
		ld                        int // x's shadow's row stride after the call: dense when declined
	}{
		{"BF16 W, M = 67 ≤ K + r: three GEMMs", 67, bfg, bfc, 0, 1, 1, K},
		{"Q8_0 W, M = 12 ≤ r: three GEMMs", 12, q8g, q8c, 0, 1, 1, K},
		{"Q8_0 W, M = 24 > r: K-concatenated", 24, q8g, q8c, 1, 0, 0, K + kcatSpare(16)},
	} {
		xg, xc := p.act(engine.F32, 1, c.M, K)
		c0 := kcatCounts()
		y := p.g.LinearLoRA(xg, c.wg, nil, a.dg, a.ug, false)
		expect(c.what, c0, c.fused, c.fallback, c.declined)
		p.check(c.what, y, ref(xc, c.wc, nil, a.dc, a.uc, false), tolBF16)
		st := xg.(*Tensor).st
		if ld := shadowStride(st, K); st.shadow == nil || ld != c.ld {
			t.Errorf("%s: shadow row stride %d, want %d", c.what, ld, c.ld)
		}
		outs := []engine.Tensor{xg, y}
		if c.wg == bfg {
			// A later reader that the cost model would fuse (Q8_0, M > r) finds no room in the dense shadow.
			name := c.what + ", then a Q8_0 reader"
			c0 = kcatCounts()
			y2 := p.g.LinearLoRA(xg, q8g, nil, a.dg, a.ug, false)
			expect(name, c0, 0, 1, 0)
			p.check(name, y2, ref(xc, q8c, nil, a.dc, a.uc, false), tolBF16)
			outs = append(outs, y2)
		}
		p.g.Free(outs...)
	}
}

// TestBackendLinearLoRAKcatReshaped: a view of a pending LayerNorm with another row width (Reshape [M, K] to
// [M/2, 2K]) is read by a LoRA linear and a plain one; the shadow's spare columns are only for the norm's own
// rows, so this view's shadow is made dense and both equal the CPU results.
func TestBackendLinearLoRAKcatReshaped(t *testing.T) {
	p := newOpPair(t)
	if !p.g.d.CanStride(GemmAuto) {
		t.Skipf("cuBLASLt not loaded (%s): LinearLoRA runs the separate ops", p.g.d.ltReason)
	}
	const M, K, N, r = 400, 128, 72, 16
	xg, xc := p.act(engine.F32, 1, M, K)
	ng := p.g.Reshape(p.g.LayerNorm(xg, nil, nil, 1e-6), M/2, 2*K)
	nc := p.c.Reshape(p.c.LayerNorm(xc, nil, nil, 1e-6), M/2, 2*K)
	wg, wc := p.weight(gguf.TypeQ8_0, 1/math.Sqrt(2*K), N, 2*K)
	dg, dc := p.weight(gguf.TypeBF16, 1/math.Sqrt(2*K), r, 2*K)
	ug, uc := p.weight(gguf.TypeBF16, 0.5/math.Sqrt(r), N, r)
	defer p.g.Free(wg, dg, ug)
	y := p.g.LinearLoRA(ng, wg, nil, dg, ug, false)
	p.check("LoRA linear of a reshaped pending norm", y, p.loraRef(nc, wc, nil, dc, uc, false), tolBF16)
	if st := ng.(*Tensor).st; st.shadow != nil && shadowStride(st, 2*K) != 2*K {
		t.Errorf("the reshaped view's shadow has row stride %d, want %d (dense)", shadowStride(st, 2*K), 2*K)
	}
	yl := p.g.Linear(ng, wg, nil)
	p.check("plain Linear of the reshaped pending norm", yl, p.c.Linear(nc, wc, nil), tolBF16)
}

// TestCopy2D: Device.copy2D copies each row and leaves the gaps between the destination rows alone, through
// its copy kernel (16-byte aligned rows and pitches) and through cuMemcpy2DAsync (any other shape).
func TestCopy2D(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(47, 48))
	const fill = 0x7e57
	for _, c := range []struct{ rows, width, spitch, dpitch, off int }{
		{7, 64, 64, 96, 0}, // the kernel: words of 16 bytes
		{300, 10240, 10240, 10368, 0},
		{5000, 16, 16, 32, 0}, // more rows than blocks: the grid-stride loop over rows
		{5, 48, 80, 112, 0},
		{6, 20, 20, 36, 0}, // cuMemcpy2DAsync: rows not a multiple of 16 bytes
		{4, 64, 64, 96, 2}, // cuMemcpy2DAsync: a source off the 16-byte grid
	} {
		name := fmt.Sprintf("%d rows of %d bytes, pitches %d → %d, source offset %d", c.rows, c.width, c.spitch, c.dpitch, c.off)
		src := make([]uint16, (c.rows*c.spitch+c.off)/2)
		for i := range src {
			src[i] = uint16(r.Uint32())
		}
		sm := alloc(t, d, int64(len(src)*2))
		must(t, d.UploadU16(sm, src))
		dm := alloc(t, d, int64(c.rows*c.dpitch))
		must(t, d.Memset16(nil, dm, fill))
		sub := Mem{Ptr: sm.Ptr + uintptr(c.off), Bytes: sm.Bytes - int64(c.off)}
		if err := d.Do(func() error {
			return d.copy2D(nil, dm, int64(c.dpitch), sub, int64(c.spitch), int64(c.width), int64(c.rows))
		}); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got := make([]uint16, c.rows*c.dpitch/2)
		must(t, d.DownloadU16(got, dm))
		for i := 0; i < c.rows; i++ {
			row := got[i*c.dpitch/2 : (i+1)*c.dpitch/2]
			want := src[(i*c.spitch+c.off)/2 : (i*c.spitch+c.off+c.width)/2]
			if !slices.Equal(row[:c.width/2], want) {
				t.Errorf("%s: row %d differs", name, i)
			}
			if j := slices.IndexFunc(row[c.width/2:], func(v uint16) bool { return v != fill }); j >= 0 {
				t.Errorf("%s: row %d: the gap was written (16-bit word %d of it)", name, i, j)
			}
		}
	}
}
