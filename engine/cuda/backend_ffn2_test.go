//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/gguf"
)

// hasAlphaPlan reports whether d's cuBLASLt holds a usable plan with a per-column alpha.
func hasAlphaPlan(d *Device) (found bool) {
	_ = d.Do(func() error {
		if d.lt == nil {
			return nil
		}
		for k, pl := range d.lt.plans {
			if k.alphaVec && pl.none == nil {
				found = true
			}
		}
		return nil
	})
	return found
}

// TestGemmAlphaVector checks GemmOp.Alpha through cuBLASLt: Y = alpha⊙(X·Wᵀ) + beta·Y + bias per output
// column against the float64 sum, the bias not scaled, with beta 1 (the gated residual add) and 0, an f32
// output read in place as C. 512×1024×1024 is large enough to be autotuned, in place with zero vectors: a
// timed run that changed Y would show. Without a plan (ErrNoAlgorithm) the GEMM must leave Y as it was.
func TestGemmAlphaVector(t *testing.T) {
	d := testDevice(t)
	if !d.HasCublasLt() {
		t.Skip("no cuBLASLt: GemmOp.Alpha needs it")
	}
	r := rand.New(rand.NewPCG(31, 32))
	for _, sh := range [][3]int{{3, 8, 16}, {37, 264, 256}, {512, 1024, 1024}} {
		m, n, k := sh[0], sh[1], sh[2]
		x := roundBF16(randF32(r, m*k, 1))
		w := roundBF16(randF32(r, n*k, 0.1))
		alpha := randF32(r, n, 1) // both signs, as a gate
		c := randF32(r, m*n, 1)
		xd, wd, ad := upload(t, d, x, gguf.TypeBF16), upload(t, d, w, gguf.TypeBF16), upload(t, d, alpha, gguf.TypeF32)
		yd := alloc(t, d, int64(m*n)*4)
		for _, withBias := range []bool{false, true} {
			for _, beta := range []float32{1, 0} {
				name := fmt.Sprintf("%dx%dx%d/bias=%v/beta=%v", m, n, k, withBias, beta)
				var b []float32
				var bd Mem
				if withBias {
					b = randF32(r, n, 1)
					bd = upload(t, d, b, gguf.TypeF32)
				}
				prod := refGemm(x, w, nil, m, n, k)
				want := make([]float64, m*n)
				for i := range want {
					j := i % n
					want[i] = float64(alpha[j])*prod[i] + float64(beta)*float64(c[i])
					if withBias {
						want[i] += float64(b[j])
					}
				}
				must(t, d.Upload(yd, f32Bytes(c)))
				err := d.Gemm(nil, GemmOp{Y: yd, YType: gguf.TypeF32, X: xd, W: wd, Bias: bd, BiasType: gguf.TypeF32, M: m, N: n, K: k, Alpha: ad, Beta: beta})
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				if e := relL2(download(t, d, yd, m*n, gguf.TypeF32), want); !(e <= 1e-3) {
					t.Errorf("%s: relative L2 error %.3g > 1e-3", name, e)
				}
			}
		}
		ltRefuseAlphaVec = true
		must(t, d.Upload(yd, f32Bytes(c)))
		err := d.Gemm(nil, GemmOp{Y: yd, YType: gguf.TypeF32, X: xd, W: wd, M: m, N: n, K: k, Alpha: ad, Beta: 1})
		ltRefuseAlphaVec = false
		if !errors.Is(err, ErrNoAlgorithm) {
			t.Errorf("%dx%dx%d: a refused alpha plan gave %v, want ErrNoAlgorithm", m, n, k, err)
		}
		if got := download(t, d, yd, m*n, gguf.TypeF32); !slices.Equal(got, c) {
			t.Errorf("%dx%dx%d: the refused GEMM changed Y", m, n, k)
		}
	}
	if err := d.Gemm(nil, GemmOp{Y: alloc(t, d, 64), YType: gguf.TypeF32, X: alloc(t, d, 256), W: alloc(t, d, 256), M: 2, N: 8, K: 8, Alpha: alloc(t, d, 32), Path: GemmOwn}); err == nil {
		t.Error("the own GEMM kernel accepted a per-column alpha")
	}
}

// TestBackendLinearAddGatedRows checks LinearAddGatedRows against the CPU's Linear and the gated add by
// hand, on BF16 and Q8_0 weights, with and without bias and gate, into rows [13, 29) of x [40, 264]: the
// change of those rows within 2e-2 (the fused GEMM adds the f32 product, the CPU's too; the weights are the
// same), every other row bit for bit as before. It runs three ways: fused (and the fused plan must exist,
// else cuBLASLt has no algorithm for the alpha vector and the chunked FFN silently keeps its separate add
// pass), with the alpha plan refused (the fallback: Linear and AddGatedRows), and with PrecisionF32.
func TestBackendLinearAddGatedRows(t *testing.T) {
	p := newOpPair(t)
	const L, N, K, from, r = 40, 264, 256, 13, 16
	f32 := p.g.WithPrecision(PrecisionF32)
	for _, way := range []string{"fused", "refused", "f32"} {
		for _, typ := range []gguf.Type{gguf.TypeBF16, gguf.TypeQ8_0} {
			for _, withBias := range []bool{false, true} {
				for _, withGate := range []bool{true, false} {
					name := fmt.Sprintf("%s/%v/bias=%v/gate=%v", way, typ, withBias, withGate)
					xg, xc := p.act(engine.F32, 1, L, N)
					ag, ac := p.act(engine.BF16, 1, r, K)
					wg, wc := p.weight(typ, 0.1, N, K)
					var bg, bc, gg, gc engine.Tensor
					if withBias {
						bg, bc = p.act(engine.F32, 1, N)
					}
					if withGate {
						gg, gc = p.act(engine.F32, 1, N)
					}
					before := p.g.ToHost(xg)
					var b *Backend = p.g
					switch way {
					case "refused":
						ltRefuseAlphaVec = true
					case "f32":
						b = f32
					}
					err := catchOp(func() { b.LinearAddGatedRows(xg, ag, wg, bg, gg, from) })
					ltRefuseAlphaVec = false
					if err != nil {
						t.Errorf("%s: %v", name, err)
						p.g.Free(xg, ag, wg, bg, gg)
						continue
					}
					got := p.g.ToHost(xg)
					yc := p.c.Linear(ac, wc, bc)
					yd := yc.(*cpu.Tensor).Data()
					var gd []float32
					if withGate {
						gd = gc.(*cpu.Tensor).Data()
					}
					gotD, want := make([]float32, r*N), make([]float64, r*N)
					for i := range want {
						g := float32(1)
						if gd != nil {
							g = gd[i%N]
						}
						want[i] = float64(yd[i]) * float64(g)
						gotD[i] = got[from*N+i] - before[from*N+i]
					}
					if e := relL2(gotD, want); !(e <= 2e-2) {
						t.Errorf("%s: the rows' change has relative L2 error %.3g > 2e-2", name, e)
					}
					for i := range got {
						if (i < from*N || i >= (from+r)*N) && got[i] != before[i] {
							t.Errorf("%s: element %d (row %d) outside rows [%d, %d) changed: %v → %v", name, i, i/N, from, from+r, before[i], got[i])
							break
						}
					}
					p.g.Free(xg, ag, wg, bg, gg)
					p.c.Free(xc, ac, wc, bc, gc, yc)
				}
			}
		}
		if way == "fused" && p.g.d.HasCublasLt() && !hasAlphaPlan(p.g.d) {
			t.Errorf("cuBLASLt (%s) made no GEMM plan with a per-column alpha: LinearAddGatedRows fell back to Linear and AddGatedRows", p.g.d.cublasLtState())
		}
	}
	// Bad shapes are refused as errors.
	xg, _ := p.act(engine.F32, 1, L, N)
	ag, _ := p.act(engine.BF16, 1, r, K)
	wg, _ := p.weight(gguf.TypeBF16, 0.1, N, K)
	if err := catchOp(func() { p.g.LinearAddGatedRows(xg, ag, wg, nil, nil, L-r+1) }); err == nil {
		t.Error("LinearAddGatedRows accepted rows past the end of x")
	}
	w2, _ := p.weight(gguf.TypeBF16, 0.1, N-8, K)
	if err := catchOp(func() { p.g.LinearAddGatedRows(xg, ag, w2, nil, nil, 0) }); err == nil {
		t.Error("LinearAddGatedRows accepted a weight whose rows are not x's width")
	}
	p.g.Free(xg, ag, wg, w2)
}
