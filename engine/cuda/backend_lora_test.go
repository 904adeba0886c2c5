//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// TestGemmBeta checks GemmOp.Beta (cuBLASLt reading Y as C in place) against act(x·wᵀ + beta·C + bias) in
// float64: bf16 and f32 outputs, with and without bias and GELU, two betas, and a shape large enough to be
// autotuned (whose timed runs must not accumulate into Y). The own kernel and a non-finite beta are
// refused.
func TestGemmBeta(t *testing.T) {
	d := testDevice(t)
	if !d.CanAccumulate(GemmAuto) {
		t.Skipf("cuBLASLt not loaded (%s): no GEMM path takes beta", d.ltReason)
	}
	r := rand.New(rand.NewPCG(31, 32))
	// The last shape is 2·M·N·K ≥ ltAutotuneFlops: only its first rows are checked.
	for _, sh := range [][4]int{{3, 8, 8, 3}, {17, 33, 72, 17}, {130, 264, 256, 130}, {1024, 2048, 4096, 8}} {
		m, n, k, rows := sh[0], sh[1], sh[2], sh[3]
		x := roundBF16(randF32(r, m*k, 1))
		w := roundBF16(randF32(r, n*k, 0.1/math.Sqrt(float64(k)/64)))
		xd, wd := upload(t, d, x, gguf.TypeBF16), upload(t, d, w, gguf.TypeBF16)
		prod := refGemm(x[:rows*k], w, nil, rows, n, k)
		for _, yt := range []gguf.Type{gguf.TypeBF16, gguf.TypeF32} {
			c := randF32(r, m*n, 1)
			if yt == gguf.TypeBF16 {
				c = roundBF16(c)
			}
			bias := randF32(r, n, 1)
			if yt == gguf.TypeBF16 {
				bias = roundBF16(bias)
			}
			bd := upload(t, d, bias, yt)
			yd := alloc(t, d, int64(m*n)*elemBytes(yt))
			for _, beta := range []float32{1, -0.5} {
				for _, withBias := range []bool{false, true} {
					for _, gelu := range []bool{false, true} {
						name := fmt.Sprintf("%dx%dx%d/out=%v/beta=%g/bias=%v/gelu=%v", m, n, k, yt, beta, withBias, gelu)
						want := make([]float64, rows*n)
						for i := range want {
							v := prod[i] + float64(beta)*float64(c[i])
							if withBias {
								v += float64(bias[i%n])
							}
							if gelu {
								v = geluTanh(v)
							}
							want[i] = v
						}
						if yt == gguf.TypeBF16 {
							must(t, d.UploadU16(yd, toBF16(c)))
						} else {
							must(t, d.UploadF32(yd, c))
						}
						op := GemmOp{Y: yd, YType: yt, X: xd, W: wd, BiasType: yt, M: m, N: n, K: k, GELU: gelu, Beta: beta}
						if withBias {
							op.Bias = bd
						}
						if err := d.Gemm(nil, op); err != nil {
							t.Errorf("%s: %v", name, err)
							continue
						}
						tol := tolFor(yt)
						if yt == gguf.TypeF32 {
							tol = 2e-5
						}
						if e := relL2(download(t, d, yd, rows*n, yt), want); !(e <= tol) {
							t.Errorf("%s: relative L2 error %.3g > %g", name, e, tol)
						}
					}
				}
			}
		}
	}
	x := alloc(t, d, 8*8*2)
	y := alloc(t, d, 8*8*2)
	if err := d.Gemm(nil, GemmOp{Y: y, YType: gguf.TypeBF16, X: x, W: x, M: 8, N: 8, K: 8, Path: GemmOwn, Beta: 1}); err == nil {
		t.Error("the own GEMM kernel accepted beta = 1")
	} else {
		singleLine(t, err)
	}
	if err := d.Gemm(nil, GemmOp{Y: y, YType: gguf.TypeBF16, X: x, W: x, M: 8, N: 8, K: 8, Beta: float32(math.NaN())}); err == nil {
		t.Error("Gemm accepted beta = NaN")
	}
}

// TestBackendLinearLoRA checks LinearLoRA against Linear(x, w, b) + Linear(Linear(x, down), up), then GELU
// when asked, on the CPU reference: base weight types, odd shapes, adapters stored BF16 (as engine/dit
// stores them for this backend) and F32, a deferred LayerNorm/Modulate as the input, and the separate-op
// fallbacks (PrecisionF32, a single F32 row); mismatched or unpadded adapters are refused.
func TestBackendLinearLoRA(t *testing.T) {
	p := newOpPair(t)
	if !p.g.d.CanAccumulate(GemmAuto) {
		t.Logf("cuBLASLt not loaded (%s): only the separate-op fallback is tested", p.g.d.ltReason)
	}
	ref := p.loraRef
	for _, typ := range []gguf.Type{gguf.TypeBF16, gguf.TypeQ8_0} {
		for _, s := range []struct{ M, K, N, R int }{{1, 256, 40, 8}, {5, 256, 72, 16}, {67, 512, 130, 8}, {300, 768, 264, 32}} {
			for _, lt := range []gguf.Type{gguf.TypeBF16, gguf.TypeF32} {
				for _, gelu := range []bool{false, true} {
					name := fmt.Sprintf("%v %dx%dx%d rank %d adapters %v gelu %v", typ, s.M, s.K, s.N, s.R, lt, gelu)
					xg, xc := p.act(engine.F32, 1, s.M, s.K)
					wg, wc := p.weight(typ, 1/math.Sqrt(float64(s.K)), s.N, s.K)
					bg, bc := p.weight(gguf.TypeF32, 0.5, s.N)
					dg, dc := p.weight(lt, 1/math.Sqrt(float64(s.K)), s.R, s.K)
					ug, uc := p.weight(lt, 0.5/math.Sqrt(float64(s.R)), s.N, s.R)
					want := ref(xc, wc, bc, dc, uc, gelu)
					y := p.g.LinearLoRA(xg, wg, bg, dg, ug, gelu)
					wantDT := engine.BF16
					if s.M == 1 {
						wantDT = engine.F32 // as Linear of a single F32 row
					}
					if y.DType() != wantDT {
						t.Errorf("%s: dtype %v, want %v", name, y.DType(), wantDT)
					}
					p.check("LinearLoRA "+name, y, want, tolBF16)

					shg, shc := p.act(engine.F32, 0.5, s.K)
					scg, scc := p.act(engine.F32, 0.5, s.K)
					ng := p.g.Modulate(p.g.LayerNorm(xg, nil, nil, 1e-6), shg, scg)
					nc := p.c.Modulate(p.c.LayerNorm(xc, nil, nil, 1e-6), shc, scc)
					yn := p.g.LinearLoRA(ng, wg, bg, dg, ug, gelu)
					p.check("LinearLoRA of a deferred LN "+name, yn, ref(nc, wc, bc, dc, uc, gelu), tolBF16)

					f := p.g.WithPrecision(PrecisionF32)
					yf := f.LinearLoRA(xg, wg, bg, dg, ug, gelu)
					if yf.DType() != engine.F32 {
						t.Errorf("%s: PrecisionF32 dtype %v", name, yf.DType())
					}
					p.check("LinearLoRA PrecisionF32 "+name, yf, want, 2e-5)
					p.g.Free(xg, wg, bg, dg, ug, y, shg, scg, ng, yn, yf)
				}
			}
		}
	}

	xg, _ := p.act(engine.BF16, 1, 4, 64)
	wg, _ := p.weight(gguf.TypeBF16, 1, 16, 64)
	for _, bad := range []struct {
		what     string
		down, up []int
	}{
		{"down of the wrong width", []int{8, 32}, []int{16, 8}},
		{"up of the wrong height", []int{8, 64}, []int{24, 8}},
		{"ranks that differ", []int{8, 64}, []int{16, 16}},
		{"a rank not a multiple of 8", []int{5, 64}, []int{16, 5}},
	} {
		dg, _ := p.weight(gguf.TypeBF16, 1, bad.down...)
		ug, _ := p.weight(gguf.TypeBF16, 1, bad.up...)
		err := catchOp(func() { p.g.LinearLoRA(xg, wg, nil, dg, ug, false) })
		switch {
		case !p.g.d.CanAccumulate(GemmAuto):
			// The separate ops report their own errors (or, for an unpadded rank, compute it).
		case err == nil:
			t.Errorf("LinearLoRA accepted %s (down %v, up %v)", bad.what, bad.down, bad.up)
		default:
			singleLine(t, err)
		}
		p.g.Free(dg, ug)
	}
	p.g.Free(xg, wg)
}

// loraRef is LinearLoRA on the CPU reference: Linear(x, w, bias) + Linear(Linear(x, down), up), then GELU
// when gelu is set.
func (p *opPair) loraRef(x, w, bias, down, up engine.Tensor, gelu bool) engine.Tensor {
	c := p.c
	y := c.Linear(x, w, bias)
	h := c.Linear(x, down, nil)
	c.AddGated(y, c.Linear(h, up, nil), nil)
	if gelu {
		return c.GELU(y)
	}
	return y
}

// TestLoRAGemmBench breaks one LoRA'd linear of the 14B DiT down into its GEMMs at the block's shapes
// (L = 32760 rows for attention, the FFN's 8192-row chunks): the layer's own GEMM, the same with beta = 1
// (the fused path's accumulation of the up-projection), and the down (N = rank) and up (K = rank) GEMMs on
// cuBLASLt and the own kernel, with their bandwidth; the fused path's overhead is down + up + (beta − base).
// It runs with WAN22_BACKEND_BENCH=1.
func TestLoRAGemmBench(t *testing.T) {
	if os.Getenv("WAN22_BACKEND_BENCH") != "1" {
		t.Skip("set WAN22_BACKEND_BENCH=1 to time the GEMMs of a run-time LoRA linear on the GPU")
	}
	d := testDevice(t)
	if !d.HasCublasLt() {
		t.Skip("no cuBLASLt: the fused LoRA path needs it")
	}
	const warm, reps = 200 * time.Millisecond, 15
	shapes := []struct {
		name    string
		M, K, N int
		gelu    bool
		perBlk  int // linears of this shape in one block (at L = 32760: the FFN's 4 chunks count each)
	}{
		{"attention q/k/v/o (self), q/o (cross)", 32760, 5120, 5120, false, 6},
		{"ffn.0 chunk (GELU)", 8192, 5120, 13824, true, 4},
		{"ffn.2 chunk", 8192, 13824, 5120, false, 4},
	}
	x := alloc(t, d, 32760*13824*2)
	w := alloc(t, d, 13824*5120*2)
	y := alloc(t, d, 32760*13824*2)
	h := alloc(t, d, 32760*128*2)
	lo := alloc(t, d, 13824*128*2)
	bias := alloc(t, d, 13824*2)
	fillRandomBF16(t, d, x, 1, 1)
	fillRandomBF16(t, d, w, 0.01, 2)
	fillRandomBF16(t, d, y, 0.01, 3)
	fillRandomBF16(t, d, h, 0.1, 4)
	fillRandomBF16(t, d, lo, 0.01, 5)
	fillRandomBF16(t, d, bias, 0.1, 6)
	s := d.ComputeStream()
	ms := func(op GemmOp) float64 {
		return timeOn(t, d, s, warm, reps, func() error { return d.Gemm(s, op) }).Seconds() * 1e3
	}
	ranks := []int{32, 64, 128}
	over := make([]float64, len(ranks)) // per rank, summed over a block's big linears
	var baseMS float64
	for _, sh := range shapes {
		bf := gguf.TypeBF16
		base := GemmOp{Y: y, YType: bf, X: x, W: w, Bias: bias, BiasType: bf, M: sh.M, N: sh.N, K: sh.K, GELU: sh.gelu}
		acc := base
		acc.Beta = 1
		tb, ta := ms(base), ms(acc)
		mn := float64(sh.M) * float64(sh.N) * 2
		t.Logf("%s: M=%d K=%d N=%d: base %.3f ms, with beta=1 %.3f ms (+%.3f ms; reading C at %.0f GB/s would be %.3f ms)",
			sh.name, sh.M, sh.K, sh.N, tb, ta, ta-tb, 3000.0, mn/3e9)
		baseMS += tb * float64(sh.perBlk)
		for i, r := range ranks {
			down := GemmOp{Y: h, YType: bf, X: x, W: lo, M: sh.M, N: r, K: sh.K}
			up := GemmOp{Y: y, YType: bf, X: h, W: lo, M: sh.M, N: sh.N, K: r}
			td, tu := ms(down), ms(up)
			down.Path, up.Path = GemmOwn, GemmOwn
			tdo, tuo := ms(down), ms(up)
			o := td + tu + ta - tb
			over[i] += o * float64(sh.perBlk)
			t.Logf("  rank %3d: down %.3f ms (%.0f GB/s; own kernel %.3f), up %.3f ms (%.0f GB/s; own kernel %.3f); fused overhead %.3f ms = %.1f%% of the base GEMM",
				r, td, float64(sh.M)*float64(sh.K)*2/td/1e6, tdo, tu, mn/tu/1e6, tuo, o, 100*o/tb)
		}
	}
	for i, r := range ranks {
		t.Logf("rank %3d, one block's 14 big GEMMs (cross-attention k/v on 512 rows left out): fused LoRA overhead %.3f ms on %.3f ms of base GEMMs (%.1f%%)",
			r, over[i], baseMS, 100*over[i]/baseMS)
	}
}
