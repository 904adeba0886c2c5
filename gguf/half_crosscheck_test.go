package gguf

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/x448/float16"
)

// The half-precision conversions are checked against an independent
// implementation (github.com/x448/float16): every f16 bit pattern decodes to
// the same float32, and encoding rounds to nearest even the same way.
func TestF16AgainstIndependentImplementation(t *testing.T) {
	for u := range 1 << 16 {
		got := F16ToF32(uint16(u))
		want := float16.Frombits(uint16(u)).Float32()
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("F16ToF32(%#04x) = %v, float16 says %v", u, got, want)
		}
	}
	r := rand.New(rand.NewPCG(11, 12))
	for i := range 200000 {
		var f float32
		switch i % 3 {
		case 0:
			f = math.Float32frombits(r.Uint32())
		case 1:
			f = float32(r.NormFloat64() * 1e-5) // subnormal range
		default:
			f = float32(r.NormFloat64() * 3e4) // overflow edge
		}
		got, want := F32ToF16(f), float16.Fromfloat32(f).Bits()
		if f != f {
			if got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
				t.Fatalf("F32ToF16(NaN %#08x) = %#04x, not a NaN", math.Float32bits(f), got)
			}
			continue
		}
		if got != want {
			t.Fatalf("F32ToF16(%g = %#08x) = %#04x, float16 says %#04x", f, math.Float32bits(f), got, want)
		}
	}
}
