package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Quantize converts src to type t with ggml's reference (no importance
// matrix) quantizers. Supported: F32, F16, BF16, Q8_0, Q4_K, Q6_K.
// len(src) must be a multiple of t.BlockSize(). The quantizers are meant
// for building test models, not for speed.
//
// Arithmetic follows ggml's reference C code operation by operation in
// float32 (products rounded before they are added), so Q8_0 reproduces
// ggml's bytes exactly; see the tests for the K-quants.
func Quantize(t Type, src []float32) ([]byte, error) {
	bs := t.BlockSize()
	if bs == 0 {
		return nil, fmt.Errorf("gguf: quantize: unknown type %s", t)
	}
	if len(src)%bs != 0 {
		return nil, fmt.Errorf("gguf: quantize %s: %d elements is not a multiple of the block size %d", t, len(src), bs)
	}
	nb := len(src) / bs
	out := make([]byte, nb*t.BlockBytes())
	le := binary.LittleEndian
	switch t {
	case TypeF32:
		for i, x := range src {
			le.PutUint32(out[4*i:], math.Float32bits(x))
		}
	case TypeF16:
		for i, x := range src {
			le.PutUint16(out[2*i:], F32ToF16(x))
		}
	case TypeBF16:
		for i, x := range src {
			le.PutUint16(out[2*i:], F32ToBF16(x))
		}
	case TypeQ8_0:
		for i := range nb {
			quantQ8_0((*[32]float32)(src[32*i:]), (*[34]byte)(out[34*i:]))
		}
	case TypeQ4_K:
		for i := range nb {
			quantQ4_K((*[256]float32)(src[256*i:]), (*[144]byte)(out[144*i:]))
		}
	case TypeQ6_K:
		for i := range nb {
			quantQ6_K((*[256]float32)(src[256*i:]), (*[210]byte)(out[210*i:]))
		}
	default:
		return nil, fmt.Errorf("gguf: quantizing to %s is not supported (only F32, F16, BF16, Q8_0, Q4_K, Q6_K)", t)
	}
	return out, nil
}

// nearestInt rounds to the nearest integer, ties to even, as ggml's
// nearest_int does (by adding 1.5·2^23 and reading the mantissa); valid for
// |f| < 2^22, which every caller's clamped range satisfies.
func nearestInt(f float32) int32 {
	v := f + 12582912
	return int32(math.Float32bits(v)&0x7fffff) - 0x400000
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

func putHalf(b []byte, f float32) { binary.LittleEndian.PutUint16(b, F32ToF16(f)) }

// quantQ8_0: d = max|x|/127, q = round(x/d) (ties away from zero).
func quantQ8_0(x *[32]float32, y *[34]byte) {
	var amax float32
	for _, v := range x {
		amax = max(amax, abs32(v))
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putHalf(y[0:], d)
	for j, v := range x {
		y[2+j] = byte(int8(math.Round(float64(v * id))))
	}
}

// makeQKX2Quants finds an affine quantization x ≈ scale·L − min of n values
// to levels 0..nmax, minimizing the weighted squared error over a small set
// of candidate scales (ggml's make_qkx2_quants with use_mad = false). It
// writes the levels to L and returns scale and min (min ≥ 0, subtracted).
func makeQKX2Quants(nmax int32, x, w []float32, L, laux []uint8, rmin, rdelta float32, nstep int) (scale, theMin float32) {
	n := len(x)
	minV, maxV := x[0], x[0]
	sumW := w[0]
	sumX := sumW * x[0]
	for i := 1; i < n; i++ {
		minV = min(minV, x[i])
		maxV = max(maxV, x[i])
		sumW += w[i]
		sumX += float32(w[i] * x[i])
	}
	if minV > 0 {
		minV = 0
	}
	if maxV == minV {
		for i := range L[:n] {
			L[i] = 0
		}
		return 0, -minV
	}
	iscale := float32(nmax) / (maxV - minV)
	scale = 1 / iscale
	var bestMad float32
	for i := range n {
		l := min(max(nearestInt(iscale*(x[i]-minV)), 0), nmax)
		L[i] = uint8(l)
		diff := float32(float32(scale*float32(l))+minV) - x[i]
		bestMad += float32(w[i] * float32(diff*diff))
	}
	for is := 0; is <= nstep; is++ {
		iscale = (float32(rmin+float32(rdelta*float32(is))) + float32(nmax)) / (maxV - minV)
		var sumL, sumL2, sumXL float32
		for i := range n {
			l := min(max(nearestInt(iscale*(x[i]-minV)), 0), nmax)
			laux[i] = uint8(l)
			fl := float32(l)
			sumL += float32(w[i] * fl)
			sumL2 += float32(float32(w[i]*fl) * fl)
			sumXL += float32(float32(w[i]*fl) * x[i])
		}
		det := float32(sumW*sumL2) - float32(sumL*sumL)
		if det > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / det
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / det
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var mad float32
			for i := range n {
				diff := float32(float32(thisScale*float32(laux[i]))+thisMin) - x[i]
				mad += float32(w[i] * float32(diff*diff))
			}
			if mad < bestMad {
				copy(L[:n], laux[:n])
				bestMad = mad
				scale = thisScale
				minV = thisMin
			}
		}
	}
	return scale, -minV
}

// quantQ4_K: eight 32-element sub-blocks, each with an affine fit; their
// scales and mins are quantized to 6 bits against the super-block d, dmin.
func quantQ4_K(x *[256]float32, y *[144]byte) {
	var (
		L        [256]uint8
		laux     [32]uint8
		weights  [32]float32
		mins     [8]float32
		scales   [8]float32
		maxScale float32
		maxMin   float32
	)
	for j := range 8 {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := sqrt32(sumX2 / 32)
		for l, v := range xs {
			weights[l] = avX + abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(15, xs, weights[:], L[32*j:32*j+32], laux[:], -1, 0.1, 20)
		maxScale = max(maxScale, scales[j])
		maxMin = max(maxMin, mins[j])
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	sc := (*[12]byte)(y[4:])
	*sc = [12]byte{}
	for j := range 8 {
		ls := uint8(min(nearestInt(invScale*scales[j]), 63))
		lm := uint8(min(nearestInt(invMin*mins[j]), 63))
		if j < 4 {
			sc[j] = ls
			sc[j+4] = lm
		} else {
			sc[j+4] = ls&0xf | (lm&0xf)<<4
			sc[j-4] |= (ls >> 4) << 6
			sc[j] |= (lm >> 4) << 6
		}
	}
	putHalf(y[0:], maxScale/63)
	putHalf(y[2:], maxMin/63)
	d, dmin := halfAt(y[0:]), halfAt(y[2:])
	for j := range 8 {
		s, m := scaleMinK4(j, sc)
		dj := d * float32(s)
		if dj == 0 {
			continue
		}
		dm := dmin * float32(m)
		for i := range 32 {
			l := nearestInt((x[32*j+i] + dm) / dj)
			L[32*j+i] = uint8(min(max(l, 0), 15))
		}
	}
	qs := y[16:]
	for p := range 4 {
		for l := range 32 {
			qs[32*p+l] = L[64*p+l] | L[64*p+32+l]<<4
		}
	}
}

// groupMaxEps is ggml's threshold below which a group counts as all zero.
const groupMaxEps = 1e-15

// makeQXQuants finds a symmetric quantization x ≈ scale·(L − nmax) of n
// values to levels 0..2·nmax−1, weighting by x² (ggml's make_qx_quants with
// rmse_type 1), trying 18 scales around nmax/max|x|. It returns the scale.
func makeQXQuants(nmax int32, x []float32, L []int8) float32 {
	var maxV, amax float32
	for _, v := range x {
		if av := abs32(v); av > amax {
			amax, maxV = av, v
		}
	}
	if amax < groupMaxEps {
		for i := range x {
			L[i] = 0
		}
		return 0
	}
	fit := func(iscale float32) (sumLX, sumL2 float32) {
		for _, v := range x {
			l := float32(min(max(nearestInt(iscale*v), -nmax), nmax-1))
			w := v * v
			sumLX += float32(float32(w*v) * l)
			sumL2 += float32(float32(w*l) * l)
		}
		return sumLX, sumL2
	}
	setL := func(iscale float32) {
		for i, v := range x {
			L[i] = int8(nmax + min(max(nearestInt(iscale*v), -nmax), nmax-1))
		}
	}
	iscale := -float32(nmax) / maxV
	sumLX, sumL2 := fit(iscale)
	setL(iscale)
	var scale float32
	if sumL2 != 0 {
		scale = sumLX / sumL2
	}
	best := scale * sumLX
	for is := int32(-9); is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(float32(nmax) + float32(0.1*float32(is))) / maxV
		sumLX, sumL2 = fit(iscale)
		if sumL2 > 0 && float32(sumLX*sumLX) > float32(best*sumL2) {
			setL(iscale)
			scale = sumLX / sumL2
			best = scale * sumLX
		}
	}
	return scale
}

// quantQ6_K: sixteen 16-element sub-blocks with symmetric 6-bit levels and
// int8 scales against the super-block d.
func quantQ6_K(x *[256]float32, y *[210]byte) {
	var (
		L           [256]int8
		scales      [16]float32
		maxScale    float32
		maxAbsScale float32
	)
	for ib := range 16 {
		s := makeQXQuants(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16])
		scales[ib] = s
		if as := abs32(s); as > maxAbsScale {
			maxAbsScale, maxScale = as, s
		}
	}
	*y = [210]byte{}
	if maxAbsScale < groupMaxEps {
		return // all zero: d = 0
	}
	iscale := -128 / maxScale
	putHalf(y[208:], 1/iscale)
	for ib := range 16 {
		y[192+ib] = byte(int8(min(nearestInt(iscale*scales[ib]), 127)))
	}
	d := halfAt(y[208:])
	for j := range 16 {
		dj := d * float32(int8(y[192+j]))
		if dj == 0 {
			continue
		}
		for i := range 16 {
			l := nearestInt(x[16*j+i] / dj)
			L[16*j+i] = int8(min(max(l, -32), 31) + 32)
		}
	}
	for n := range 2 {
		ql := y[64*n : 64*n+64]
		qh := y[128+32*n : 128+32*n+32]
		lv := L[128*n : 128*n+128]
		for l := range 32 {
			q1, q2, q3, q4 := uint8(lv[l]), uint8(lv[l+32]), uint8(lv[l+64]), uint8(lv[l+96])
			ql[l] = q1&0xf | (q3&0xf)<<4
			ql[l+32] = q2&0xf | (q4&0xf)<<4
			qh[l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
		}
	}
}
