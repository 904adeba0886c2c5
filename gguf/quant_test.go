package gguf

import (
	"github.com/wan22/wan22/internal/golden"

	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// f16Ref decodes binary16 with float64 arithmetic, independently of F16ToF32.
func f16Ref(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e, m := int(h>>10)&0x1f, float64(h&0x3ff)
	switch {
	case e == 0x1f && m == 0:
		return sign * math.Inf(1)
	case e == 0x1f:
		return math.NaN()
	case e == 0:
		return sign * m * math.Ldexp(1, -24)
	}
	return sign * (1 + m/1024) * math.Ldexp(1, e-15)
}

func TestF16(t *testing.T) {
	for h := range 1 << 16 {
		got, want := F16ToF32(uint16(h)), f16Ref(uint16(h))
		if math.IsNaN(want) {
			require.True(t, math.IsNaN(float64(got)), "%#04x", h)
			require.True(t, math.IsNaN(float64(F16ToF32(F32ToF16(got)))), "NaN survives %#04x", h)
			continue
		}
		require.Equal(t, want, float64(got), "%#04x", h)
		require.Equal(t, uint16(h), F32ToF16(got), "round trip %#04x", h)
	}
	// Midpoints between neighbouring halves round to the even one; a float32
	// ulp either side decides.
	for h := uint16(0); h < 0x7bff; h++ {
		lo, hi := F16ToF32(h), F16ToF32(h+1)
		mid := (lo + hi) / 2 // exact in float32
		even := h
		if h&1 == 1 {
			even = h + 1
		}
		require.Equal(t, even, F32ToF16(mid), "midpoint above %#04x", h)
		require.Equal(t, h, F32ToF16(math.Nextafter32(mid, 0)), "below midpoint %#04x", h)
		require.Equal(t, h+1, F32ToF16(math.Nextafter32(mid, 1e9)), "above midpoint %#04x", h)
		require.Equal(t, h|0x8000, F32ToF16(-math.Nextafter32(mid, 0)))
	}
	require.Equal(t, uint16(0x7bff), F32ToF16(65519.99))
	require.Equal(t, uint16(0x7c00), F32ToF16(65520))
	require.Equal(t, uint16(0xfc00), F32ToF16(float32(math.Inf(-1))))
	require.Equal(t, uint16(0x0000), F32ToF16(0x1p-25))      // tie with 0 rounds to even 0
	require.Equal(t, uint16(0x0001), F32ToF16(0x1.0002p-25)) // just above the tie
	require.Equal(t, uint16(0x8000), F32ToF16(-1e-30))       // signed zero
	require.Equal(t, uint16(0x0400), F32ToF16(0x1.ffcp-15))  // subnormal rounds up to the smallest normal
}

// bf16Ref rounds a float32 to bfloat16 by comparing distances in float64.
func bf16Ref(f float32) uint16 {
	b := math.Float32bits(f)
	lo := uint16(b >> 16)
	val := func(h uint16) float64 {
		if h&0x7fff == 0x7f80 { // infinity stands for 2^128 when rounding
			return math.Copysign(math.Ldexp(1, 128), float64(f))
		}
		return float64(BF16ToF32(h))
	}
	dl, dh := math.Abs(float64(f)-val(lo)), math.Abs(float64(f)-val(lo+1))
	if dh < dl || (dh == dl && lo&1 == 1) {
		return lo + 1
	}
	return lo
}

func TestBF16(t *testing.T) {
	for b := uint64(0); b < 1<<32; b += 65521 { // ~65k patterns all over the range
		f := math.Float32frombits(uint32(b))
		got := F32ToBF16(f)
		if math.IsNaN(float64(f)) {
			require.True(t, math.IsNaN(float64(BF16ToF32(got))), "%#08x", b)
			continue
		}
		require.Equal(t, bf16Ref(f), got, "%#08x", b)
	}
	require.Equal(t, uint16(0x3f80), F32ToBF16(1))
	require.Equal(t, uint16(0x3f80), F32ToBF16(math.Float32frombits(0x3f808000))) // tie to even
	require.Equal(t, uint16(0x3f82), F32ToBF16(math.Float32frombits(0x3f818000))) // tie to even (up)
	require.Equal(t, uint16(0x7f80), F32ToBF16(math.MaxFloat32))
	require.Equal(t, uint16(0x7fc1), F32ToBF16(math.Float32frombits(0x7f810000))) // sNaN made quiet
	require.Equal(t, float32(1), BF16ToF32(0x3f80))
}

func TestF8(t *testing.T) {
	for _, c := range []struct {
		b    uint8
		want float64
	}{
		{0x00, 0}, {0x01, 0x1p-9}, {0x07, 7 * 0x1p-9}, {0x08, 0x1p-6}, {0x38, 1},
		{0x7e, 448}, {0x7f, math.NaN()}, {0xb8, -1}, {0xff, math.NaN()},
	} {
		got := float64(F8E4M3ToF32(c.b))
		if math.IsNaN(c.want) {
			require.True(t, math.IsNaN(got), "e4m3 %#02x", c.b)
		} else {
			require.Equal(t, c.want, got, "e4m3 %#02x", c.b)
		}
	}
	// e5m2 is the top byte of a binary16.
	for b := range 256 {
		want, got := f16Ref(uint16(b)<<8), float64(F8E5M2ToF32(uint8(b)))
		if math.IsNaN(want) {
			require.True(t, math.IsNaN(got))
			continue
		}
		require.Equal(t, want, got, "e5m2 %#02x", b)
	}
	require.Equal(t, float32(57344), F8E5M2ToF32(0x7b))
	require.True(t, math.IsInf(float64(F8E5M2ToF32(0x7c)), 1))
	// Every finite e4m3 value is exactly representable in binary16, and the
	// finite ones are ordered.
	prev := float32(-1)
	for b := range 0x7f {
		v := F8E4M3ToF32(uint8(b))
		require.Greater(t, v, prev, "%#02x", b)
		require.Equal(t, v, F16ToF32(F32ToF16(v)))
		require.Equal(t, -v, F8E4M3ToF32(uint8(b)|0x80))
		prev = v
	}
}

// TestPlainTypes converts the integer and float element types.
func TestPlainTypes(t *testing.T) {
	cases := []struct {
		typ  Type
		src  []byte
		want []float32
	}{
		{TypeI8, []byte{0x80, 0x7f, 0xff}, []float32{-128, 127, -1}},
		{TypeU8, []byte{0x80, 0x7f, 0xff}, []float32{128, 127, 255}},
		{TypeI16, []byte{0x00, 0x80, 0xff, 0x7f}, []float32{-32768, 32767}},
		{TypeI32, []byte{0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00, 0x01}, []float32{-1, 16777217}}, // rounds to 16777216
		{TypeI64, []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []float32{-2}},
		{TypeF64, []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f}, []float32{1, 0.1}},
		{TypeF16, []byte{0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00}, []float32{1, -2, 0x1p-24}},
		{TypeBF16, []byte{0x80, 0x3f, 0x49, 0x40}, []float32{1, 3.140625}},
		{TypeF32, []byte{0, 0, 0x80, 0x3f}, []float32{1}},
		{TypeF8E4M3, []byte{0x38, 0xfe}, []float32{1, -448}},
		{TypeF8E5M2, []byte{0x3c, 0xc0}, []float32{1, -2}},
	}
	for _, c := range cases {
		got := make([]float32, len(c.want))
		require.NoError(t, Dequantize(c.typ, c.src, got), c.typ.String())
		if c.typ == TypeI32 {
			c.want[1] = 16777216
		}
		require.Equal(t, c.want, got, c.typ.String())
	}
}

func TestDequantizeErrors(t *testing.T) {
	require.ErrorContains(t, Dequantize(TypeQ8_0, make([]byte, 34), make([]float32, 31)), "not a multiple of the block size 32")
	require.ErrorContains(t, Dequantize(TypeQ8_0, make([]byte, 33), make([]float32, 32)), "33 input bytes, want 34")
	require.ErrorContains(t, Dequantize(TypeF32, make([]byte, 8), make([]float32, 1)), "want 4")
	require.ErrorContains(t, Dequantize(TypeIQ2_XXS, make([]byte, 66), make([]float32, 256)), "IQ2_XXS is not supported")
	require.ErrorContains(t, Dequantize(Type(4), nil, nil), "not supported")
	require.ErrorContains(t, DequantizeParallel(TypeQ4_K, make([]byte, 144), make([]float32, 255)), "block size")
	require.NoError(t, Dequantize(TypeQ4_K, nil, nil))
	require.False(t, CanDequantize(TypeTQ1_0))
	require.True(t, CanDequantize(TypeIQ4_XS))
}

func TestDequantizeParallelMatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, typ := range dequantTypes {
		n := (parallelMinElems*3 + 7*QK_K) / typ.BlockSize() * typ.BlockSize() // not a round split
		src := make([]byte, n/typ.BlockSize()*typ.BlockBytes())
		for i := range src {
			src[i] = byte(rng.Uint32())
		}
		a, b := make([]float32, n), make([]float32, n)
		require.NoError(t, Dequantize(typ, src, a))
		require.NoError(t, DequantizeParallel(typ, src, b))
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("%s element %d: %v vs %v", typ, i, a[i], b[i])
			}
		}
	}
}

// TestQuantizeRoundTrip bounds the error of each quantizer on several kinds
// of data.
func TestQuantizeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 64 * QK_K
	inputs := map[string][]float32{
		"normal":  randFloats(rng, n, 1),
		"small":   randFloats(rng, n, 1e-3),
		"uniform": make([]float32, n),
		"zeros":   make([]float32, n),
		"outlier": randFloats(rng, n, 0.1),
		"const":   make([]float32, n),
	}
	for i := range inputs["uniform"] {
		inputs["uniform"][i] = float32(rng.Float64()*20 - 10)
		inputs["const"][i] = 3.25
	}
	for i := 0; i < n; i += 97 {
		inputs["outlier"][i] = 50
	}
	// Relative L2 error bounds (measured values are about half of these).
	bounds := map[Type]float64{TypeF32: 0, TypeF16: 1e-3, TypeBF16: 4e-3, TypeQ8_0: 0.01, TypeQ6_K: 0.03, TypeQ4_K: 0.12}
	for name, x := range inputs {
		for typ, bound := range bounds {
			q, err := Quantize(typ, x)
			require.NoError(t, err)
			require.Len(t, q, n/typ.BlockSize()*typ.BlockBytes())
			y := make([]float32, n)
			require.NoError(t, Dequantize(typ, q, y))
			if name == "zeros" {
				require.Equal(t, x, y, "%s %s", name, typ)
				continue
			}
			e := golden.RelL2(x, y)
			t.Logf("%-8s %-5s rel L2 %.3g", name, typ, e)
			if name == "outlier" {
				bound *= 3 // blocks with an outlier quantize the rest coarsely
			}
			require.LessOrEqual(t, e, bound, "%s %s", name, typ)
			if typ == TypeQ8_0 { // per block: |x−y| ≤ amax/254 plus the f16 rounding of d
				for b := 0; b < n; b += 32 {
					var amax float32
					for _, v := range x[b : b+32] {
						amax = max(amax, abs32(v))
					}
					for i := b; i < b+32; i++ {
						require.LessOrEqual(t, math.Abs(float64(x[i]-y[i])), float64(amax)*(1.0/254+1.0/2048)+127*0x1p-25, "%s element %d", name, i)
					}
				}
			}
		}
	}
	_, err := Quantize(TypeQ4_K, make([]float32, 255))
	require.ErrorContains(t, err, "block size 256")
	_, err = Quantize(TypeQ5_K, make([]float32, 256))
	require.ErrorContains(t, err, "not supported")
	// Non-finite input does not panic.
	for _, typ := range []Type{TypeQ8_0, TypeQ4_K, TypeQ6_K} {
		x := randFloats(rng, QK_K, 1)
		x[3], x[100] = float32(math.Inf(1)), float32(math.NaN())
		_, err := Quantize(typ, x)
		require.NoError(t, err)
	}
}
