//go:build cuda

package cuda

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/wan22/wan22/gguf"
)

// refGemm is y = x·wᵀ + b in float64 over the given (already rounded) values.
func refGemm(x, w, b []float32, m, n, k int) []float64 {
	y := make([]float64, m*n)
	for i := 0; i < m; i++ {
		xr := x[i*k : (i+1)*k]
		for j := 0; j < n; j++ {
			wr := w[j*k : (j+1)*k]
			var s float64
			for l := range xr {
				s += float64(xr[l]) * float64(wr[l])
			}
			if b != nil {
				s += float64(b[j])
			}
			y[i*n+j] = s
		}
	}
	return y
}

type gemmVariant struct {
	name string
	path GemmPath
	tile string
}

func gemmVariants(d *Device) []gemmVariant {
	var v []gemmVariant
	for _, t := range gemmTiles {
		v = append(v, gemmVariant{"own" + t.name, GemmOwn, t.name})
	}
	if d.HasCublasLt() {
		v = append(v, gemmVariant{"cublaslt", GemmCublasLt, ""})
	}
	return v
}

func TestGemm(t *testing.T) {
	d := testDevice(t)
	if !d.HasCublasLt() {
		t.Logf("cuBLASLt not loaded (%s): testing the own kernel only", d.ltReason)
	}
	r := rand.New(rand.NewPCG(11, 12))
	shapes := [][3]int{{1, 8, 8}, {3, 5, 8}, {17, 33, 72}, {128, 128, 32}, {130, 257, 264}, {300, 517, 1000}, {64, 1024, 4096}}
	for _, sh := range shapes {
		m, n, k := sh[0], sh[1], sh[2]
		x := roundBF16(randF32(r, m*k, 1))
		w := roundBF16(randF32(r, n*k, 0.05))
		bias := randF32(r, n, 1)
		xd := upload(t, d, x, gguf.TypeBF16)
		wd := upload(t, d, w, gguf.TypeBF16)
		for _, withBias := range []bool{false, true} {
			for _, yt := range []gguf.Type{gguf.TypeBF16, gguf.TypeF32} {
				var b []float32
				var bd Mem
				if withBias {
					b = bias
					if yt == gguf.TypeBF16 {
						b = roundBF16(bias)
					}
					bd = upload(t, d, b, yt)
				}
				want := refGemm(x, w, b, m, n, k)
				yd := alloc(t, d, int64(m*n)*elemBytes(yt))
				for _, v := range gemmVariants(d) {
					name := fmt.Sprintf("%dx%dx%d/%s/out=%v/bias=%v", m, n, k, v.name, yt, withBias)
					ownTileOverride = v.tile
					poison(t, d, yd, yt)
					err := d.Gemm(nil, GemmOp{Y: yd, YType: yt, X: xd, W: wd, Bias: bd, BiasType: yt, M: m, N: n, K: k, Path: v.path})
					ownTileOverride = ""
					if err != nil {
						t.Errorf("%s: %v", name, err)
						continue
					}
					got := download(t, d, yd, m*n, yt)
					tol := tolFor(yt)
					if yt == gguf.TypeF32 {
						tol = 2e-5 // f32 accumulation in another order over up to 4096 terms
					}
					if e := relL2(got, want); e > tol {
						t.Errorf("%s: relative L2 error %.3g > %.3g", name, e, tol)
					}
				}
			}
		}
	}
}

// TestLinearQuantized: Linear with weights of every GPU-dequantizable type equals the CPU path
// (gguf.Dequantize, rounding to bf16, GEMM), and the bf16 scratch is bit-exact.
func TestLinearQuantized(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(13, 14))
	const m, n, k = 37, 48, 512
	x := roundBF16(randF32(r, m*k, 1))
	xd := upload(t, d, x, gguf.TypeBF16)
	bias := randF32(r, n, 0.5)
	bd := upload(t, d, bias, gguf.TypeF32)
	for typ := range dequantizable {
		t.Run(typ.String(), func(t *testing.T) {
			var wq []byte
			switch typ {
			case gguf.TypeQ8_0, gguf.TypeQ4_K, gguf.TypeQ6_K, gguf.TypeF16, gguf.TypeBF16, gguf.TypeF32:
				var err error
				wq, err = gguf.Quantize(typ, randF32(r, n*k, 0.05))
				must(t, err)
			default:
				wq = randomBlocks(r, typ, n*k/typ.BlockSize())
			}
			wf := make([]float32, n*k)
			must(t, gguf.Dequantize(typ, wq, wf))
			wb := roundBF16(wf)
			want := refGemm(x, wb, bias, m, n, k)
			wd := alloc(t, d, int64(len(wq)))
			must(t, d.Upload(wd, wq))
			scratch := alloc(t, d, int64(n*k*2))
			for _, v := range gemmVariants(d) {
				yd := alloc(t, d, int64(m*n*4))
				poison(t, d, yd, gguf.TypeF32)
				ownTileOverride = v.tile
				err := d.Linear(nil, LinearOp{Y: yd, YType: gguf.TypeF32, X: xd, W: Weight{Mem: wd, Type: typ, N: n, K: k},
					Bias: bd, BiasType: gguf.TypeF32, M: m, Scratch: scratch, Path: v.path})
				ownTileOverride = ""
				must(t, err)
				if e := relL2(download(t, d, yd, m*n, gguf.TypeF32), want); e > 2e-5 {
					t.Errorf("%s: relative L2 error %.3g", v.name, e)
				}
			}
			if typ != gguf.TypeBF16 {
				sb := make([]uint16, n*k)
				must(t, d.DownloadU16(sb, scratch))
				for i, v := range wf {
					if sb[i] != gguf.F32ToBF16(v) {
						t.Fatalf("scratch element %d = %#04x, want %#04x", i, sb[i], gguf.F32ToBF16(v))
					}
				}
			}
		})
	}
	// The device's own scratch is used when none is given, and is accounted.
	wq, err := gguf.Quantize(gguf.TypeQ8_0, randF32(r, n*k, 0.05))
	must(t, err)
	wd := alloc(t, d, int64(len(wq)))
	must(t, d.Upload(wd, wq))
	yd := alloc(t, d, int64(m*n*2))
	must(t, d.Linear(nil, LinearOp{Y: yd, YType: gguf.TypeBF16, X: xd, W: Weight{Mem: wd, Type: gguf.TypeQ8_0, N: n, K: k}, M: m}))
	if got := d.MemStats().ByOwner["cuda.scratch"]; got < int64(n*k*2) {
		t.Errorf("scratch accounted %d bytes", got)
	}
	must(t, d.FreeScratch())
	if got := d.MemStats().ByOwner["cuda.scratch"]; got != 0 {
		t.Errorf("scratch still holds %d bytes", got)
	}
}
