//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/wan22/wan22/gguf"
)

var opShapes = [][2]int{{1, 1}, {3, 7}, {5, 33}, {17, 257}, {2, 1000}, {64, 5120}, {3, 13824}}

var actTypes = []gguf.Type{gguf.TypeF32, gguf.TypeBF16}

// inputs returns n random values as they are stored in type t.
func inputs(r *rand.Rand, n int, t gguf.Type, scale float64) []float32 {
	x := randF32(r, n, scale)
	for i := range x {
		x[i] += float32(scale) * 0.3 // a non-zero mean
	}
	if t == gguf.TypeBF16 {
		return roundBF16(x)
	}
	return x
}

func TestLayerNorm(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(21, 22))
	const eps = 1e-6
	for _, sh := range opShapes {
		rows, cols := sh[0], sh[1]
		w, b := randF32(r, cols, 1), randF32(r, cols, 1)
		sc, sf := randF32(r, rows*cols, 0.5), randF32(r, rows*cols, 0.5)
		wd, bd := upload(t, d, w, gguf.TypeF32), upload(t, d, b, gguf.TypeF32)
		scd, sfd := upload(t, d, sc, gguf.TypeF32), upload(t, d, sf, gguf.TypeF32)
		type variant struct {
			name   string
			affine bool
			mod    int // 0 none, 1 broadcast, 2 per row
		}
		for _, v := range []variant{{"plain", false, 0}, {"affine", true, 0}, {"mod-bcast", false, 1}, {"mod-rows", false, 2}, {"affine+mod", true, 1}} {
			for _, xt := range actTypes {
				for _, yt := range actTypes {
					x := inputs(r, rows*cols, xt, 3)
					xd := upload(t, d, x, xt)
					yd := alloc(t, d, int64(rows*cols)*elemBytes(yt))
					poison(t, d, yd, yt)
					a := LayerNormArgs{}
					stride := 0
					if v.affine {
						a.Weight, a.Bias = wd, bd
					}
					if v.mod > 0 {
						a.Scale, a.Shift = scd, sfd
						if v.mod == 2 {
							stride = cols
						}
						a.ModStride = stride
					}
					must(t, d.LayerNorm(nil, yd, yt, xd, xt, rows, cols, eps, a))
					want := make([]float64, rows*cols)
					for i := 0; i < rows; i++ {
						row := x[i*cols : (i+1)*cols]
						var mean, vr float64
						for _, e := range row {
							mean += float64(e)
						}
						mean /= float64(cols)
						for _, e := range row {
							vr += (float64(e) - mean) * (float64(e) - mean)
						}
						vr /= float64(cols)
						rstd := 1 / math.Sqrt(vr+eps)
						for c, e := range row {
							o := (float64(e) - mean) * rstd
							if v.affine {
								o = o*float64(w[c]) + float64(b[c])
							}
							if v.mod > 0 {
								o = o*(1+float64(sc[i*stride+c])) + float64(sf[i*stride+c])
							}
							want[i*cols+c] = o
						}
					}
					tol := tolFor(yt)
					if yt == gguf.TypeF32 {
						tol = 1e-5
					}
					if cols == 1 { // the normalized value is 0 and the output is the shift alone
						tol = max(tol, 4e-3)
					}
					if e := relL2(download(t, d, yd, rows*cols, yt), want); e > tol {
						t.Errorf("%dx%d %s %v→%v: relative L2 error %.3g > %.3g", rows, cols, v.name, xt, yt, e, tol)
					}
				}
			}
		}
		// In place.
		x := inputs(r, rows*cols, gguf.TypeF32, 1)
		xd := upload(t, d, x, gguf.TypeF32)
		must(t, d.LayerNorm(nil, xd, gguf.TypeF32, xd, gguf.TypeF32, rows, cols, eps, LayerNormArgs{}))
		got := download(t, d, xd, rows*cols, gguf.TypeF32)
		for i := 0; i < rows && cols > 1; i++ {
			var s float64
			for _, e := range got[i*cols : (i+1)*cols] {
				s += float64(e)
			}
			if math.Abs(s/float64(cols)) > 1e-5 {
				t.Errorf("in-place layernorm %dx%d row %d has mean %g", rows, cols, i, s/float64(cols))
			}
		}
	}
}

func TestRMSNorm(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(23, 24))
	const eps = 1e-6
	for _, sh := range opShapes {
		rows, cols := sh[0], sh[1]
		w := randF32(r, cols, 1)
		wd := upload(t, d, w, gguf.TypeF32)
		for _, withW := range []bool{false, true} {
			for _, xt := range actTypes {
				for _, yt := range actTypes {
					x := inputs(r, rows*cols, xt, 2)
					xd := upload(t, d, x, xt)
					yd := alloc(t, d, int64(rows*cols)*elemBytes(yt))
					poison(t, d, yd, yt)
					var wm Mem
					if withW {
						wm = wd
					}
					must(t, d.RMSNorm(nil, yd, yt, xd, xt, rows, cols, eps, wm))
					want := make([]float64, rows*cols)
					for i := 0; i < rows; i++ {
						var ss float64
						for _, e := range x[i*cols : (i+1)*cols] {
							ss += float64(e) * float64(e)
						}
						rr := 1 / math.Sqrt(ss/float64(cols)+eps)
						for c := 0; c < cols; c++ {
							o := float64(x[i*cols+c]) * rr
							if xt == gguf.TypeBF16 { // rounded to the input type before the weight
								o = float64(gguf.BF16ToF32(gguf.F32ToBF16(float32(o))))
							}
							if withW {
								o *= float64(w[c])
							}
							want[i*cols+c] = o
						}
					}
					tol := tolFor(yt)
					if xt == gguf.TypeBF16 {
						tol = 8e-3 // the reference's own bf16 rounding may fall on the other side
					}
					if e := relL2(download(t, d, yd, rows*cols, yt), want); e > tol {
						t.Errorf("%dx%d w=%v %v→%v: relative L2 error %.3g > %.3g", rows, cols, withW, xt, yt, e, tol)
					}
				}
			}
		}
	}
}

func TestAddGated(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(25, 26))
	for _, sh := range opShapes {
		rows, cols := sh[0], sh[1]
		for _, yt := range actTypes {
			for _, stride := range []int{0, cols} {
				for _, inPlace := range []bool{false, true} {
					x := randF32(r, rows*cols, 1)
					y := inputs(r, rows*cols, yt, 1)
					g := randF32(r, rows*cols, 1)
					xd, yd, gd := upload(t, d, x, gguf.TypeF32), upload(t, d, y, yt), upload(t, d, g, gguf.TypeF32)
					out := xd
					if !inPlace {
						out = alloc(t, d, int64(rows*cols)*4)
						poison(t, d, out, gguf.TypeF32)
					}
					must(t, d.AddGated(nil, out, xd, yd, yt, gd, rows, cols, stride))
					want := make([]float64, rows*cols)
					for i := range want {
						row, c := i/cols, i%cols
						want[i] = float64(x[i]) + float64(y[i])*float64(g[row*stride+c])
					}
					if e := relL2(download(t, d, out, rows*cols, gguf.TypeF32), want); e > 1e-6 {
						t.Errorf("%dx%d y=%v stride=%d inplace=%v: relative L2 error %.3g", rows, cols, yt, stride, inPlace, e)
					}
				}
			}
		}
	}
}

func TestUnaryAndAdd(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(27, 28))
	gelu := func(x float64) float64 {
		return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
	}
	silu := func(x float64) float64 { return x / (1 + math.Exp(-x)) }
	for _, sh := range opShapes {
		n := sh[0] * sh[1]
		for _, typ := range actTypes {
			x := inputs(r, n, typ, 3)
			b := inputs(r, n, typ, 3)
			xd, bd := upload(t, d, x, typ), upload(t, d, b, typ)
			yd := alloc(t, d, int64(n)*elemBytes(typ))
			for _, op := range []string{"gelu", "silu", "add"} {
				poison(t, d, yd, typ)
				want := make([]float64, n)
				switch op {
				case "gelu":
					must(t, d.GELUTanh(nil, yd, xd, typ, int64(n)))
					for i, v := range x {
						want[i] = gelu(float64(v))
					}
				case "silu":
					must(t, d.SiLU(nil, yd, xd, typ, int64(n)))
					for i, v := range x {
						want[i] = silu(float64(v))
					}
				case "add":
					must(t, d.Add(nil, yd, xd, bd, typ, int64(n)))
					for i := range x {
						want[i] = float64(x[i]) + float64(b[i])
					}
				}
				if e := relL2(download(t, d, yd, n, typ), want); e > tolFor(typ) {
					t.Errorf("%s n=%d %v: relative L2 error %.3g", op, n, typ, e)
				}
			}
		}
	}
}

func TestCast(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(29, 30))
	for _, n := range []int{1, 7, 4099, 100000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			x := randF32(r, n, 10)
			x[0] = float32(math.Inf(-1))
			if n > 1 {
				x[1] = 1e-40 // subnormal
			}
			xd := upload(t, d, x, gguf.TypeF32)
			bd := alloc(t, d, int64(n)*2)
			poison(t, d, bd, gguf.TypeBF16)
			must(t, d.Cast(nil, bd, gguf.TypeBF16, xd, gguf.TypeF32, int64(n)))
			got := make([]uint16, n)
			must(t, d.DownloadU16(got, bd))
			for i, v := range x {
				if got[i] != gguf.F32ToBF16(v) {
					t.Fatalf("f32→bf16 element %d: %#04x, want %#04x", i, got[i], gguf.F32ToBF16(v))
				}
			}
			fd := alloc(t, d, int64(n)*4)
			must(t, d.Cast(nil, fd, gguf.TypeF32, bd, gguf.TypeBF16, int64(n)))
			back := download(t, d, fd, n, gguf.TypeF32)
			for i := range back {
				if math.Float32bits(back[i]) != math.Float32bits(gguf.BF16ToF32(got[i])) {
					t.Fatalf("bf16→f32 element %d differs", i)
				}
			}
			h := make([]uint16, n)
			for i := range h {
				h[i] = randomF16(r)
			}
			hd := alloc(t, d, int64(n)*2)
			must(t, d.UploadU16(hd, h))
			must(t, d.Cast(nil, fd, gguf.TypeF32, hd, gguf.TypeF16, int64(n)))
			must(t, d.Cast(nil, bd, gguf.TypeBF16, hd, gguf.TypeF16, int64(n)))
			hf := download(t, d, fd, n, gguf.TypeF32)
			must(t, d.DownloadU16(got, bd))
			for i := range h {
				w := gguf.F16ToF32(h[i])
				if math.Float32bits(hf[i]) != math.Float32bits(w) || got[i] != gguf.F32ToBF16(w) {
					t.Fatalf("f16 element %d (%#04x): f32 %v bf16 %#04x, want %v %#04x", i, h[i], hf[i], got[i], w, gguf.F32ToBF16(w))
				}
			}
		})
	}
}
