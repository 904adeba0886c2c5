//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/wan22/wan22/gguf"
)

// refConv is the float64 definition of ConvArgs' convolution on host data (a's memory fields unused).
func refConv(a ConvArgs, x, prev, w, bias, add []float32) []float64 {
	to, ho, wo, err := a.Out()
	if err != nil {
		panic(err)
	}
	st, ss := max(a.StrideT, 1), max(a.Stride, 1)
	hin, win := a.H, a.W
	if a.Upsample2x {
		hin, win = 2*a.H, 2*a.W
	}
	hw := a.H * a.W
	// in returns input (ci, logical frame li, upsampled-and-padded row/column), zero outside.
	in := func(ci, li, h, v int) float64 {
		if li < a.PadT {
			return 0
		}
		h -= a.PadTop
		v -= a.PadLeft
		if h < 0 || h >= hin || v < 0 || v >= win {
			return 0
		}
		if a.Upsample2x {
			h, v = h/2, v/2
		}
		f := li - a.PadT
		if f < a.P {
			return float64(prev[(ci*a.P+f)*hw+h*a.W+v])
		}
		return float64(x[(ci*a.T+f-a.P)*hw+h*a.W+v])
	}
	out := make([]float64, a.Cout*to*ho*wo)
	for co := range a.Cout {
		for t := range to {
			for i := range ho {
				for j := range wo {
					s := 0.0
					if bias != nil {
						s = float64(bias[co])
					}
					for ci := range a.Cin {
						for kt := range a.KT {
							for kh := range a.KH {
								for kw := range a.KW {
									wv := float64(w[(((co*a.Cin+ci)*a.KT+kt)*a.KH+kh)*a.KW+kw])
									s += wv * in(ci, t*st+kt, i*ss+kh, j*ss+kw)
								}
							}
						}
					}
					idx := ((co*to+t)*ho+i)*wo + j
					if add != nil {
						s += float64(add[idx])
					}
					out[idx] = s
				}
			}
		}
	}
	return out
}

type convCase struct {
	name     string
	a        ConvArgs
	bias     bool
	add      bool
	inPlace  bool // add is y itself
	weightTy gguf.Type
}

func convCases() []convCase {
	c3 := func(cin, cout, t, h, w, p int) ConvArgs {
		return ConvArgs{Cin: cin, T: t, H: h, W: w, P: p, Cout: cout, KT: 3, KH: 3, KW: 3, PadT: 2 - p}.withPad(1)
	}
	return []convCase{
		{name: "causal-odd", a: c3(5, 7, 3, 9, 11, 0), bias: true, weightTy: gguf.TypeF32},
		{name: "cache2", a: c3(6, 9, 2, 7, 5, 2), bias: true, weightTy: gguf.TypeF32},
		{name: "cache1", a: c3(8, 16, 1, 6, 13, 1), bias: true, add: true, weightTy: gguf.TypeBF16},
		{name: "rgb-in", a: c3(3, 12, 1, 8, 8, 0), bias: true, weightTy: gguf.TypeF16},
		{name: "rgb-out-96", a: c3(96, 3, 2, 9, 10, 2), bias: true, weightTy: gguf.TypeF32},
		{name: "96-96", a: c3(96, 96, 2, 13, 21, 2), bias: true, add: true, weightTy: gguf.TypeF32},
		{name: "192-192", a: c3(32, 192, 1, 11, 12, 2), bias: true, weightTy: gguf.TypeF32},
		{name: "384-big-k", a: c3(80, 384, 1, 5, 7, 2), bias: true, add: true, inPlace: true, weightTy: gguf.TypeF32},
		{name: "down2d", a: ConvArgs{Cin: 16, T: 2, H: 10, W: 14, Cout: 16, KT: 1, KH: 3, KW: 3, PadBottom: 1, PadRight: 1, Stride: 2}, bias: true, weightTy: gguf.TypeF32},
		{name: "down2d-odd", a: ConvArgs{Cin: 7, T: 1, H: 9, W: 11, Cout: 33, KT: 1, KH: 3, KW: 3, PadBottom: 1, PadRight: 1, Stride: 2}, bias: true, weightTy: gguf.TypeF32},
		{name: "down2d-32", a: ConvArgs{Cin: 32, T: 1, H: 13, W: 18, Cout: 32, KT: 1, KH: 3, KW: 3, PadBottom: 1, PadRight: 1, Stride: 2}, bias: true, weightTy: gguf.TypeF32},
		{name: "down-time-64", a: ConvArgs{Cin: 64, T: 4, H: 3, W: 7, P: 1, Cout: 64, KT: 3, KH: 1, KW: 1, StrideT: 2}, bias: true, weightTy: gguf.TypeF32},
		{name: "up-time-32", a: ConvArgs{Cin: 32, T: 1, H: 4, W: 5, P: 1, Cout: 64, KT: 3, KH: 1, KW: 1, PadT: 1}, bias: true, weightTy: gguf.TypeBF16},
		{name: "down-time", a: ConvArgs{Cin: 24, T: 4, H: 5, W: 6, P: 1, Cout: 24, KT: 3, KH: 1, KW: 1, StrideT: 2}, bias: true, weightTy: gguf.TypeF32},
		{name: "up-time", a: ConvArgs{Cin: 16, T: 2, H: 4, W: 5, P: 2, Cout: 32, KT: 3, KH: 1, KW: 1}, bias: true, weightTy: gguf.TypeF32},
		{name: "up2d", a: ConvArgs{Cin: 8, T: 3, H: 5, W: 7, Cout: 4, KT: 1, KH: 3, KW: 3, Upsample2x: true}.withPad(1), bias: true, weightTy: gguf.TypeF32},
		{name: "up2d-64", a: ConvArgs{Cin: 64, T: 1, H: 6, W: 9, Cout: 64, KT: 1, KH: 3, KW: 3, Upsample2x: true}.withPad(1), bias: true, add: true, weightTy: gguf.TypeBF16},
		{name: "shortcut-1x1", a: ConvArgs{Cin: 12, T: 2, H: 7, W: 9, Cout: 20, KT: 1, KH: 1, KW: 1}, bias: true, add: true, weightTy: gguf.TypeF32},
		{name: "no-bias", a: ConvArgs{Cin: 9, T: 1, H: 3, W: 3, Cout: 5, KT: 1, KH: 3, KW: 3}.withPad(1), weightTy: gguf.TypeF32},
	}
}

// weightAs uploads w stored as type t (F32, F16 or BF16) and returns its device memory and the values the
// kernel will see after packing to bf16.
func weightAs(t testing.TB, d *Device, w []float32, typ gguf.Type) (Mem, []float32) {
	t.Helper()
	switch typ {
	case gguf.TypeF16:
		h := make([]uint16, len(w))
		seen := make([]float32, len(w))
		for i, v := range w {
			h[i] = gguf.F32ToF16(v)
			seen[i] = gguf.F16ToF32(h[i])
		}
		m := alloc(t, d, int64(len(w))*2)
		must(t, d.UploadU16(m, h))
		return m, roundBF16(seen)
	case gguf.TypeBF16:
		return upload(t, d, w, gguf.TypeBF16), roundBF16(w)
	}
	return upload(t, d, w, gguf.TypeF32), roundBF16(w)
}

func TestConv3d(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(61, 62))
	for _, c := range convCases() {
		for _, typ := range actTypes {
			t.Run(fmt.Sprintf("%s/%v", c.name, typ), func(t *testing.T) {
				a := c.a
				a.Type = typ
				to, ho, wo, err := a.Out()
				must(t, err)
				k := a.Cin * a.KT * a.KH * a.KW
				kp := ConvPackedK(a.Cin, a.KT, a.KH, a.KW)
				nOut := a.Cout * to * ho * wo
				// Activations as their type stores them, rounded to bf16 where the kernel rounds them.
				x := inputs(r, a.Cin*a.T*a.H*a.W, typ, 1)
				prev := inputs(r, a.Cin*a.P*a.H*a.W, typ, 1)
				w := randF32(r, a.Cout*k, 1/math.Sqrt(float64(k)))
				var bias, add []float32
				if c.bias {
					bias = randF32(r, a.Cout, 0.5)
					a.Bias = upload(t, d, bias, gguf.TypeF32)
				}
				a.X = upload(t, d, x, typ)
				if a.P > 0 {
					a.Prev = upload(t, d, prev, typ)
				}
				wm, wseen := weightAs(t, d, w, c.weightTy)
				a.Weight = alloc(t, d, int64(a.Cout*kp)*2)
				poison(t, d, a.Weight, gguf.TypeBF16)
				must(t, d.PackConvWeight(nil, a.Weight, wm, c.weightTy, a.Cout, a.Cin, a.KT*a.KH*a.KW, kp))
				if c.add {
					add = inputs(r, nOut, typ, 1)
					a.Add = upload(t, d, add, typ)
				}
				if c.inPlace {
					a.Y = a.Add
				} else {
					a.Y = alloc(t, d, int64(nOut)*elemBytes(typ))
					poison(t, d, a.Y, typ)
				}
				must(t, d.Conv3d(nil, a))
				got := download(t, d, a.Y, nOut, typ)
				want := refConv(a, roundBF16(x), roundBF16(prev), wseen, bias, add)
				e := relL2(got, want)
				// Operands are exactly what the reference sees: f32 accumulation order is the only error, plus
				// one rounding of a bf16 output.
				tol := 1e-5
				if typ == gguf.TypeBF16 {
					tol = 4e-3
				}
				if e > tol {
					t.Errorf("relative L2 error %.3g > %.1g (K=%d, out %d×%d×%d×%d, tile %d)", e, tol, k, a.Cout, to, ho, wo, convTileM(a.Cout))
				}
				if typ == gguf.TypeF32 && c.weightTy == gguf.TypeF32 && !c.inPlace {
					// Against the exact f32 operands: the bf16 rounding of the operands, within the single-op
					// tolerance for bf16 tensor-core work.
					exact := refConv(a, x, prev, w, bias, add)
					if e := relL2(got, exact); e > 1e-2 {
						t.Errorf("vs the unrounded operands: relative L2 error %.3g > 1e-2", e)
					}
				}
			})
		}
	}
}

// TestConv3dLarge checks a real-width layer over several pixel tiles that straddle frames, with the cache.
func TestConv3dLarge(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(63, 64))
	a := ConvArgs{Type: gguf.TypeF32, Cin: 96, T: 2, H: 30, W: 52, P: 2, Cout: 96, KT: 3, KH: 3, KW: 3}.withPad(1)
	k, kp := 96*27, ConvPackedK(96, 3, 3, 3)
	x, prev := inputs(r, 96*2*30*52, a.Type, 1), inputs(r, 96*2*30*52, a.Type, 1)
	w := roundBF16(randF32(r, 96*k, 1/math.Sqrt(float64(k))))
	a.X, a.Prev = upload(t, d, x, a.Type), upload(t, d, prev, a.Type)
	a.Weight = alloc(t, d, int64(96*kp)*2)
	must(t, d.PackConvWeight(nil, a.Weight, upload(t, d, w, gguf.TypeF32), gguf.TypeF32, 96, 96, 27, kp))
	n := 96 * 2 * 30 * 52
	a.Y = alloc(t, d, int64(n)*4)
	poison(t, d, a.Y, a.Type)
	must(t, d.Conv3d(nil, a))
	got := download(t, d, a.Y, n, a.Type)
	if e := relL2(got, refConv(a, roundBF16(x), roundBF16(prev), w, nil, nil)); e > 1e-5 {
		t.Errorf("relative L2 error %.3g", e)
	}
}

func TestConv3dArgErrors(t *testing.T) {
	d := testDevice(t)
	a := ConvArgs{Type: gguf.TypeF32, Cin: 2, T: 1, H: 2, W: 2, Cout: 2, KT: 1, KH: 1, KW: 1}
	a.X, a.Y = alloc(t, d, 64), alloc(t, d, 64)
	singleLine(t, d.Conv3d(nil, a)) // no weight
	a.Weight = alloc(t, d, 64)
	a.Y = a.X
	singleLine(t, d.Conv3d(nil, a)) // y is x
	singleLine(t, d.PackConvWeight(nil, a.Weight, a.X, gguf.TypeF32, 2, 2, 1, 4))
	singleLine(t, d.PackConvWeight(nil, a.Weight, a.X, gguf.TypeQ8_0, 2, 2, 1, 8))
}

func TestChannelNorm(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(65, 66))
	for _, sh := range [][2]int{{1, 1}, {3, 7}, {16, 1000}, {96, 333}, {385, 257}} {
		c, n := sh[0], sh[1]
		for _, typ := range actTypes {
			for _, silu := range []bool{false, true} {
				for _, inPlace := range []bool{false, true} {
					x := inputs(r, c*n, typ, 2)
					if n > 3 {
						for ch := range c { // one all-zero pixel: the eps clamp, not a NaN
							x[ch*n+3] = 0
						}
					}
					g := randF32(r, c, 1)
					xd, gd := upload(t, d, x, typ), upload(t, d, g, gguf.TypeF32)
					yd := xd
					if !inPlace {
						yd = alloc(t, d, int64(c*n)*elemBytes(typ))
						poison(t, d, yd, typ)
					}
					must(t, d.ChannelNorm(nil, yd, xd, typ, gd, c, int64(n), silu))
					got := download(t, d, yd, c*n, typ)
					want := make([]float64, c*n)
					for p := range n {
						var ss float64
						for ch := range c {
							ss += float64(x[ch*n+p]) * float64(x[ch*n+p])
						}
						sc := math.Sqrt(float64(c)) / math.Max(math.Sqrt(ss), 1e-12)
						for ch := range c {
							v := float64(x[ch*n+p]) * sc * float64(g[ch])
							if silu {
								v = v / (1 + math.Exp(-v))
							}
							want[ch*n+p] = v
						}
					}
					if e := relL2(got, want); e > tolFor(typ) {
						t.Errorf("C=%d N=%d %v silu=%v in-place=%v: relative L2 error %.3g", c, n, typ, silu, inPlace, e)
					}
				}
			}
		}
	}
}

func TestCopyFrames(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(67, 68))
	// Planes of 4·k f32 (16-byte words), odd planes (4-byte words for f32, 2-byte for bf16).
	for _, plane := range []int{12, 7, 1} {
		for _, typ := range actTypes {
			const C, T = 3, 5
			x := inputs(r, C*T*plane, typ, 1)
			xd := upload(t, d, x, typ)
			es := elemBytes(typ)
			at := func(v []float32, tt, c, f int) []float32 { return v[(c*tt+f)*plane : (c*tt+f+1)*plane] }
			// Frames [1, 4) then interleaved as the odd frames of a [C, 6] tensor whose even frames are
			// frames [0, 3).
			yd := alloc(t, d, int64(C*6*plane)*es)
			poison(t, d, yd, typ)
			must(t, d.CopyFrames(nil, FrameCopy{Dst: yd, Src: xd, Type: typ, C: C, N: 3, Plane: plane, SrcT: T, SrcT0: 1, DstT: 6, DstT0: 1, DstStep: 2}))
			must(t, d.CopyFrames(nil, FrameCopy{Dst: yd, Src: xd, Type: typ, C: C, N: 3, Plane: plane, SrcT: T, SrcT0: 0, DstT: 6, DstT0: 0, DstStep: 2}))
			got := download(t, d, yd, C*6*plane, typ)
			for c := range C {
				for f := range 6 {
					want := at(x, T, c, f/2+f%2)
					for i, v := range at(got, 6, c, f) {
						if v != want[i] {
							t.Fatalf("plane %d %v: channel %d frame %d element %d = %v, want %v", plane, typ, c, f, i, v, want[i])
						}
					}
				}
			}
		}
	}
}

func TestFrameAttention(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(69, 70))
	for _, sh := range [][4]int{{8, 1, 2, 3}, {20, 2, 4, 6}, {64, 1, 13, 11}, {384, 1, 6, 10}, {48, 3, 9, 7}} {
		c, frames, h, w := sh[0], sh[1], sh[2], sh[3]
		l := h * w
		for _, typ := range actTypes {
			qkv := inputs(r, 3*c*frames*l, typ, 1)
			qd := upload(t, d, qkv, typ)
			yd := alloc(t, d, int64(c*frames*l)*elemBytes(typ))
			poison(t, d, yd, typ)
			n, err := FrameAttentionScratch(c, l)
			must(t, err)
			sd := alloc(t, d, n)
			poison(t, d, sd, gguf.TypeF32) // the padding must be written, never read as is
			must(t, d.FrameAttention(nil, yd, qd, typ, c, frames, h, w, sd))
			got := download(t, d, yd, c*frames*l, typ)
			q := roundBF16(qkv)
			at := func(part, ch, f, i int) float64 { return float64(q[((part*c+ch)*frames+f)*l+i]) }
			want := make([]float64, c*frames*l)
			scale := 1 / math.Sqrt(float64(c))
			for f := range frames {
				for i := range l {
					s := make([]float64, l)
					m := math.Inf(-1)
					for j := range l {
						for ch := range c {
							s[j] += at(0, ch, f, i) * at(1, ch, f, j)
						}
						s[j] *= scale
						m = math.Max(m, s[j])
					}
					var sum float64
					for j := range s {
						s[j] = math.Exp(s[j] - m)
						sum += s[j]
					}
					for ch := range c {
						var o float64
						for j := range l {
							o += s[j] / sum * at(2, ch, f, j)
						}
						want[(ch*frames+f)*l+i] = o
					}
				}
			}
			if e := relL2(got, want); e > 1e-2 {
				t.Errorf("C=%d T=%d %d×%d %v: relative L2 error %.3g > 1e-2", c, frames, h, w, typ, e)
			}
		}
	}
}

// convBenchShapes are the decoder's heaviest convolutions at 832×480 (one 4-frame chunk, with the cache).
var convBenchShapes = []struct {
	name string
	a    ConvArgs
}{
	{"96-96@480x832x4", ConvArgs{Cin: 96, T: 4, H: 480, W: 832, P: 2, Cout: 96, KT: 3, KH: 3, KW: 3}.withPad(1)},
	{"192-192@240x416x4", ConvArgs{Cin: 192, T: 4, H: 240, W: 416, P: 2, Cout: 192, KT: 3, KH: 3, KW: 3}.withPad(1)},
	{"384-384@120x208x2", ConvArgs{Cin: 384, T: 2, H: 120, W: 208, P: 2, Cout: 384, KT: 3, KH: 3, KW: 3}.withPad(1)},
	{"384-384@60x104x1", ConvArgs{Cin: 384, T: 1, H: 60, W: 104, P: 2, Cout: 384, KT: 3, KH: 3, KW: 3}.withPad(1)},
	{"up192-96@480x832x4", ConvArgs{Cin: 192, T: 4, H: 240, W: 416, Cout: 96, KT: 1, KH: 3, KW: 3, Upsample2x: true}.withPad(1)},
	{"96-3@480x832x4", ConvArgs{Cin: 96, T: 4, H: 480, W: 832, P: 2, Cout: 3, KT: 3, KH: 3, KW: 3}.withPad(1)},
}

// TestConvBench times Conv3d at the decoder's real layer shapes with f32 activations (WAN22_CONV_BENCH=1):
// the median of 10 event-timed runs after 2 warm-ups, in TFLOP/s of the convolution's 2·Cout·K·N.
func TestConvBench(t *testing.T) {
	if os.Getenv("WAN22_CONV_BENCH") == "" {
		t.Skip("set WAN22_CONV_BENCH=1 to time the conv kernel at the VAE's layer shapes")
	}
	d := testDevice(t)
	r := rand.New(rand.NewPCG(71, 72))
	start, err := d.NewEvent(true)
	must(t, err)
	end, err := d.NewEvent(true)
	must(t, err)
	for _, sh := range convBenchShapes {
		a := sh.a
		a.Type = gguf.TypeF32
		to, ho, wo, err := a.Out()
		must(t, err)
		taps := a.KT * a.KH * a.KW
		kp := ConvPackedK(a.Cin, a.KT, a.KH, a.KW)
		a.X = upload(t, d, randF32(r, a.Cin*a.T*a.H*a.W, 1), a.Type)
		if a.P > 0 {
			a.Prev = upload(t, d, randF32(r, a.Cin*a.P*a.H*a.W, 1), a.Type)
		}
		a.Weight = alloc(t, d, int64(a.Cout*kp)*2)
		must(t, d.PackConvWeight(nil, a.Weight, upload(t, d, randF32(r, a.Cout*a.Cin*taps, 0.05), gguf.TypeF32), gguf.TypeF32, a.Cout, a.Cin, taps, kp))
		a.Bias = upload(t, d, randF32(r, a.Cout, 0.1), gguf.TypeF32)
		a.Y = alloc(t, d, int64(a.Cout*to*ho*wo)*4)
		var ms []float64
		for i := range 12 {
			must(t, start.Record(nil))
			must(t, d.Conv3d(nil, a))
			must(t, end.Record(nil))
			must(t, end.Synchronize())
			el, err := start.Elapsed(end)
			must(t, err)
			if i >= 2 {
				ms = append(ms, float64(el.Microseconds())/1e3)
			}
		}
		slices.Sort(ms)
		med := ms[len(ms)/2]
		flop := 2 * float64(a.Cout) * float64(a.Cin*taps) * float64(to*ho*wo)
		t.Logf("conv %-20s tile %3d: %8.3f ms, %6.1f TFLOP/s", sh.name, convTileM(a.Cout), med, flop/med/1e9)
	}
}
