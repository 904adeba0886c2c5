package cpu

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/wan22/wan22/engine"
)

func randVals(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// naiveConv3d is the definition of engine.VideoOps.Conv3d in float64: the logical
// input zeros(PadT) ⊕ prev ⊕ x, upsampled and zero-padded, cross-correlated
// with w.
func naiveConv3d(x, prev []float32, P int, xs, ws []int, w, b, add []float32, o engine.ConvOpts) ([]float64, []int) {
	Cin, T, H, W := xs[0], xs[1], xs[2], xs[3]
	Cout, KT, KH, KW := ws[0], ws[2], ws[3], ws[4]
	st, ss := max(o.StrideT, 1), max(o.Stride, 1)
	up := 1
	if o.Upsample2x {
		up = 2
	}
	Hin, Win := up*H, up*W
	L := o.PadT + P + T
	To := (L-KT)/st + 1
	Ho := (Hin+o.PadTop+o.PadBottom-KH)/ss + 1
	Wo := (Win+o.PadLeft+o.PadRight-KW)/ss + 1
	in := func(c, f, y, xx int) float64 { // logical (padded) coordinates
		y -= o.PadTop
		xx -= o.PadLeft
		if f < o.PadT || y < 0 || y >= Hin || xx < 0 || xx >= Win {
			return 0
		}
		y, xx = y/up, xx/up
		if f < o.PadT+P {
			return float64(prev[((c*P+f-o.PadT)*H+y)*W+xx])
		}
		return float64(x[((c*T+f-o.PadT-P)*H+y)*W+xx])
	}
	out := make([]float64, Cout*To*Ho*Wo)
	for co := range Cout {
		for to := range To {
			for ho := range Ho {
				for wo := range Wo {
					s := 0.0
					if b != nil {
						s = float64(b[co])
					}
					for ci := range Cin {
						for kt := range KT {
							for kh := range KH {
								for kw := range KW {
									s += float64(w[(((co*Cin+ci)*KT+kt)*KH+kh)*KW+kw]) * in(ci, to*st+kt, ho*ss+kh, wo*ss+kw)
								}
							}
						}
					}
					i := ((co*To+to)*Ho+ho)*Wo + wo
					if add != nil {
						s += float64(add[i])
					}
					out[i] = s
				}
			}
		}
	}
	return out, []int{Cout, To, Ho, Wo}
}

func maxRelErr(got []float32, want []float64) float64 {
	var scale, worst float64
	for _, v := range want {
		scale = max(scale, math.Abs(v))
	}
	for i, v := range want {
		worst = max(worst, math.Abs(float64(got[i])-v))
	}
	return worst / max(scale, 1e-30)
}

func TestConv3d(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		cin, cout, T, H, W, P int
		k                     [3]int
		o                     engine.ConvOpts
		add                   bool
	}{
		{3, 5, 1, 7, 9, 0, [3]int{3, 3, 3}, engine.ConvOpts{PadT: 2}.SamePad(1), false},                    // first chunk: 2 zero frames
		{4, 4, 4, 5, 6, 1, [3]int{3, 3, 3}, engine.ConvOpts{PadT: 1}.SamePad(1), true},                     // 1 cached frame + residual
		{6, 3, 1, 4, 4, 2, [3]int{3, 3, 3}, engine.ConvOpts{}.SamePad(1), false},                           // 2 cached frames, Cout 3
		{5, 7, 3, 6, 5, 0, [3]int{1, 1, 1}, engine.ConvOpts{}, true},                                       // 1×1×1 (shortcut, qkv)
		{8, 16, 2, 3, 4, 1, [3]int{3, 1, 1}, engine.ConvOpts{PadT: 1}, false},                              // time conv of upsample3d
		{6, 6, 4, 5, 7, 1, [3]int{3, 1, 1}, engine.ConvOpts{StrideT: 2}, false},                            // time conv of downsample3d
		{4, 4, 2, 8, 10, 0, [3]int{1, 3, 3}, engine.ConvOpts{PadBottom: 1, PadRight: 1, Stride: 2}, false}, // downsample2d
		{4, 4, 2, 7, 9, 0, [3]int{1, 3, 3}, engine.ConvOpts{PadBottom: 1, PadRight: 1, Stride: 2}, false},  // odd sides
		{6, 3, 2, 3, 5, 0, [3]int{1, 3, 3}, engine.ConvOpts{Upsample2x: true}.SamePad(1), false},           // upsample2d
		{2, 5, 1, 50, 47, 0, [3]int{1, 3, 3}, engine.ConvOpts{}.SamePad(1), true},                          // several segments
		{3, 4, 2, 4, 6, 0, [3]int{2, 2, 3}, engine.ConvOpts{PadT: 1, PadTop: 2, PadLeft: 1}, false},        // uneven kernel and pads
	}
	b := New()
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			xs := []int{c.cin, c.T, c.H, c.W}
			ws := []int{c.cout, c.cin, c.k[0], c.k[1], c.k[2]}
			x := randVals(r, engine.Numel(xs))
			w := randVals(r, engine.Numel(ws))
			bias := randVals(r, c.cout)
			var prev []float32
			var pt engine.Tensor
			if c.P > 0 {
				prev = randVals(r, c.cin*c.P*c.H*c.W)
				pt = b.FromHost(prev, c.cin, c.P, c.H, c.W)
			}
			want, shape := naiveConv3d(x, prev, c.P, xs, ws, w, bias, nil, c.o)
			o := c.o
			var add []float32
			if c.add {
				add = randVals(r, len(want))
				want, _ = naiveConv3d(x, prev, c.P, xs, ws, w, bias, add, c.o)
				o.Add = b.FromHost(add, shape...)
			}
			y := b.Conv3d(b.FromHost(x, xs...), pt, b.FromHost(w, ws...), b.FromHost(bias, c.cout), o)
			if !slices.Equal(y.Shape(), shape) {
				t.Fatalf("shape %v, want %v", y.Shape(), shape)
			}
			if e := maxRelErr(y.(*Tensor).Data(), want); e > 1e-5 {
				t.Errorf("max error %.3g of the largest output", e)
			}
		})
	}
}

// mustFail runs f and checks that it panics with an *engine.Error.
func mustFail(t *testing.T, what string, f func()) {
	t.Helper()
	var err error
	func() {
		defer engine.Catch(&err)
		f()
	}()
	var e *engine.Error
	if !errors.As(err, &e) {
		t.Errorf("%s: no *engine.Error (got %v)", what, err)
	}
}

func TestConv3dErrors(t *testing.T) {
	b := New()
	x := b.FromHost(make([]float32, 2*1*4*4), 2, 1, 4, 4)
	w := b.FromHost(make([]float32, 3*2*27), 3, 2, 3, 3, 3)
	mustFail(t, "input shorter than the kernel", func() { b.Conv3d(x, nil, w, nil, engine.ConvOpts{}) })
	mustFail(t, "channel mismatch", func() {
		b.Conv3d(x, nil, b.FromHost(make([]float32, 27*3*3), 3, 3, 3, 3, 3), nil, engine.ConvOpts{PadT: 2})
	})
	mustFail(t, "prev mismatch", func() {
		b.Conv3d(x, b.FromHost(make([]float32, 2*1*4*5), 2, 1, 4, 5), w, nil, engine.ConvOpts{PadT: 1})
	})
	mustFail(t, "bias mismatch", func() { b.Conv3d(x, nil, w, b.FromHost(make([]float32, 2), 2), engine.ConvOpts{PadT: 2}) })
	mustFail(t, "add mismatch", func() {
		b.Conv3d(x, nil, w, nil, engine.ConvOpts{PadT: 2, Add: x})
	})
	mustFail(t, "3-D x", func() { b.Conv3d(b.FromHost(make([]float32, 8), 2, 2, 2), nil, w, nil, engine.ConvOpts{}) })
}

func TestChannelNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	b := New()
	const C, T, H, W = 5, 3, 4, 7
	x := randVals(r, C*T*H*W)
	for i := range T * H * W / 3 { // some all-zero pixels: the 1e-12 clamp keeps them zero
		for c := range C {
			x[c*T*H*W+3*i] = 0
		}
	}
	g := randVals(r, C)
	for _, silu := range []bool{false, true} {
		y := b.ChannelNorm(b.FromHost(x, C, T, H, W), b.FromHost(g, C), silu).(*Tensor).Data()
		want := make([]float64, len(x))
		N := T * H * W
		for p := range N {
			var ss float64
			for c := range C {
				ss += float64(x[c*N+p]) * float64(x[c*N+p])
			}
			for c := range C {
				v := float64(x[c*N+p]) / max(math.Sqrt(ss), 1e-12) * math.Sqrt(C) * float64(g[c])
				if silu {
					v /= 1 + math.Exp(-v)
				}
				want[c*N+p] = v
			}
		}
		if e := maxRelErr(y, want); e > 1e-6 {
			t.Errorf("silu=%v: max error %.3g", silu, e)
		}
	}
	mustFail(t, "gamma size", func() { b.ChannelNorm(b.FromHost(x, C, T, H, W), b.FromHost(g[:3], 3), false) })
}

func TestFrameAttention(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	b := New()
	const C, T, H, W = 6, 2, 3, 5
	N := H * W
	qkv := randVals(r, 3*C*T*N)
	y := b.FrameAttention(b.FromHost(qkv, 3*C, T, H, W)).(*Tensor).Data()
	at := func(part, c, t, i int) float64 { return float64(qkv[((part*C+c)*T+t)*N+i]) }
	want := make([]float64, C*T*N)
	for f := range T {
		for i := range N {
			s := make([]float64, N)
			var mx float64 = math.Inf(-1)
			for j := range N {
				for c := range C {
					s[j] += at(0, c, f, i) * at(1, c, f, j)
				}
				s[j] /= math.Sqrt(C)
				mx = max(mx, s[j])
			}
			var sum float64
			for j := range s {
				s[j] = math.Exp(s[j] - mx)
				sum += s[j]
			}
			for c := range C {
				var o float64
				for j := range N {
					o += s[j] / sum * at(2, c, f, j)
				}
				want[(c*T+f)*N+i] = o
			}
		}
	}
	if e := maxRelErr(y, want); e > 1e-5 {
		t.Errorf("max error %.3g", e)
	}
	mustFail(t, "channels not 3C", func() { b.FrameAttention(b.FromHost(qkv[:4*T*N], 4, T, H, W)) })
}

func TestFrameShuffles(t *testing.T) {
	b := New()
	const C, T, H, W = 4, 3, 2, 3
	hw := H * W
	x := make([]float32, C*T*hw)
	for i := range x {
		x[i] = float32(i)
	}
	xt := b.FromHost(x, C, T, H, W)
	at := func(c, f, i int) float32 { return x[(c*T+f)*hw+i] }

	fr := b.Frames(xt, 1, 3).(*Tensor)
	ab := b.ConcatFrames(b.Frames(xt, 0, 1), fr).(*Tensor)
	if !slices.Equal(fr.Shape(), []int{C, 2, H, W}) || !slices.Equal(ab.Data(), x) {
		t.Errorf("Frames/ConcatFrames: shape %v; concat of [0,1) and [1,3) is not the input", fr.Shape())
	}
	for c := range C {
		for f := range 2 {
			for i := range hw {
				if fr.Data()[(c*2+f)*hw+i] != at(c, f+1, i) {
					t.Fatalf("Frames(1, 3)[%d, %d, %d] wrong", c, f, i)
				}
			}
		}
	}
	il := b.InterleaveFrames(xt).(*Tensor)
	if !slices.Equal(il.Shape(), []int{C / 2, 2 * T, H, W}) {
		t.Fatalf("InterleaveFrames shape %v", il.Shape())
	}
	for c := range C / 2 {
		for f := range 2 * T {
			for i := range hw {
				if got, want := il.Data()[(c*2*T+f)*hw+i], at(f%2*C/2+c, f/2, i); got != want {
					t.Fatalf("InterleaveFrames[%d, %d, %d] = %g, want %g", c, f, i, got, want)
				}
			}
		}
	}
	mustFail(t, "frames out of range", func() { b.Frames(xt, 2, 4) })
	mustFail(t, "concat mismatch", func() { b.ConcatFrames(xt, b.FromHost(make([]float32, 2*T*hw), 2, T, H, W)) })
	mustFail(t, "odd channels", func() { b.InterleaveFrames(b.FromHost(make([]float32, 3*hw), 3, 1, H, W)) })
}

// BenchmarkConv3d is the decoder's widest full-resolution conv shape at a
// small size: 3×3×3, 32 → 32 channels, 4 frames with 2 cached, 64×64.
func BenchmarkConv3d(bb *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	b := New()
	const C, T, H, W = 32, 4, 64, 64
	x := b.FromHost(randVals(r, C*T*H*W), C, T, H, W)
	prev := b.FromHost(randVals(r, C*2*H*W), C, 2, H, W)
	w := b.FromHost(randVals(r, C*C*27), C, C, 3, 3, 3)
	for range bb.N {
		b.Free(b.Conv3d(x, prev, w, nil, engine.ConvOpts{}.SamePad(1)))
	}
	bb.ReportMetric(float64(bb.N)*2*C*C*27*T*H*W/bb.Elapsed().Seconds()/1e9, "GFLOP/s")
}
