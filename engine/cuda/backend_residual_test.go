//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
)

// addRowsRef adds y·gate to rows [from, from+r) of the CPU tensor x [L, D] (gate nil: 1), as AddGatedRows.
func addRowsRef(x, y, gate engine.Tensor, from, D int) {
	xd, yd := x.(*cpu.Tensor).Data(), y.(*cpu.Tensor).Data()
	var g []float32
	if gate != nil {
		g = gate.(*cpu.Tensor).Data()
	}
	for i := range yd {
		v := yd[i]
		if g != nil {
			v *= g[i%D]
		}
		xd[from*D+i] += v
	}
}

// pendingAdd reports whether an add into the GPU tensor x is still deferred (for some rows).
func pendingAdd(x engine.Tensor) bool {
	st := x.(*Tensor).st
	return st.add != nil && st.add.x == st && !st.add.done()
}

// gemmOperand reads x as a GEMM reads it, without the GEMM: its bf16 operand (a pending norm runs straight
// into it, fused with a pending add; an F32 activation is cast into its shadow), as float32. It reaches the
// same path as Linear for widths the GEMM cannot take (K % 8 != 0).
func gemmOperand(b *Backend, x engine.Tensor) ([]float32, error) {
	var got []float32
	err := b.d.Do(func() error {
		t, err := b.lookup(x)
		if err != nil {
			return err
		}
		var ts temps
		defer ts.release(b.pool)
		m, ld, err := b.gemmInputLd(t, &ts, 0)
		if err != nil {
			return err
		}
		if _, cols := t.rowsCols(); ld != cols {
			return fmt.Errorf("x %v has a bf16 shadow with row stride %d; this reader needs it dense", t.shape, ld)
		}
		u := make([]uint16, t.numel())
		if err := b.d.DownloadU16(u, m); err != nil {
			return err
		}
		got = fromBF16(u)
		return nil
	})
	return got, err
}

// TestBackendResidualFusion checks the deferred gated residual add (backend_residual.go) against the CPU
// reference: fused into the LayerNorm that follows it (read by a GEMM and by the host), and every way the
// add must run on its own first — x read, written or freed by another op, y written or freed, a Reshape
// view and a Slice of x, two adds in a row, a norm made before the add — and the chunked FFN's row slices,
// whose norms run the add for their rows only. Widths 256 (vector kernels), 100 (the fused kernel's 4-wide
// path, the plain add's scalar one) and 90 (scalar); y F32 and BF16. The GEMM needs K % 8 == 0, so at 100
// and 90 the GEMM's reads are its bf16 operand alone (gemmOperand). At the end of each case nothing is
// left allocated: the kept y buffers and gate copies went back to the pool.
func TestBackendResidualFusion(t *testing.T) {
	p := newOpPair(t)
	for _, D := range []int{256, 100, 90} {
		for _, yt := range []engine.DType{engine.F32, engine.BF16} {
			t.Run(fmt.Sprintf("D=%d_y=%v", D, yt), func(t *testing.T) {
				q := *p
				q.t = t
				if err := catchOp(func() { residualFusionCase(t, &q, D, yt) }); err != nil {
					t.Fatal(err) // an op failed: this case stops, the others still run
				}
			})
		}
	}
	t.Run("norm of a reshaped slice", func(t *testing.T) {
		q := *p
		q.t = t
		p := &q
		// A LayerNorm of a view of another width than the add's (Reshape of a lazy slice) must not take
		// the add's rows as its own: the add runs for x first, then the view is normalized.
		if err := catchOp(func() {
			xg, xc := p.act(engine.F32, 2, 40, 256)
			yg, yc := p.act(engine.BF16, 1, 40, 256)
			gg, gc := p.act(engine.F32, 1, 256)
			p.g.AddGated(xg, yg, gg)
			p.c.AddGated(xc, yc, gc)
			sg, sc := p.g.Slice(xg, 8, 16), p.c.Slice(xc, 8, 16)
			vg, vc := p.g.Reshape(sg, 16, 128), p.c.Reshape(sc, 16, 128)
			n := p.g.LayerNorm(vg, nil, nil, 1e-6)
			p.check("LN of a reshaped slice after a deferred add", n, p.c.LayerNorm(vc, nil, nil, 1e-6), tolF32)
			p.check("x after it", xg, xc, tolF32)
			p.g.Free(n, sg, xg, yg, gg)
		}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("fusion off", func(t *testing.T) {
		q := *p
		q.t = t
		p := &q
		// Without the fusion the same sequence runs op by op.
		p.g.SetFusion(false)
		defer p.g.SetFusion(true)
		if err := catchOp(func() {
			xg, xc := p.act(engine.F32, 2, 9, 64)
			yg, yc := p.act(engine.BF16, 1, 9, 64)
			p.g.AddGated(xg, yg, nil)
			p.c.AddGated(xc, yc, nil)
			if pendingAdd(xg) {
				t.Error("AddGated deferred with the fusion off")
			}
			n := p.g.LayerNorm(xg, nil, nil, 1e-6)
			p.check("LN after an add without fusion", n, p.c.LayerNorm(xc, nil, nil, 1e-6), tolF32)
			p.g.Free(xg, yg, n)
		}); err != nil {
			t.Fatal(err)
		}
	})
}

// residualFusionCase is one width and y type of TestBackendResidualFusion. An op that fails panics (with
// an *engine.Error); the caller turns that into the subtest's failure.
func residualFusionCase(t *testing.T, p *opPair, D int, yt engine.DType) {
	const L, N = 37, 72
	name := fmt.Sprintf("D=%d y=%v", D, yt)
	base := p.g.PoolStats().InUse
	gg, gc := p.act(engine.F32, 0.5, D)
	wg, wc := p.weight(gguf.TypeF32, 1, D)
	bg, bc := p.weight(gguf.TypeF32, 0.2, D)
	shg, shc := p.act(engine.F32, 0.3, D)
	scg, scc := p.act(engine.F32, 0.3, D)
	lw, lc := p.weight(gguf.TypeBF16, 1/math.Sqrt(float64(D)), N, D)
	sq, sqc := p.weight(gguf.TypeBF16, 1/math.Sqrt(float64(D)), D, D)
	gemmOK := D%8 == 0 // the GEMM's K
	// fresh checks a result made for the check alone and frees it.
	fresh := func(what string, got, want engine.Tensor, tol float64) {
		t.Helper()
		p.check(what, got, want, tol)
		p.g.Free(got)
	}
	// gemm checks x read as a GEMM's input against the CPU tensor want: through Linear where the width
	// allows, else through the GEMM's bf16 operand. x stays alive.
	gemm := func(what string, x, want engine.Tensor) {
		t.Helper()
		if gemmOK {
			fresh(what, p.g.Linear(x, lw, nil), p.c.Linear(want, lc, nil), tolBF16)
			return
		}
		got, err := gemmOperand(p.g, x)
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		if e := golden.RelL2(got, p.c.ToHost(want)); !(e <= tolBF16) {
			t.Errorf("%s (bf16 GEMM operand): relative L2 error %.3g > %g", what, e, tolBF16)
		}
	}
	// modNorm is Modulate(LayerNorm(x)) with the intermediate norm freed, as the DiT does (engine/dit
	// consume): a norm left alive is materialized when x is next written, and stays allocated.
	modNorm := func(x engine.Tensor) engine.Tensor {
		n := p.g.LayerNorm(x, nil, nil, 1e-6)
		defer p.g.Free(n)
		return p.g.Modulate(n, shg, scg)
	}
	normRef := func(x engine.Tensor) engine.Tensor { return p.c.LayerNorm(x, wc, bc, 1e-6) }
	modRef := func(x engine.Tensor) engine.Tensor {
		return p.c.Modulate(p.c.LayerNorm(x, nil, nil, 1e-6), shc, scc)
	}

	// Fused: the add pends, the norm carries it, a GEMM runs both; y is freed in between (kept by the add).
	xg, xc := p.act(engine.F32, 2, L, D)
	yg, yc := p.act(yt, 1, L, D)
	p.g.AddGated(xg, yg, gg)
	p.c.AddGated(xc, yc, gc)
	p.g.Free(yg)
	if !pendingAdd(xg) {
		t.Fatalf("%s: AddGated did not defer", name)
	}
	n := p.g.LayerNorm(xg, wg, bg, 1e-6)
	if n.(*Tensor).st.pending == nil || n.(*Tensor).st.pending.add == nil {
		t.Fatalf("%s: the LayerNorm after a pending add does not carry it", name)
	}
	gemm(name+": GEMM read of LN after a deferred add", n, normRef(xc))
	if pendingAdd(xg) {
		t.Errorf("%s: the add still pends after the fused norm ran", name)
	}
	p.check(name+": x after the fused add", xg, xc, tolF32)
	p.check(name+": the fused LN read by the host", n, normRef(xc), tolF32)
	p.g.Free(n)

	// The modulated norm read by the host first (f32 materialization), then by a GEMM.
	yg, yc = p.act(yt, 1, L, D)
	p.g.AddGated(xg, yg, nil)
	p.c.AddGated(xc, yc, nil)
	a := modNorm(xg)
	p.check(name+": LN+Modulate after a deferred add, read by the host", a, modRef(xc), tolF32)
	gemm(name+": ... then by a GEMM", a, modRef(xc))
	p.check(name+": x", xg, xc, tolF32)
	p.g.Free(a, yg)

	// x read by another op between the add and the norm: the add runs once.
	yg, yc = p.act(yt, 1, L, D)
	p.g.AddGated(xg, yg, gg)
	p.c.AddGated(xc, yc, gc)
	fresh(name+": GELU of x with an add pending", p.g.GELU(xg), p.c.GELU(xc), 1e-5)
	n = p.g.LayerNorm(xg, wg, bg, 1e-6)
	gemm(name+": LN after x was read", n, normRef(xc))
	gemm(name+": GEMM read of x itself with an add pending", xg, xc)
	p.g.Free(n, yg)

	// Two adds in a row, the second into a Reshape view of x; the norm reads the first view.
	y1g, y1c := p.act(yt, 1, L, D)
	y2g, y2c := p.act(yt, 1, L, D)
	p.g.AddGated(xg, y1g, gg)
	p.c.AddGated(xc, y1c, gc)
	v := p.g.Reshape(xg, L, D/2, 2)
	p.g.AddGated(v, p.g.Reshape(y2g, L, D/2, 2), nil)
	p.c.AddGated(xc, y2c, nil)
	p.g.Free(y1g, y2g)
	fresh(name+": LN after two adds (one through a view)", p.g.LayerNorm(xg, wg, bg, 1e-6), normRef(xc), tolF32)
	p.check(name+": x after two adds", v, p.c.Reshape(xc, L, D/2, 2), tolF32)

	// An add through a view of other row width, then AddGatedRows on x: the add runs in full first.
	yg, yc = p.act(yt, 1, L, D)
	p.g.AddGated(v, p.g.Reshape(yg, L, D/2, 2), nil)
	p.c.AddGated(xc, yc, nil)
	rg, rc := p.act(engine.F32, 1, 5, D)
	p.g.AddGatedRows(xg, rg, gg, 2)
	addRowsRef(xc, rc, gc, 2, D)
	p.check(name+": AddGatedRows after an add through a view", xg, xc, tolF32)
	p.g.Free(yg, rg)

	// A norm made before the add keeps the old x; one made after sees the add.
	before := normRef(xc)
	nb := p.g.LayerNorm(xg, wg, bg, 1e-6)
	yg, yc = p.act(yt, 1, L, D)
	p.g.AddGated(xg, yg, gg)
	p.c.AddGated(xc, yc, gc)
	na := p.g.LayerNorm(xg, wg, bg, 1e-6)
	gemm(name+": norm made before the add", nb, before)
	gemm(name+": norm made after the add", na, normRef(xc))
	p.g.Free(nb, na, yg)

	// y written in place while the add pends: the add reads y's old value first.
	if yt == engine.F32 {
		yg, yc = p.act(engine.F32, 1, L, D)
		zg, zc := p.act(engine.F32, 1, L, D)
		p.g.AddGated(xg, yg, gg)
		p.c.AddGated(xc, yc, gc)
		p.g.AddGated(yg, zg, nil) // the deferred add into x runs first, with the old y
		p.c.AddGated(yc, zc, nil)
		p.check(name+": x after its y was written", xg, xc, tolF32)
		p.check(name+": y written", yg, yc, tolF32)
		p.g.Free(yg, zg)
	}

	// A Slice of x made before the add keeps the old rows; adding into the slice leaves x alone.
	sg := p.g.Slice(xg, 3, 20)
	sc := p.c.Slice(xc, 3, 20)
	yg, yc = p.act(yt, 1, L, D)
	p.g.AddGated(xg, yg, gg)
	p.c.AddGated(xc, yc, gc)
	p.check(name+": slice made before the add", sg, sc, tolF32)
	y3g, y3c := p.act(yt, 1, 17, D)
	p.g.AddGated(sg, y3g, gg)
	p.c.AddGated(sc, y3c, gc)
	p.check(name+": slice after an add into it", sg, sc, tolF32)
	p.check(name+": x after an add into its slice", xg, xc, tolF32)
	p.g.Free(sg, y3g, yg)

	// The chunked FFN: slices of x with an add pending, their modulated norms by a GEMM (each runs the add
	// for its rows), AddGatedRows between; one chunk's slice also read by the host, and a norm of a slice
	// straddling rows done and not done. Where the GEMM cannot take D, the norm is read as its operand and
	// the FFN output h is made up.
	yg, yc = p.act(yt, 1, L, D)
	p.g.AddGated(xg, yg, nil)
	p.c.AddGated(xc, yc, nil)
	p.g.Free(yg)
	for _, c := range [][2]int{{0, 8}, {8, 16}, {24, 13}} {
		from, rows := c[0], c[1]
		xs := p.g.Slice(xg, from, from+rows)
		a := modNorm(xs)
		xsc := p.c.Slice(xc, from, from+rows)
		var h, hc engine.Tensor
		what := fmt.Sprintf("%s: chunk %v FFN input", name, c)
		if gemmOK {
			h, hc = p.g.Linear(a, sq, nil), p.c.Linear(modRef(xsc), sqc, nil)
			p.check(what, h, hc, tolBF16)
		} else {
			gemm(what, a, modRef(xsc))
			h, hc = p.act(engine.BF16, 1, rows, D)
		}
		if from == 8 {
			p.check(name+": a chunk's slice read by the host", xs, xsc, tolF32)
		}
		p.g.Free(xs, a)
		p.g.AddGatedRows(xg, h, gg, from)
		addRowsRef(xc, p.c.FromHost(p.g.ToHost(h), rows, D), gc, from, D) // the same bf16 h on both sides
		p.g.Free(h)
		if from == 0 && !pendingAdd(xg) {
			t.Errorf("%s: AddGatedRows ran the add for rows it does not write", name)
		}
	}
	if pendingAdd(xg) {
		t.Errorf("%s: the add still pends after every row's norm ran", name)
	}
	p.check(name+": x after the chunked FFN", xg, xc, tolF32)
	yg, yc = p.act(yt, 1, L, D)
	p.g.AddGated(xg, yg, gg)
	p.c.AddGated(xc, yc, gc)
	p.g.Free(yg)
	xs := p.g.Slice(xg, 0, 10)
	n1 := p.g.LayerNorm(xs, nil, nil, 1e-6)
	gemm(name+": norm of rows [0, 10) with the add pending", n1, p.c.LayerNorm(p.c.Slice(xc, 0, 10), nil, nil, 1e-6))
	xs2 := p.g.Slice(xg, 5, 30)
	n2 := p.g.LayerNorm(xs2, nil, nil, 1e-6)
	p.check(name+": norm of rows [5, 30), half of them added", n2, p.c.LayerNorm(p.c.Slice(xc, 5, 30), nil, nil, 1e-6), tolF32)
	p.check(name+": x after partial norms", xg, xc, tolF32)
	p.g.Free(xs, n1, xs2, n2)

	// x freed with an add pending and a norm of it alive: the norm still sees the add.
	yg, yc = p.act(yt, 1, L, D)
	p.g.AddGated(xg, yg, gg)
	p.c.AddGated(xc, yc, gc)
	p.g.Free(yg)
	n = p.g.LayerNorm(xg, wg, bg, 1e-6)
	p.g.Free(xg)
	p.check(name+": norm of x freed after the add", n, normRef(xc), tolF32)
	p.g.Free(n)

	// And an add pending when x is freed, with nothing reading it.
	x2g, _ := p.act(engine.F32, 1, L, D)
	yg, _ = p.act(yt, 1, L, D)
	p.g.AddGated(x2g, yg, gg)
	p.g.Free(yg, x2g)

	p.g.Free(gg, shg, scg)
	if live := p.g.PoolStats().InUse; live != base {
		t.Errorf("%s: %d bytes of activations live after freeing everything, want %d", name, live, base)
	}
}

// TestAddLayerNorm checks Device.AddLayerNorm against a float64 reference: x += r·gate, then the modulated
// LayerNorm of the sum, for both residual and output types, with and without gate and affine parameters.
func TestAddLayerNorm(t *testing.T) {
	d := testDevice(t)
	p := newOpPair(t)
	for _, sh := range [][2]int{{13, 1000}, {7, 1002}} { // the 4-wide path, the scalar one
		rows, cols := sh[0], sh[1]
		for _, rt := range []gguf.Type{gguf.TypeF32, gguf.TypeBF16} {
			for _, yt := range []gguf.Type{gguf.TypeF32, gguf.TypeBF16} {
				for _, full := range []bool{false, true} {
					name := fmt.Sprintf("%dx%d r=%v y=%v gate+affine+mod=%v", rows, cols, rt, yt, full)
					x := p.vals(rows*cols, 2, false)
					r := p.vals(rows*cols, 1, rt == gguf.TypeBF16)
					var g, w, bias, sc, sh []float32
					var a LayerNormArgs
					var gm Mem
					if full {
						g, w, bias, sc, sh = p.vals(cols, 1, false), p.vals(cols, 1, false), p.vals(cols, 1, false), p.vals(cols, 0.3, false), p.vals(cols, 0.3, false)
						gm = upload(t, d, g, gguf.TypeF32)
						a = LayerNormArgs{Weight: upload(t, d, w, gguf.TypeF32), Bias: upload(t, d, bias, gguf.TypeF32),
							Scale: upload(t, d, sc, gguf.TypeF32), Shift: upload(t, d, sh, gguf.TypeF32)}
					}
					xm := upload(t, d, x, gguf.TypeF32)
					rm := upload(t, d, r, rt)
					ym := alloc(t, d, int64(rows*cols)*elemBytes(yt))
					must(t, d.AddLayerNorm(nil, ym, yt, xm, rm, rt, gm, rows, cols, 1e-6, a))
					wantX := make([]float64, rows*cols)
					wantY := make([]float64, rows*cols)
					for i := range rows {
						var mean, vr float64
						for c := range cols {
							k := i*cols + c
							v := float64(r[k])
							if full {
								v *= float64(g[c])
							}
							wantX[k] = float64(x[k]) + v
							mean += wantX[k]
						}
						mean /= float64(cols)
						for c := range cols {
							dv := wantX[i*cols+c] - mean
							vr += dv * dv
						}
						rstd := 1 / math.Sqrt(vr/float64(cols)+1e-6)
						for c := range cols {
							k := i*cols + c
							v := (wantX[k] - mean) * rstd
							if full {
								v = (v*float64(w[c])+float64(bias[c]))*(1+float64(sc[c])) + float64(sh[c])
							}
							wantY[k] = v
						}
					}
					if e := relL2(download(t, d, xm, rows*cols, gguf.TypeF32), wantX); !(e <= 1e-6) {
						t.Errorf("%s: x relative L2 error %.3g", name, e)
					}
					if e := relL2(download(t, d, ym, rows*cols, yt), wantY); !(e <= tolFor(yt)) {
						t.Errorf("%s: y relative L2 error %.3g > %g", name, e, tolFor(yt))
					}
				}
			}
		}
	}
	x := alloc(t, d, 64*4)
	singleLine(t, d.AddLayerNorm(nil, x, gguf.TypeF32, x, alloc(t, d, 64*4), gguf.TypeF32, Mem{}, 1, 64, 1e-6, LayerNormArgs{}))
}
