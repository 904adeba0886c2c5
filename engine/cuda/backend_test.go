//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
)

// Tolerances of the backend against the CPU reference (relative L2): f32 arithmetic, and results that pass
// through bf16 (one rounding of an operand or the output; ../shared/golden/README.md allows 1e-2 per op).
const (
	tolF32  = 1e-5
	tolBF16 = 1e-2
)

// tolOf is the tolerance of an op computing in f32 on inputs of type dt, with its result in dt.
func tolOf(dt engine.DType) float64 {
	if dt == engine.BF16 {
		return tolBF16
	}
	return tolF32
}

// opPair runs the same op on the CUDA backend and the CPU reference.
type opPair struct {
	t   *testing.T
	g   *Backend
	c   *cpu.Backend
	rng *rand.Rand
}

func newOpPair(t *testing.T) *opPair {
	t.Helper()
	b := NewBackendOn(testDevice(t)).ForModel("test-weights")
	b.poison = true
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &opPair{t: t, g: b, c: cpu.New(), rng: rand.New(rand.NewPCG(uint64(len(t.Name())), 7))}
}

// vals returns n random values (bf16-exact when bf16, so that both sides see the same inputs).
func (p *opPair) vals(n int, scale float64, bf16 bool) []float32 {
	v := randF32(p.rng, n, scale)
	if bf16 {
		return roundBF16(v)
	}
	return v
}

// act makes the same activation on both sides: F32, or BF16 on the GPU (then values are bf16-exact).
func (p *opPair) act(d engine.DType, scale float64, shape ...int) (engine.Tensor, engine.Tensor) {
	v := p.vals(engine.Numel(shape), scale, d == engine.BF16)
	g := p.g.FromHost(v, shape...)
	if d == engine.BF16 {
		c := p.g.Cast(g, engine.BF16)
		p.g.Free(g)
		g = c
	}
	return g, p.c.FromHost(v, shape...)
}

// weight makes the same weight of ggml type typ on both sides.
func (p *opPair) weight(typ gguf.Type, scale float64, shape ...int) (engine.Tensor, engine.Tensor) {
	p.t.Helper()
	return p.pairWeight(p.g, typ, p.vals(engine.Numel(shape), scale, false), shape...)
}

// check compares a GPU result with the CPU one.
func (p *opPair) check(what string, got, want engine.Tensor, tol float64) {
	p.t.Helper()
	if !slices.Equal(got.Shape(), want.Shape()) {
		p.t.Errorf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
		return
	}
	if e := golden.RelL2(p.g.ToHost(got), p.c.ToHost(want)); !(e <= tol) {
		p.t.Errorf("%s: relative L2 error %.3g > %g", what, e, tol)
	}
}

// catchOp runs f and returns the *engine.Error it panicked with (nil if none).
func catchOp(f func()) (err error) {
	defer engine.Catch(&err)
	f()
	return nil
}

func TestBackendFromHostToHost(t *testing.T) {
	p := newOpPair(t)
	for _, n := range []int{1, 7, 1000, 1 << 16} {
		v := p.vals(n, 3, false)
		x := p.g.FromHost(v, n)
		if got := p.g.ToHost(x); !slices.Equal(got, v) {
			t.Errorf("n=%d: round trip changed values", n)
		}
		if x.DType() != engine.F32 {
			t.Errorf("FromHost dtype %v", x.DType())
		}
		y := p.g.Cast(x, engine.BF16)
		if got := p.g.ToHost(y); !slices.Equal(got, roundBF16(v)) {
			t.Errorf("n=%d: bf16 cast is not round-to-nearest-even", n)
		}
		p.g.Free(x, y)
	}
	if err := catchOp(func() { p.g.FromHost(make([]float32, 5), 2, 3) }); err == nil {
		t.Error("FromHost accepted 5 values for [2 3]")
	}
}

func TestBackendLinear(t *testing.T) {
	p := newOpPair(t)
	for _, typ := range []gguf.Type{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0, gguf.TypeQ4_K, gguf.TypeQ6_K} {
		for _, s := range []struct{ M, K, N int }{{1, 256, 40}, {5, 256, 72}, {67, 512, 130}, {300, 768, 264}} {
			for _, bias := range []gguf.Type{0xffff, gguf.TypeF32, gguf.TypeBF16} {
				name := fmt.Sprintf("%v %dx%dx%d bias %v", typ, s.M, s.K, s.N, bias)
				xg, xc := p.act(engine.F32, 1, s.M, s.K)
				wg, wc := p.weight(typ, 1/math.Sqrt(float64(s.K)), s.N, s.K)
				var bg, bc engine.Tensor
				if bias != 0xffff {
					bg, bc = p.weight(bias, 0.5, s.N)
				}
				yg, yc := p.g.Linear(xg, wg, bg), p.c.Linear(xc, wc, bc)
				want := engine.BF16
				if s.M == 1 {
					want = engine.F32
				}
				if yg.DType() != want {
					t.Errorf("%s: dtype %v, want %v", name, yg.DType(), want)
				}
				p.check(name, yg, yc, tolBF16)
				// A bf16 input and a 3-D shape give the same result.
				x3 := p.g.Reshape(p.g.Cast(xg, engine.BF16), 1, s.M, s.K)
				y3 := p.g.Linear(x3, wg, bg)
				if !slices.Equal(y3.Shape(), []int{1, s.M, s.N}) {
					t.Errorf("%s: 3-D shape %v", name, y3.Shape())
				}
				p.check(name+" (bf16 x)", p.g.Reshape(y3, s.M, s.N), yc, tolBF16)
				p.g.Free(xg, wg, bg, yg, x3, y3)
			}
		}
	}
	xg, _ := p.act(engine.F32, 1, 3, 64)
	wg, _ := p.weight(gguf.TypeF32, 1, 8, 32)
	if err := catchOp(func() { p.g.Linear(xg, wg, nil) }); err == nil {
		t.Error("Linear accepted x [3 64] with weight [8 32]")
	} else if e := (*engine.Error)(nil); !errors.As(err, &e) || e.Op != "Linear" {
		t.Errorf("error %v is not an *engine.Error of Linear", err)
	}
}

func TestBackendNorms(t *testing.T) {
	p := newOpPair(t)
	for _, dt := range []engine.DType{engine.F32, engine.BF16} {
		tol := tolOf(dt)
		for _, s := range [][2]int{{1, 7}, {13, 256}, {3, 5120}, {5, 1000}} {
			rows, cols := s[0], s[1]
			xg, xc := p.act(dt, 2, rows, cols)
			for _, wt := range []gguf.Type{0xffff, gguf.TypeF32, gguf.TypeBF16} {
				var wg, wc, bg, bc engine.Tensor
				if wt != 0xffff {
					wg, wc = p.weight(wt, 1, cols)
					bg, bc = p.weight(wt, 0.3, cols)
				}
				name := fmt.Sprintf("%v [%d %d] weights %v", dt, rows, cols, wt)
				ln := p.g.LayerNorm(xg, wg, bg, 1e-6)
				if ln.DType() != dt {
					t.Errorf("LayerNorm %s: dtype %v", name, ln.DType())
				}
				p.check("LayerNorm "+name, ln, p.c.LayerNorm(xc, wc, bc, 1e-6), tol)
				rms := p.g.RMSNorm(xg, wg, 1e-6)
				p.check("RMSNorm "+name, rms, p.c.RMSNorm(xc, wc, 1e-6), tol)
				p.g.Free(wg, bg, ln, rms)
			}
			p.g.Free(xg)
		}
	}
}

func TestBackendElementwise(t *testing.T) {
	p := newOpPair(t)
	for _, dt := range []engine.DType{engine.F32, engine.BF16} {
		tol := tolOf(dt)
		for _, s := range [][2]int{{1, 5}, {7, 13}, {9, 256}, {64, 5120}} {
			rows, cols := s[0], s[1]
			name := fmt.Sprintf("%v [%d %d]", dt, rows, cols)
			xg, xc := p.act(dt, 2, rows, cols)
			shg, shc := p.act(engine.F32, 0.5, cols)
			scg, scc := p.act(engine.F32, 0.5, cols)
			p.check("Modulate "+name, p.g.Modulate(xg, shg, scg), p.c.Modulate(xc, shc, scc), tol)
			yg, yc := p.act(dt, 1, rows, cols)
			p.check("Add "+name, p.g.Add(xg, yg), p.c.Add(xc, yc), tol)
			p.check("Mul "+name, p.g.Mul(xg, yg), p.c.Mul(xc, yc), tol)
			p.check("Add broadcast "+name, p.g.Add(xg, shg), p.c.Add(xc, shc), tol)
			p.check("Mul broadcast "+name, p.g.Mul(xg, scg), p.c.Mul(xc, scc), tol)
			wg, wc := p.weight(gguf.TypeBF16, 1, rows, cols)
			p.check("Add weight "+name, p.g.Add(wg, xg), p.c.Add(wc, xc), tolBF16)
			p.check("GELU "+name, p.g.GELU(xg), p.c.GELU(xc), max(tol, 1e-6))
			p.check("SiLU "+name, p.g.SiLU(xg), p.c.SiLU(xc), max(tol, 1e-6))
			p.check("Cast "+name, p.g.Cast(xg, engine.F32), xc, tol)

			// AddGated in place: into an F32 x, and into a BF16 x (which becomes F32, views too).
			for _, gated := range []bool{false, true} {
				var gg, gc engine.Tensor
				if gated {
					gg, gc = scg, scc
				}
				rg, rc := p.g.Cast(xg, dt), p.c.Cast(xc, engine.F32)
				view := p.g.Reshape(rg, rows*cols)
				p.g.AddGated(rg, yg, gg)
				p.c.AddGated(rc, yc, gc)
				if rg.DType() != engine.F32 || view.DType() != engine.F32 {
					t.Errorf("AddGated %s: x is %v (view %v) afterwards, want f32", name, rg.DType(), view.DType())
				}
				p.check(fmt.Sprintf("AddGated %s gate %v", name, gated), rg, rc, tol)
				p.g.Free(rg, view)
			}
			p.g.Free(xg, yg, shg, scg, wg)
		}
	}
}

func TestBackendAddGatedRows(t *testing.T) {
	p := newOpPair(t)
	const L, D = 37, 264
	for _, dt := range []engine.DType{engine.F32, engine.BF16} {
		xg, xc := p.act(engine.F32, 1, L, D)
		gg, gc := p.act(engine.F32, 0.5, D)
		for _, chunk := range [][2]int{{0, 5}, {5, 16}, {21, 16}, {36, 1}} {
			yg, yc := p.act(dt, 1, chunk[1], D)
			p.g.AddGatedRows(xg, yg, gg, chunk[0])
			// The reference: add y·gate to the rows by hand.
			xd, yd, g := xc.(*cpu.Tensor).Data(), yc.(*cpu.Tensor).Data(), gc.(*cpu.Tensor).Data()
			for i := range yd {
				xd[chunk[0]*D+i] += yd[i] * g[i%D]
			}
			p.g.Free(yg)
		}
		p.check(fmt.Sprintf("AddGatedRows %v", dt), xg, xc, tolF32)
		yg, _ := p.act(dt, 1, 2, D)
		if err := catchOp(func() { p.g.AddGatedRows(xg, yg, gg, L-1) }); err == nil {
			t.Error("AddGatedRows accepted rows past the end")
		}
		p.g.Free(xg, gg, yg)
	}
}

func TestBackendRowsSliceConcat(t *testing.T) {
	p := newOpPair(t)
	ids := []int32{3, 4, 5, 0, 9, 9, 1, 2, 3}
	// Every weight type is dequantized bit-exactly; D = 34 puts runs of F16 rows at misaligned offsets.
	for _, tc := range []struct {
		typ gguf.Type
		D   int
	}{{gguf.TypeF32, 64}, {gguf.TypeF16, 34}, {gguf.TypeBF16, 40}, {gguf.TypeQ8_0, 96}, {gguf.TypeQ4_K, 256}, {gguf.TypeQ6_K, 512}} {
		wg, wc := p.weight(tc.typ, 1, 10, tc.D)
		name := fmt.Sprintf("%v D=%d", tc.typ, tc.D)
		rg := p.g.Rows(wg, ids)
		if rg.DType() != engine.F32 {
			t.Errorf("Rows %s: dtype %v", name, rg.DType())
		}
		p.check("Rows "+name, rg, p.c.Rows(wc, ids), 0)
		p.check("Slice weight "+name, p.g.Slice(wg, 2, 7), p.c.Slice(wc, 2, 7), 0)
		if err := catchOp(func() { p.g.Rows(wg, []int32{10}) }); err == nil {
			t.Errorf("Rows %s accepted id 10 of 10", name)
		}
		p.g.Free(wg, rg)
	}
	for _, dt := range []engine.DType{engine.F32, engine.BF16} {
		ag, ac := p.act(dt, 1, 10, 24)
		p.check(fmt.Sprintf("Rows activation %v", dt), p.g.Rows(ag, ids), p.c.Rows(ac, ids), 0)
		s := p.g.Slice(ag, 3, 8)
		if s.DType() != dt {
			t.Errorf("Slice %v: dtype %v", dt, s.DType())
		}
		p.check(fmt.Sprintf("Slice %v", dt), s, p.c.Slice(ac, 3, 8), 0)
		bg, bc := p.act(engine.F32, 1, 3, 24)
		cg := p.g.Concat(ag, bg, s)
		if cg.DType() != dt {
			t.Errorf("Concat %v: dtype %v", dt, cg.DType())
		}
		tol := 0.0
		if dt == engine.BF16 {
			tol = tolBF16 // bg is rounded into the bf16 result
		}
		p.check(fmt.Sprintf("Concat %v", dt), cg, p.c.Concat(ac, bc, p.c.Slice(ac, 3, 8)), tol)
		p.g.Free(ag, bg, s, cg)
	}
}

func TestBackendRotatePairs(t *testing.T) {
	p := newOpPair(t)
	for _, dt := range []engine.DType{engine.F32, engine.BF16} {
		tol := tolOf(dt)
		for _, s := range []struct{ L, H, D int }{{5, 2, 128}, {7, 3, 6}, {33, 40, 128}, {4, 1, 8}} {
			xg, xc := p.act(dt, 1, s.L, s.H*s.D)
			ang := p.vals(s.L*s.D/2, 3, false)
			cs, sn := make([]float32, len(ang)), make([]float32, len(ang))
			for i, a := range ang {
				cs[i], sn[i] = float32(math.Cos(float64(a))), float32(math.Sin(float64(a)))
			}
			cg, sg := p.g.FromHost(cs, s.L, s.D/2), p.g.FromHost(sn, s.L, s.D/2)
			p.g.RotatePairs(xg, cg, sg, s.H)
			p.c.RotatePairs(xc, p.c.FromHost(cs, s.L, s.D/2), p.c.FromHost(sn, s.L, s.D/2), s.H)
			if xg.DType() != dt {
				t.Errorf("RotatePairs changed the dtype to %v", xg.DType())
			}
			p.check(fmt.Sprintf("RotatePairs %v L=%d H=%d D=%d", dt, s.L, s.H, s.D), xg, xc, tol)
			p.g.Free(xg, cg, sg)
		}
	}
}

// attnCase is one attention shape: lengths, key limit (0: all), heads, head dim, with a bias or not.
type attnCase struct {
	lq, lk, keyLen, heads, d int
	bias                     bool
}

func (p *opPair) attention(c attnCase, scale float32) {
	p.t.Helper()
	qg, qc := p.act(engine.BF16, 1, c.lq, c.heads*c.d)
	kg, kc := p.act(engine.BF16, 1, c.lk, c.heads*c.d)
	vg, vc := p.act(engine.BF16, 1, c.lk, c.heads*c.d)
	og, oc := engine.AttentionOpts{Heads: c.heads, Scale: scale, KeyLen: c.keyLen}, engine.AttentionOpts{Heads: c.heads, Scale: scale, KeyLen: c.keyLen}
	if c.bias {
		og.Bias, oc.Bias = p.act(engine.F32, 2, c.heads, c.lq, c.lk)
	}
	yg := p.g.Attention(qg, kg, vg, og)
	if yg.DType() != engine.BF16 {
		p.t.Errorf("%+v: dtype %v", c, yg.DType())
	}
	p.check(fmt.Sprintf("Attention %+v", c), yg, p.c.Attention(qc, kc, vc, oc), tolBF16)
	p.g.Free(qg, kg, vg, yg, og.Bias)
}

// TestBackendFlashAttention runs head dim 128 without a bias, the flash kernel's case, over lengths 1 to
// 4096, odd ones and masked keys included: with the device's default kernels (the sm90a module on compute
// capability 9.0) and with the portable compute_80 ones.
func TestBackendFlashAttention(t *testing.T) {
	p := newOpPair(t)
	defer p.g.SetPortableAttention(p.g.portableAttn)
	i := p.g.d.Info()
	hopper := i.Major == 9 && i.Minor == 0
	for _, portable := range []bool{false, true} {
		if !portable && p.g.portableAttn {
			t.Log("WAN22_ATTN=portable: the default kernels are the portable ones")
			continue
		}
		p.g.SetPortableAttention(portable)
		long, short := p.g.FlashKernels()
		t.Logf("flash kernels (portable %v): long keys %s, short keys %s", portable, long, short)
		if long == "" {
			t.Errorf("portable %v: no flash kernel: the cases below run the fallback", portable)
		}
		wantMod := flashModulePortable + ":"
		if hopper && !portable {
			wantMod = flashModuleSM90a + ":"
		}
		for _, name := range []string{long, short} {
			if !strings.HasPrefix(name, wantMod) {
				t.Errorf("portable %v on compute capability %d.%d: flash kernel %q, want one of %s", portable, i.Major, i.Minor, name, strings.TrimSuffix(wantMod, ":"))
			}
		}
		for _, c := range []attnCase{
			{1, 1, 0, 1, 128, false}, {1, 7, 0, 2, 128, false}, {17, 33, 0, 2, 128, false}, {64, 64, 0, 1, 128, false},
			{100, 257, 200, 2, 128, false}, {129, 513, 0, 2, 128, false}, {333, 1000, 999, 1, 128, false},
			{1000, 777, 0, 2, 128, false}, {2000, 512, 0, 2, 128, false}, {255, 4096, 1, 1, 128, false},
			{4096, 4096, 0, 1, 128, false}, {4095, 4096, 3001, 1, 128, false}, {300, 3000, 0, 40, 128, false},
		} {
			p.attention(c, float32(1/math.Sqrt(128)))
		}
	}
}

// TestFlashEntryPoints: every bf16 entry point of both attention modules parses, with the shared memory
// their sources state, and the preference lists name only entry points that exist. Needs no GPU.
func TestFlashEntryPoints(t *testing.T) {
	wantSmem := map[string]int{
		"attn_b128_w8_s2_bf16": 64 << 10, "attn_b128_w4_s2_bf16": 96 << 10, "attn_b256_w8_s3_bf16": 160 << 10,
		"attn_b128_w8_s2g_bf16": 163840, "attn_b128_w8_s3g_bf16": 229376,
		"attn_b128_w12_s3gp_bf16": 229632, "attn_b128_w12_s3gq_bf16": 229632, "attn_b128_w12_s3gt_bf16": 229632,
		"attn_b128_w12_s3gtr_bf16": 229632, "attn_b128n176_w12_s2gt_bf16": 213248,
		"attn_b256n128_w12_s2gtr_bf16": 182400, "attn_b512n128_w12_s2gtr_bf16": 182400,
	}
	for _, mod := range []string{flashModulePortable, flashModuleSM90a} {
		all := flashCandidates(mod, nil)
		if len(all) == 0 {
			t.Errorf("%s: no bf16 entry points in the PTX", mod)
		}
		for _, name := range all {
			_, _, smem, err := parseFlash(name)
			if err != nil {
				t.Errorf("%s: %v", mod, err)
			} else if w, ok := wantSmem[name]; !ok || smem != w {
				t.Errorf("%s: %s needs %d bytes of shared memory, want %d", mod, name, smem, w)
			}
		}
		prefs := flashPreferences[mod]
		for _, name := range append(slices.Clone(prefs.long), prefs.short...) {
			if !slices.Contains(all, name) {
				t.Errorf("%s: preferred entry point %s is not in the PTX", mod, name)
			}
		}
	}
	for _, bad := range []string{"attn_b128_w8_s2_f32", "attn_b96_w8_s2_bf16", "attn_b256_w8_s2g_bf16", "attn_b128_w8_s1_bf16", "attn",
		"attn_b128_w8_s3gq_bf16", "attn_b128_w12_s2gq_bf16", "attn_b128_w12_s3gx_bf16"} {
		if _, _, _, err := parseFlash(bad); err == nil {
			t.Errorf("parseFlash(%q) accepted it", bad)
		}
	}
}

// TestBackendSmallAttention runs the shared-memory kernel: T5's relative-position bias (no scaling, masked
// padding keys) and head dims other than 128.
func TestBackendSmallAttention(t *testing.T) {
	p := newOpPair(t)
	for _, c := range []attnCase{
		{1, 1, 0, 1, 16, true}, {64, 64, 40, 4, 16, true}, {13, 70, 0, 3, 64, true}, {512, 512, 0, 4, 64, true},
		{512, 512, 300, 2, 64, true}, {100, 100, 0, 2, 128, true}, {45, 33, 0, 2, 32, false}, {7, 9, 0, 1, 72, false},
	} {
		p.attention(c, 1)
	}
	qg, _ := p.act(engine.BF16, 1, 4, 2*256)
	if err := catchOp(func() { p.g.Attention(qg, qg, qg, engine.AttentionOpts{Heads: 2, Scale: 1}) }); err == nil {
		t.Error("Attention accepted head dim 256")
	}
}

// TestBackendMemory: the pool reuses freed activations without new allocations, Trim returns them, views
// free their storage once, and FreeOwner releases a model to the byte.
func TestBackendMemory(t *testing.T) {
	d := testDevice(t)
	b := NewBackendOn(d)
	defer b.Close()
	base := b.MemStats().ByOwner[ActivationOwner]

	x := b.FromHost(make([]float32, 3000), 3, 1000)
	b.Free(x)
	before := b.PoolStats()
	for range 10 {
		y := b.FromHost(make([]float32, 2900), 29, 100) // the same size class
		v := b.Reshape(y, 2900)
		b.Free(y, v, y) // one release for the storage, whatever is freed twice
	}
	after := b.PoolStats()
	if after.Misses != before.Misses || after.Hits != before.Hits+10 {
		t.Errorf("pool: %d→%d misses, %d→%d hits; want every allocation served from the cache", before.Misses, after.Misses, before.Hits, after.Hits)
	}
	if after.InUse != 0 || after.Cached == 0 {
		t.Errorf("pool after freeing everything: %+v", after)
	}
	if err := catchOp(func() { b.ToHost(x) }); err == nil {
		t.Error("ToHost of a freed tensor succeeded")
	}
	must(t, b.Trim())
	if got := b.MemStats().ByOwner[ActivationOwner]; got != base || b.PoolStats().Cached != 0 {
		t.Errorf("after Trim: %d bytes of activations (%d before), %d cached", got, base, b.PoolStats().Cached)
	}

	m := b.ForModel("model-a")
	info := gguf.TensorInfo{Name: "w", Type: gguf.TypeBF16, Shape: []int64{64, 256}}
	var ws []engine.Tensor
	for range 5 {
		ws = append(ws, m.Weight(info, make([]byte, 64*256*2)))
	}
	bias := m.Weight(gguf.TensorInfo{Name: "b", Type: gguf.TypeF16, Shape: []int64{64}}, make([]byte, 128))
	xs := b.FromHost(make([]float32, 256), 1, 256)
	b.Free(b.Linear(xs, ws[0], bias), xs) // makes the bias's f32 copy, owned by the model
	if got := b.MemStats().ByOwner["model-a"]; got < 5*64*256*2+128+64*4 {
		t.Errorf("model-a owns %d bytes, want at least its weights and the bias copy", got)
	}
	b.Free(ws[0])
	freed, err := b.FreeOwner("model-a")
	must(t, err)
	if left := b.MemStats().ByOwner["model-a"]; left != 0 || freed < 4*64*256*2 {
		t.Errorf("FreeOwner freed %d bytes and left %d", freed, left)
	}
	if err := catchOp(func() { b.ToHost(ws[1]) }); err == nil {
		t.Error("a weight of a freed owner is still usable")
	}
	b.Free(ws...) // already released: ignored
	if _, err := b.FreeOwner(ActivationOwner); err == nil {
		t.Error("FreeOwner(activations) succeeded")
	}
}

// TestBackendPrecisionF32: with PrecisionF32, Linear (split bf16 products) and Attention (f32 kernel) agree
// with the f32 reference to f32-like accuracy, for every weight type, and return F32.
func TestBackendPrecisionF32(t *testing.T) {
	p := newOpPair(t)
	p.g = p.g.WithPrecision(PrecisionF32)
	const tol = 2e-5
	for _, typ := range []gguf.Type{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ8_0, gguf.TypeQ4_K} {
		for _, s := range []struct{ M, K, N int }{{1, 256, 40}, {67, 512, 130}, {512, 256, 264}} {
			name := fmt.Sprintf("Linear f32 %v %dx%dx%d", typ, s.M, s.K, s.N)
			xg, xc := p.act(engine.F32, 1, s.M, s.K)
			wg, wc := p.weight(typ, 1/math.Sqrt(float64(s.K)), s.N, s.K)
			bg, bc := p.weight(gguf.TypeF32, 0.5, s.N)
			yg := p.g.Linear(xg, wg, bg)
			if yg.DType() != engine.F32 {
				t.Errorf("%s: dtype %v", name, yg.DType())
			}
			p.check(name, yg, p.c.Linear(xc, wc, bc), tol)
			p.g.Free(xg, wg, bg, yg)
		}
	}
	for _, c := range []attnCase{{64, 64, 40, 4, 16, true}, {512, 512, 0, 4, 64, true}, {100, 100, 0, 2, 128, false}} {
		qg, qc := p.act(engine.F32, 1, c.lq, c.heads*c.d)
		kg, kc := p.act(engine.F32, 1, c.lk, c.heads*c.d)
		vg, vc := p.act(engine.F32, 1, c.lk, c.heads*c.d)
		og := engine.AttentionOpts{Heads: c.heads, Scale: 1, KeyLen: c.keyLen}
		oc := og
		if c.bias {
			og.Bias, oc.Bias = p.act(engine.F32, 2, c.heads, c.lq, c.lk)
		}
		yg := p.g.Attention(qg, kg, vg, og)
		if yg.DType() != engine.F32 {
			t.Errorf("attention %+v: dtype %v", c, yg.DType())
		}
		p.check(fmt.Sprintf("Attention f32 %+v", c), yg, p.c.Attention(qc, kc, vc, oc), tol)
	}
}

// TestBackendRelPosBias: the device-built bias equals the table lookup on the host.
func TestBackendRelPosBias(t *testing.T) {
	p := newOpPair(t)
	const heads, nb = 4, 32
	table := p.vals(nb*heads, 1, false)
	for _, s := range [][2]int{{1, 1}, {7, 13}, {64, 64}, {130, 70}} {
		lq, lk := s[0], s[1]
		buckets := make([]int32, lq+lk-1)
		for d := range buckets {
			buckets[d] = int32((d*7 + 3) % nb)
		}
		want := make([]float32, heads*lq*lk)
		for h := range heads {
			for i := range lq {
				for j := range lk {
					want[(h*lq+i)*lk+j] = table[int(buckets[j-i+lq-1])*heads+h]
				}
			}
		}
		y := p.g.RelPosBias(table, buckets, heads, lq, lk)
		if got := p.g.ToHost(y); !slices.Equal(got, want) || !slices.Equal(y.Shape(), []int{heads, lq, lk}) {
			t.Errorf("RelPosBias %dx%d differs from the host table lookup", lq, lk)
		}
		p.g.Free(y)
	}
	if err := catchOp(func() { p.g.RelPosBias(table, []int32{nb}, heads, 1, 1) }); err == nil {
		t.Error("RelPosBias accepted a bucket past the table")
	}
}

// TestBackendFusion: a deferred LayerNorm (and Modulate) gives the eager result whatever reads it — a GEMM,
// another op, the host — and runs before its input is written or freed; the bf16 shadow of a GEMM input
// follows writes to it.
func TestBackendFusion(t *testing.T) {
	p := newOpPair(t)
	const L, D, N = 37, 256, 72
	xg, xc := p.act(engine.F32, 2, L, D)
	shg, shc := p.act(engine.F32, 0.3, D)
	scg, scc := p.act(engine.F32, 0.3, D)
	wg, wc := p.weight(gguf.TypeBF16, 1, D)
	bg, bc := p.weight(gguf.TypeF32, 0.2, D)
	lw, lc := p.weight(gguf.TypeQ8_0, 1/math.Sqrt(D), N, D)
	yg, yc := p.act(engine.F32, 1, L, D)

	modRef := func(xc engine.Tensor) engine.Tensor {
		return p.c.Modulate(p.c.LayerNorm(xc, nil, nil, 1e-6), shc, scc)
	}
	// Read by GEMMs (q, k, v of one input), then by the host.
	a := p.g.Modulate(p.g.LayerNorm(xg, nil, nil, 1e-6), shg, scg)
	for range 3 {
		p.check("Linear of a deferred LN+Modulate", p.g.Linear(a, lw, nil), p.c.Linear(modRef(xc), lc, nil), tolBF16)
	}
	p.check("deferred LN+Modulate read by the host", a, modRef(xc), tolF32)
	// With affine parameters, read by another op.
	n := p.g.LayerNorm(xg, wg, bg, 1e-6)
	p.check("GELU of a deferred affine LN", p.g.GELU(n), p.c.GELU(p.c.LayerNorm(xc, wc, bc, 1e-6)), 1e-6)
	// Deferred, then its input changes in place: it keeps the value of when it was made.
	before := p.c.LayerNorm(xc, wc, bc, 1e-6)
	n2 := p.g.LayerNorm(xg, wg, bg, 1e-6)
	m2 := p.g.Modulate(p.g.Reshape(n2, L, D), shg, scg)
	p.g.AddGated(xg, yg, shg)
	p.c.AddGated(xc, yc, shc)
	p.check("deferred LN after its input was written", n2, before, tolF32)
	p.check("deferred LN+Modulate after its input was written", m2, p.c.Modulate(before, shc, scc), tolF32)
	// Deferred, then its input is freed.
	x3g, x3c := p.act(engine.F32, 1, L, D)
	n3 := p.g.LayerNorm(x3g, nil, nil, 1e-6)
	p.g.Free(x3g)
	p.check("deferred LN after its input was freed", n3, p.c.LayerNorm(x3c, nil, nil, 1e-6), tolF32)
	// The shadow of an F32 GEMM input follows in-place writes.
	zg, zc := p.act(engine.F32, 1, L, D)
	p.check("Linear of an F32 input", p.g.Linear(zg, lw, nil), p.c.Linear(zc, lc, nil), tolBF16)
	p.g.AddGated(zg, yg, nil)
	p.c.AddGated(zc, yc, nil)
	p.check("Linear of the same input after a write", p.g.Linear(zg, lw, nil), p.c.Linear(zc, lc, nil), tolBF16)
	// Everything is released: nothing live but the tensors still held here.
	p.g.Free(a, n, n2, m2, n3, zg)
	p.g.SetFusion(false)
	p.check("LN+Modulate without fusion", p.g.Modulate(p.g.LayerNorm(xg, nil, nil, 1e-6), shg, scg), modRef(xc), tolF32)
	p.g.SetFusion(true)
}
