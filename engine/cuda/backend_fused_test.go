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

// geluTanh is PyTorch's GELU(approximate='tanh') in float64.
func geluTanh(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

// TestGemmGELU checks GemmOp.GELU on every GEMM path (cuBLASLt's epilogue, the own kernel followed by a
// GELU pass) against GELU of the float64 product.
func TestGemmGELU(t *testing.T) {
	d := testDevice(t)
	defer func() { ownTileOverride = "" }()
	r := rand.New(rand.NewPCG(21, 22))
	for _, sh := range [][3]int{{1, 8, 8}, {3, 5, 8}, {17, 33, 72}, {130, 257, 264}, {300, 517, 1000}} {
		m, n, k := sh[0], sh[1], sh[2]
		x := roundBF16(randF32(r, m*k, 1))
		w := roundBF16(randF32(r, n*k, 0.1))
		xd, wd := upload(t, d, x, gguf.TypeBF16), upload(t, d, w, gguf.TypeBF16)
		for _, withBias := range []bool{false, true} {
			for _, yt := range []gguf.Type{gguf.TypeBF16, gguf.TypeF32} {
				var b []float32
				var bd Mem
				if withBias {
					b = randF32(r, n, 1)
					if yt == gguf.TypeBF16 {
						b = roundBF16(b)
					}
					bd = upload(t, d, b, yt)
				}
				want := refGemm(x, w, b, m, n, k)
				for i := range want {
					want[i] = geluTanh(want[i])
				}
				yd := alloc(t, d, int64(m*n)*elemBytes(yt))
				for _, v := range gemmVariants(d) {
					for _, separate := range []bool{false, true} { // Config.SeparateGELU: the GELU as its own pass after cuBLASLt
						if separate && (v.path == GemmOwn || !d.HasCublasLt()) {
							continue
						}
						name := fmt.Sprintf("%dx%dx%d/%s/out=%v/bias=%v/separate=%v", m, n, k, v.name, yt, withBias, separate)
						ownTileOverride = v.tile
						setSeparateGELU(d, separate)
						poison(t, d, yd, yt)
						must(t, d.Gemm(nil, GemmOp{Y: yd, YType: yt, X: xd, W: wd, Bias: bd, BiasType: yt, M: m, N: n, K: k, Path: v.path, GELU: true}))
						setSeparateGELU(d, false)
						if e := relL2(download(t, d, yd, m*n, yt), want); !(e <= tolFor(yt)) {
							t.Errorf("%s: relative L2 error %.3g > %g", name, e, tolFor(yt))
						}
					}
				}
			}
		}
	}
}

// setSeparateGELU sets the shared test device's Config.SeparateGELU on its CUDA goroutine.
func setSeparateGELU(d *Device, on bool) {
	_ = d.Do(func() error { d.cfg.SeparateGELU = on; return nil })
}

// TestBackendLinearGELU checks LinearGELU against GELU(Linear) of the CPU reference: weight types, odd
// shapes, with and without a bias, a deferred LayerNorm/Modulate as the input, and PrecisionF32.
func TestBackendLinearGELU(t *testing.T) {
	p := newOpPair(t)
	for _, typ := range []gguf.Type{gguf.TypeF32, gguf.TypeBF16, gguf.TypeQ8_0} {
		for _, s := range []struct{ M, K, N int }{{1, 256, 40}, {5, 256, 72}, {67, 512, 130}, {300, 768, 264}} {
			for _, withBias := range []bool{false, true} {
				name := fmt.Sprintf("%v %dx%dx%d bias %v", typ, s.M, s.K, s.N, withBias)
				xg, xc := p.act(engine.F32, 1, s.M, s.K)
				wg, wc := p.weight(typ, 2/math.Sqrt(float64(s.K)), s.N, s.K)
				var bg, bc engine.Tensor
				if withBias {
					bg, bc = p.weight(gguf.TypeF32, 1, s.N)
				}
				p.check("LinearGELU "+name, p.g.LinearGELU(xg, wg, bg), p.c.GELU(p.c.Linear(xc, wc, bc)), tolBF16)

				// The deferred LayerNorm + Modulate of the DiT's FFN input.
				shg, shc := p.act(engine.F32, 0.5, s.K)
				scg, scc := p.act(engine.F32, 0.5, s.K)
				ng := p.g.Modulate(p.g.LayerNorm(xg, nil, nil, 1e-6), shg, scg)
				nc := p.c.Modulate(p.c.LayerNorm(xc, nil, nil, 1e-6), shc, scc)
				p.check("LinearGELU of a deferred LN "+name, p.g.LinearGELU(ng, wg, bg), p.c.GELU(p.c.Linear(nc, wc, bc)), tolBF16)

				f := p.g.WithPrecision(PrecisionF32)
				y := f.LinearGELU(xg, wg, bg)
				if y.DType() != engine.F32 {
					t.Errorf("LinearGELU with PrecisionF32: dtype %v", y.DType())
				}
				tol := 2e-5 // as TestBackendPrecisionF32
				p.check("LinearGELU PrecisionF32 "+name, y, p.c.GELU(p.c.Linear(xc, wc, bc)), tol)
				p.g.Free(xg, wg, ng, shg, scg, y)
				if bg != nil {
					p.g.Free(bg)
				}
			}
		}
	}
	if err := catchOp(func() {
		p.g.LinearGELU(p.g.FromHost(make([]float32, 6), 2, 3), p.g.FromHost(make([]float32, 8), 2, 4), nil)
	}); err == nil {
		t.Error("LinearGELU accepted x [2 3] with a weight [2 4]")
	}
}

// TestBackendRMSNormRotate checks the fused RMSNorm + rotary embedding against RMSNorm then RotatePairs
// on the CPU: f32 and bf16, odd head counts and widths (the scalar path), the vectorized path, with and
// without a weight.
func TestBackendRMSNormRotate(t *testing.T) {
	p := newOpPair(t)
	for _, dt := range []engine.DType{engine.F32, engine.BF16} {
		tol := tolOf(dt)
		for _, s := range []struct{ L, H, D int }{{1, 1, 2}, {5, 2, 128}, {7, 3, 6}, {9, 5, 10}, {33, 40, 128}, {4, 1, 8}, {3, 7, 16}} {
			for _, withW := range []bool{false, true} {
				name := fmt.Sprintf("%v L=%d H=%d D=%d weight %v", dt, s.L, s.H, s.D, withW)
				xg, xc := p.act(dt, 3, s.L, s.H*s.D)
				var wg, wc engine.Tensor
				if withW {
					wg, wc = p.weight(gguf.TypeF32, 1, s.H*s.D)
				}
				ang := p.vals(s.L*s.D/2, 3, false)
				cs, sn := make([]float32, len(ang)), make([]float32, len(ang))
				for i, a := range ang {
					cs[i], sn[i] = float32(math.Cos(float64(a))), float32(math.Sin(float64(a)))
				}
				cg, sg := p.g.FromHost(cs, s.L, s.D/2), p.g.FromHost(sn, s.L, s.D/2)
				yg := p.g.RMSNormRotate(xg, wg, cg, sg, s.H, 1e-6)
				if yg.DType() != dt {
					t.Errorf("%s: dtype %v", name, yg.DType())
				}
				yc := p.c.RMSNorm(xc, wc, 1e-6)
				p.c.RotatePairs(yc, p.c.FromHost(cs, s.L, s.D/2), p.c.FromHost(sn, s.L, s.D/2), s.H)
				p.check("RMSNormRotate "+name, yg, yc, tol)

				// Against the two CUDA ops: the same roundings, only the sum order differs.
				zg := p.g.RMSNorm(xg, wg, 1e-6)
				p.g.RotatePairs(zg, cg, sg, s.H)
				p.check("RMSNormRotate vs RMSNorm+RotatePairs "+name, yg, p.c.FromHost(p.g.ToHost(zg), s.L, s.H*s.D), max(tol/10, 1e-6))
				p.g.Free(xg, cg, sg, yg, zg)
			}
		}
	}
	x := p.g.FromHost(make([]float32, 12), 2, 6)
	c := p.g.FromHost(make([]float32, 4), 2, 2)
	for _, bad := range []func(){
		func() { p.g.RMSNormRotate(x, nil, c, c, 4, 1e-6) },                                 // 6 columns are not 4 heads
		func() { p.g.RMSNormRotate(x, nil, c, c, 1, 1e-6) },                                 // cos [2 2], want [2 3]
		func() { p.g.RMSNormRotate(x, p.g.FromHost(make([]float32, 5), 5), c, c, 3, 1e-6) }, // weight of 5
	} {
		if err := catchOp(bad); err == nil {
			t.Error("RMSNormRotate accepted bad arguments")
		}
	}
	p.g.Free(x, c)
}
