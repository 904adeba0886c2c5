//go:build cuda

package cuda

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
)

var goldenTypes = []string{"f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "iq4_nl", "iq4_xs"}

// dequantBoth runs the f32 and bf16 kernels on src (n elements of type typ).
func dequantBoth(t *testing.T, d *Device, typ gguf.Type, src []byte, n int) (f32 []float32, bf []uint16) {
	t.Helper()
	x := alloc(t, d, int64(len(src)))
	must(t, d.Upload(x, src))
	yf := alloc(t, d, int64(n)*4)
	yb := alloc(t, d, int64(n)*2)
	poison(t, d, yf, gguf.TypeF32)
	poison(t, d, yb, gguf.TypeBF16)
	must(t, d.Dequantize(nil, yf, gguf.TypeF32, x, typ, int64(n)))
	must(t, d.Dequantize(nil, yb, gguf.TypeBF16, x, typ, int64(n)))
	f32 = make([]float32, n)
	bf = make([]uint16, n)
	must(t, d.DownloadF32(f32, yf))
	must(t, d.DownloadU16(bf, yb))
	return f32, bf
}

// checkBits compares the GPU results bit for bit with want (f32) and its bf16 rounding.
func checkBits(t *testing.T, what string, got []float32, gotBF []uint16, want []float32) {
	t.Helper()
	bad := 0
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) || gotBF[i] != gguf.F32ToBF16(want[i]) {
			if bad < 3 {
				t.Errorf("%s: element %d: f32 %v (%#08x) bf16 %#04x, want %v (%#08x) bf16 %#04x", what, i, got[i],
					math.Float32bits(got[i]), gotBF[i], want[i], math.Float32bits(want[i]), gguf.F32ToBF16(want[i]))
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d elements differ", what, bad, len(want))
	}
}

// TestDequantGolden: every type of quants.gguf dequantizes bit-exactly to ggml's ref.* (f32) and to its
// bf16 rounding, and agrees with gguf.Dequantize.
func TestDequantGolden(t *testing.T) {
	d := testDevice(t)
	f, err := gguf.Open(golden.Path(t, "quants.gguf"))
	must(t, err)
	defer f.Close()
	for _, name := range goldenTypes {
		t.Run(name, func(t *testing.T) {
			qi, ok := f.Lookup("q." + name)
			if !ok {
				t.Fatalf("quants.gguf has no q.%s", name)
			}
			q, err := f.Data("q." + name)
			must(t, err)
			ref, _, err := gguf.ReadFloat32(f, "ref."+name)
			must(t, err)
			if !CanDequantize(qi.Type) {
				t.Fatalf("no GPU kernel for %v", qi.Type)
			}
			got, gotBF := dequantBoth(t, d, qi.Type, q, len(ref))
			checkBits(t, "vs ref."+name, got, gotBF, ref)
			cpu := make([]float32, len(ref))
			must(t, gguf.Dequantize(qi.Type, q, cpu))
			checkBits(t, "vs gguf.Dequantize", got, gotBF, cpu)
		})
	}
}

// f16Fields are the byte offsets of the f16 scales inside one block of each type.
var f16Fields = map[gguf.Type][]int{
	gguf.TypeQ4_0: {0}, gguf.TypeQ4_1: {0, 2}, gguf.TypeQ5_0: {0}, gguf.TypeQ5_1: {0, 2}, gguf.TypeQ8_0: {0},
	gguf.TypeQ2_K: {80, 82}, gguf.TypeQ3_K: {108}, gguf.TypeQ4_K: {0, 2}, gguf.TypeQ5_K: {0, 2}, gguf.TypeQ6_K: {208},
	gguf.TypeIQ4_NL: {0}, gguf.TypeIQ4_XS: {0},
}

// randomF16 is a finite half: mostly normal scales of assorted magnitudes, sometimes subnormal or zero.
func randomF16(r *rand.Rand) uint16 {
	switch r.IntN(10) {
	case 0:
		return uint16(r.IntN(1024)) | uint16(r.IntN(2))<<15 // subnormal or zero
	default:
		return gguf.F32ToF16(float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(5)-4))))
	}
}

// randomBlocks makes nb blocks of typ with random payload bits and finite scales.
func randomBlocks(r *rand.Rand, typ gguf.Type, nb int) []byte {
	bb := typ.BlockBytes()
	b := make([]byte, nb*bb)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	le := binary.LittleEndian
	switch typ {
	case gguf.TypeF16:
		for i := 0; i < len(b); i += 2 {
			le.PutUint16(b[i:], randomF16(r))
		}
	case gguf.TypeBF16:
		for i := 0; i < len(b); i += 2 {
			le.PutUint16(b[i:], gguf.F32ToBF16(float32(r.NormFloat64()*100)))
		}
	case gguf.TypeF32:
		for i := 0; i < len(b); i += 4 {
			le.PutUint32(b[i:], math.Float32bits(float32(r.NormFloat64()*100)))
		}
	default:
		for blk := 0; blk < nb; blk++ {
			for _, off := range f16Fields[typ] {
				le.PutUint16(b[blk*bb+off:], randomF16(r))
			}
		}
	}
	return b
}

// TestDequantRandom: random blocks of every type, compared bit for bit with gguf.Dequantize; plain float
// types also at lengths that are not a multiple of 8.
func TestDequantRandom(t *testing.T) {
	d := testDevice(t)
	r := rand.New(rand.NewPCG(7, 8))
	for typ := range dequantizable {
		for _, nb := range []int{1, 37, 1000} {
			if !typ.Quantized() {
				nb = nb*8 + 5 // odd lengths go through the convert kernels
			}
			t.Run(fmt.Sprintf("%v/%d", typ, nb), func(t *testing.T) {
				src := randomBlocks(r, typ, nb)
				n := nb * typ.BlockSize()
				want := make([]float32, n)
				must(t, gguf.Dequantize(typ, src, want))
				got, gotBF := dequantBoth(t, d, typ, src, n)
				checkBits(t, typ.String(), got, gotBF, want)
			})
		}
	}
}
