package gguf

import "math"

// F16ToF32 converts an IEEE binary16 value to float32 exactly (subnormals,
// infinities and NaNs included; a signalling NaN comes back quiet, as from
// ggml's and the hardware's conversions).
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	em := uint32(h & 0x7fff)
	if em >= 0x7c00 { // infinity or NaN
		nan := uint32(0)
		if em > 0x7c00 {
			nan = 0x400000 // quiet bit
		}
		return math.Float32frombits(sign | 0x7f800000 | nan | (em&0x3ff)<<13)
	}
	// Place exponent and mantissa in a float32 with bias 127 instead of 15
	// and rescale by 2^(127-15); exact for normals and subnormals alike.
	f := math.Float32frombits(em<<13) * 0x1p112
	return math.Float32frombits(math.Float32bits(f) | sign)
}

// F32ToF16 converts a float32 to IEEE binary16 with round-to-nearest-even.
// Values too large become infinity; NaNs stay NaN (quiet, upper payload bits kept).
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	switch {
	case e >= 0x1f:
		return sign | 0x7c00
	case e >= 1:
		v := uint32(e)<<10 | mant>>13
		rem := mant & 0x1fff
		if rem > 0x1000 || (rem == 0x1000 && v&1 == 1) {
			v++ // may carry into the exponent, up to infinity: correct
		}
		return sign | uint16(v)
	case e >= -10:
		m := mant | 0x800000
		shift := uint32(14 - e)
		v := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && v&1 == 1) {
			v++
		}
		return sign | uint16(v)
	}
	return sign
}

// BF16ToF32 converts a bfloat16 to float32 (exact: the upper half of the bits).
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 converts a float32 to bfloat16 with round-to-nearest-even; NaNs
// stay NaN (forced quiet), as ggml does.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// fp8 lookup tables, built at init.
var (
	f8e4m3Table [256]float32
	f8e5m2Table [256]float32
)

func init() {
	for i := range 256 {
		f8e4m3Table[i] = f8e4m3ToF32(uint8(i))
		f8e5m2Table[i] = F16ToF32(uint16(i) << 8) // e5m2 is the top byte of a binary16
	}
}

// f8e4m3ToF32 decodes float8 e4m3fn: bias 7, no infinities, S.1111.111 is NaN.
func f8e4m3ToF32(b uint8) float32 {
	e := int(b>>3) & 0xf
	m := float32(b & 7)
	var v float32
	switch {
	case e == 0xf && b&7 == 7:
		v = float32(math.NaN())
	case e == 0:
		v = m / 8 * 0x1p-6
	default:
		v = (1 + m/8) * float32(math.Ldexp(1, e-7))
	}
	if b&0x80 != 0 {
		v = -v
	}
	return v
}

// F8E4M3ToF32 converts a float8 e4m3fn value (no infinities; 0x7f and 0xff are NaN).
func F8E4M3ToF32(b uint8) float32 { return f8e4m3Table[b] }

// F8E5M2ToF32 converts a float8 e5m2 value (IEEE-like, with infinities).
func F8E5M2ToF32(b uint8) float32 { return f8e5m2Table[b] }
