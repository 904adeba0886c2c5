package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"
)

// Dequantization follows ggml's reference to_float routines operation by
// operation, in float32, so that results are bit-identical to ggml's. Every
// product that ggml adds to or subtracts from is rounded with an explicit
// float32 conversion, which stops the Go compiler from fusing it into an FMA
// (it may do so on arm64, and the C reference is not fused).

// kvaluesIQ4NL is the non-linear 4-bit codebook of IQ4_NL and IQ4_XS.
var kvaluesIQ4NL = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// dequantKernel converts whole blocks: len(src) = blocks·BlockBytes,
// len(dst) = blocks·BlockSize (checked by the caller).
type dequantKernel func(src []byte, dst []float32)

// kernelFor returns the conversion routine of t, or nil when t is not supported.
func kernelFor(t Type) dequantKernel {
	switch t {
	case TypeF32:
		return deqF32
	case TypeF16:
		return deqF16
	case TypeBF16:
		return deqBF16
	case TypeF64:
		return deqF64
	case TypeI8:
		return deqI8
	case TypeU8:
		return deqU8
	case TypeI16:
		return deqI16
	case TypeI32:
		return deqI32
	case TypeI64:
		return deqI64
	case TypeF8E4M3:
		return deqF8E4M3
	case TypeF8E5M2:
		return deqF8E5M2
	case TypeQ4_0:
		return deqQ4_0
	case TypeQ4_1:
		return deqQ4_1
	case TypeQ5_0:
		return deqQ5_0
	case TypeQ5_1:
		return deqQ5_1
	case TypeQ8_0:
		return deqQ8_0
	case TypeQ2_K:
		return deqQ2_K
	case TypeQ3_K:
		return deqQ3_K
	case TypeQ4_K:
		return deqQ4_K
	case TypeQ5_K:
		return deqQ5_K
	case TypeQ6_K:
		return deqQ6_K
	case TypeIQ4_NL:
		return deqIQ4_NL
	case TypeIQ4_XS:
		return deqIQ4_XS
	}
	return nil
}

// CanDequantize reports whether Dequantize supports t.
func CanDequantize(t Type) bool { return kernelFor(t) != nil }

// checkDequant validates the sizes and returns the kernel and block count.
func checkDequant(t Type, src []byte, dst []float32) (dequantKernel, int, error) {
	k := kernelFor(t)
	if k == nil {
		return nil, 0, fmt.Errorf("gguf: dequantizing %s is not supported", t)
	}
	bs, bb := t.BlockSize(), t.BlockBytes()
	if len(dst)%bs != 0 {
		return nil, 0, fmt.Errorf("gguf: dequantize %s: %d output elements is not a multiple of the block size %d", t, len(dst), bs)
	}
	nb := len(dst) / bs
	if len(src) != nb*bb {
		return nil, 0, fmt.Errorf("gguf: dequantize %s: %d input bytes, want %d for %d elements", t, len(src), nb*bb, len(dst))
	}
	return k, nb, nil
}

// Dequantize converts src, a whole number of blocks of type t, to float32,
// filling all of dst. len(dst) must be a multiple of t.BlockSize() and
// len(src) exactly the matching byte count.
func Dequantize(t Type, src []byte, dst []float32) error {
	k, _, err := checkDequant(t, src, dst)
	if err != nil {
		return err
	}
	k(src, dst)
	return nil
}

// parallelMinElems is the size below which DequantizeParallel runs serially.
const parallelMinElems = 1 << 16

// DequantizeParallel is Dequantize spread over GOMAXPROCS goroutines, each
// converting a contiguous range of blocks. Small inputs run serially.
func DequantizeParallel(t Type, src []byte, dst []float32) error {
	k, nb, err := checkDequant(t, src, dst)
	if err != nil {
		return err
	}
	workers := runtime.GOMAXPROCS(0)
	if len(dst) < parallelMinElems || workers < 2 || nb < 2 {
		k(src, dst)
		return nil
	}
	workers = min(workers, nb, len(dst)/(parallelMinElems/4))
	bs, bb := t.BlockSize(), t.BlockBytes()
	per := (nb + workers - 1) / workers
	var wg sync.WaitGroup
	for b0 := 0; b0 < nb; b0 += per {
		b1 := min(b0+per, nb)
		wg.Add(1)
		go func() {
			defer wg.Done()
			k(src[b0*bb:b1*bb], dst[b0*bs:b1*bs])
		}()
	}
	wg.Wait()
	return nil
}

// ReadFloat32 reads one tensor of src and converts it to float32.
func ReadFloat32(src Source, name string) ([]float32, TensorInfo, error) {
	ti, ok := src.Lookup(name)
	if !ok {
		return nil, TensorInfo{}, fmt.Errorf("gguf: tensor %s not found", Quote(name))
	}
	n := ti.Elements()
	if want, err := ti.Type.RowBytes(n); err != nil || want != ti.Size || n > math.MaxInt32*16 {
		return nil, ti, fmt.Errorf("gguf: tensor %s: %s %v does not match its %d data bytes", Quote(name), ti.Type, ti.Shape, ti.Size)
	}
	data, err := src.Data(name)
	if err != nil {
		return nil, ti, err
	}
	out := make([]float32, n)
	if err := DequantizeParallel(ti.Type, data, out); err != nil {
		return nil, ti, fmt.Errorf("gguf: tensor %s: %w", Quote(name), err)
	}
	return out, ti, nil
}

func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }

// halfAt reads a little-endian binary16 at b[0:2] as float32.
func halfAt(b []byte) float32 { return F16ToF32(binary.LittleEndian.Uint16(b)) }

// ---- plain element types ----

// hostLittleEndian reports whether this machine stores numbers in the
// files' byte order, so that float32 data can be copied as bytes.
var hostLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func deqF32(src []byte, dst []float32) {
	if hostLittleEndian && len(dst) > 0 {
		// SAFETY: dst's backing array holds len(dst) float32s, exactly
		// 4·len(dst) bytes, viewed as bytes only for this copy; any bit
		// pattern is a valid float32, and the host byte order is the file's.
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst)), src)
		return
	}
	src = src[:len(dst)*4]
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

// f16Table maps every binary16 bit pattern to float32 (256 KiB, built on
// first use by deqF16).
var (
	f16TableOnce sync.Once
	f16Table     *[1 << 16]float32
)

func deqF16(src []byte, dst []float32) {
	f16TableOnce.Do(func() {
		t := new([1 << 16]float32)
		for h := range t {
			t[h] = F16ToF32(uint16(h))
		}
		f16Table = t
	})
	tab := f16Table
	for len(dst) >= 8 {
		s, d := (*[16]byte)(src), (*[8]float32)(dst)
		for k := range 8 {
			d[k] = tab[uint16(s[2*k])|uint16(s[2*k+1])<<8]
		}
		src, dst = src[16:], dst[8:]
	}
	for i := range dst {
		dst[i] = tab[le16(src[2*i:])]
	}
}

func deqBF16(src []byte, dst []float32) {
	for len(dst) >= 8 {
		s, d := (*[16]byte)(src), (*[8]float32)(dst)
		for k := range 8 {
			d[k] = math.Float32frombits(uint32(s[2*k])<<16 | uint32(s[2*k+1])<<24)
		}
		src, dst = src[16:], dst[8:]
	}
	for i := range dst {
		dst[i] = math.Float32frombits(uint32(le16(src[2*i:])) << 16)
	}
}

func deqF64(src []byte, dst []float32) {
	src = src[:len(dst)*8]
	for i := range dst {
		dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
	}
}

func deqI8(src []byte, dst []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] = float32(int8(src[i]))
	}
}

func deqU8(src []byte, dst []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] = float32(src[i])
	}
}

func deqI16(src []byte, dst []float32) {
	src = src[:len(dst)*2]
	for i := range dst {
		dst[i] = float32(int16(le16(src[2*i:])))
	}
}

func deqI32(src []byte, dst []float32) {
	src = src[:len(dst)*4]
	for i := range dst {
		dst[i] = float32(int32(binary.LittleEndian.Uint32(src[4*i:])))
	}
}

func deqI64(src []byte, dst []float32) {
	src = src[:len(dst)*8]
	for i := range dst {
		dst[i] = float32(int64(binary.LittleEndian.Uint64(src[8*i:])))
	}
}

func deqF8E4M3(src []byte, dst []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] = f8e4m3Table[src[i]]
	}
}

func deqF8E5M2(src []byte, dst []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] = f8e5m2Table[src[i]]
	}
}

// ---- legacy 32-element blocks ----

// Q4_0 (18 B): d f16 @0, qs[16] @2. Element j in the low nibble of qs[j],
// element j+16 in the high nibble. y = (q-8)·d.
func deqQ4_0(src []byte, dst []float32) {
	for i := range len(dst) / 32 {
		b := (*[18]byte)(src[i*18:])
		y := (*[32]float32)(dst[i*32:])
		d := halfAt(b[0:])
		for j := range 16 {
			q := b[2+j]
			y[j] = float32(int32(q&0xf)-8) * d
			y[j+16] = float32(int32(q>>4)-8) * d
		}
	}
}

// Q4_1 (20 B): d f16 @0, m f16 @2, qs[16] @4. y = q·d + m.
func deqQ4_1(src []byte, dst []float32) {
	for i := range len(dst) / 32 {
		b := (*[20]byte)(src[i*20:])
		y := (*[32]float32)(dst[i*32:])
		d, m := halfAt(b[0:]), halfAt(b[2:])
		for j := range 16 {
			q := b[4+j]
			y[j] = float32(float32(q&0xf)*d) + m
			y[j+16] = float32(float32(q>>4)*d) + m
		}
	}
}

// Q5_0 (22 B): d f16 @0, qh u32 @2 (bit e = 5th bit of element e), qs[16] @6.
// y = (q-16)·d.
func deqQ5_0(src []byte, dst []float32) {
	for i := range len(dst) / 32 {
		b := (*[22]byte)(src[i*22:])
		y := (*[32]float32)(dst[i*32:])
		d := halfAt(b[0:])
		qh := binary.LittleEndian.Uint32(b[2:])
		for j := range 16 {
			q := b[6+j]
			h0 := byte(qh>>j<<4) & 0x10
			h1 := byte(qh>>(j+12)) & 0x10
			y[j] = float32(int32(q&0xf|h0)-16) * d
			y[j+16] = float32(int32(q>>4|h1)-16) * d
		}
	}
}

// Q5_1 (24 B): d f16 @0, m f16 @2, qh u32 @4, qs[16] @8. y = q·d + m.
func deqQ5_1(src []byte, dst []float32) {
	for i := range len(dst) / 32 {
		b := (*[24]byte)(src[i*24:])
		y := (*[32]float32)(dst[i*32:])
		d, m := halfAt(b[0:]), halfAt(b[2:])
		qh := binary.LittleEndian.Uint32(b[4:])
		for j := range 16 {
			q := b[8+j]
			h0 := byte(qh>>j<<4) & 0x10
			h1 := byte(qh>>(j+12)) & 0x10
			y[j] = float32(float32(q&0xf|h0)*d) + m
			y[j+16] = float32(float32(q>>4|h1)*d) + m
		}
	}
}

// Q8_0 (34 B): d f16 @0, qs[32] int8 @2. y = q·d.
func deqQ8_0(src []byte, dst []float32) {
	for i := range len(dst) / 32 {
		b := (*[34]byte)(src[i*34:])
		y := (*[32]float32)(dst[i*32:])
		d := halfAt(b[0:])
		for j := range 32 {
			y[j] = float32(int8(b[2+j])) * d
		}
	}
}

// IQ4_NL (18 B): d f16 @0, qs[16] @2 indexing kvaluesIQ4NL like Q4_0.
func deqIQ4_NL(src []byte, dst []float32) {
	for i := range len(dst) / 32 {
		b := (*[18]byte)(src[i*18:])
		y := (*[32]float32)(dst[i*32:])
		d := halfAt(b[0:])
		for j := range 16 {
			q := b[2+j]
			y[j] = d * float32(kvaluesIQ4NL[q&0xf])
			y[j+16] = d * float32(kvaluesIQ4NL[q>>4])
		}
	}
}

// ---- K-quants: 256-element super-blocks ----

// Q2_K (84 B): scales[16] @0 (low nibble scale, high nibble min), qs[64] @16
// (2-bit), d f16 @80, dmin f16 @82. y = d·sc·q − dmin·m.
func deqQ2_K(src []byte, dst []float32) {
	for i := range len(dst) / 256 {
		b := (*[84]byte)(src[i*84:])
		y := (*[256]float32)(dst[i*256:])
		d, dmin := halfAt(b[80:]), halfAt(b[82:])
		for n := range 2 { // two 128-element halves, 32 qs bytes each
			q := (*[32]byte)(b[16+32*n:])
			for j := range 4 {
				shift := uint(2 * j)
				is := 8*n + 2*j
				out := y[128*n+32*j:]
				sc := b[is]
				dl, ml := d*float32(sc&0xf), dmin*float32(sc>>4)
				for l := range 16 {
					out[l] = float32(dl*float32((q[l]>>shift)&3)) - ml
				}
				sc = b[is+1]
				dl, ml = d*float32(sc&0xf), dmin*float32(sc>>4)
				for l := range 16 {
					out[16+l] = float32(dl*float32((q[16+l]>>shift)&3)) - ml
				}
			}
		}
	}
}

// q3kScales unpacks Q3_K's sixteen 6-bit scales (minus 32) from 12 bytes:
// low 4 bits in the nibbles of bytes 0..7, high 2 bits in bytes 8..11.
func q3kScales(sc *[12]byte) (s [16]int8) {
	for j := range 8 {
		hi0 := (sc[8+j%4] >> (2 * (j / 4))) & 3
		s[j] = int8(sc[j]&0xf|hi0<<4) - 32
		hi1 := (sc[8+j%4] >> (2 * (2 + j/4))) & 3
		s[j+8] = int8(sc[j]>>4|hi1<<4) - 32
	}
	return s
}

// Q3_K (110 B): hmask[32] @0, qs[64] @32 (low 2 bits), scales[12] @96, d f16
// @108. q = low2 − (hmask bit set ? 0 : 4); y = d·S·q.
func deqQ3_K(src []byte, dst []float32) {
	for i := range len(dst) / 256 {
		b := (*[110]byte)(src[i*110:])
		y := (*[256]float32)(dst[i*256:])
		dAll := halfAt(b[108:])
		hm := (*[32]byte)(b[0:])
		s := q3kScales((*[12]byte)(b[96:]))
		for n := range 2 {
			q := (*[32]byte)(b[32+32*n:])
			for j := range 4 {
				shift := uint(2 * j)
				hb := uint(4*n + j) // hmask bit plane of this group
				out := (*[32]float32)(y[128*n+32*j:])
				dl0 := dAll * float32(s[8*n+2*j])
				dl1 := dAll * float32(s[8*n+2*j+1])
				for l := range 16 {
					// q = low2 − 4, plus 4 back when the hmask bit is set.
					v0 := int32((q[l]>>shift)&3) - 4 + 4*int32((hm[l]>>hb)&1)
					v1 := int32((q[16+l]>>shift)&3) - 4 + 4*int32((hm[16+l]>>hb)&1)
					out[l] = dl0 * float32(v0)
					out[16+l] = dl1 * float32(v1)
				}
			}
		}
	}
}

// scaleMinK4 unpacks the 6-bit scale and min of sub-block j (0..7) from the
// 12 packed bytes of Q4_K/Q5_K.
func scaleMinK4(j int, q *[12]byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// k4Pair returns the scale and min of sub-blocks 2p and 2p+1 of a Q4_K/Q5_K
// block, multiplied by the super-block d and dmin as ggml does.
func k4Pair(d, dmin float32, p int, scales *[12]byte) (d1, m1, d2, m2 float32) {
	sc, m := scaleMinK4(2*p, scales)
	d1, m1 = d*float32(sc), dmin*float32(m)
	sc, m = scaleMinK4(2*p+1, scales)
	return d1, m1, d * float32(sc), dmin * float32(m)
}

// Q4_K (144 B): d f16 @0, dmin f16 @2, scales[12] @4, qs[128] @16. Each 64
// elements share 32 qs bytes: low nibbles first, then high nibbles.
// y = d·sc·q − dmin·m.
func deqQ4_K(src []byte, dst []float32) {
	for i := range len(dst) / 256 {
		b := (*[144]byte)(src[i*144:])
		y := (*[256]float32)(dst[i*256:])
		d, dmin := halfAt(b[0:]), halfAt(b[2:])
		scales := (*[12]byte)(b[4:])
		for p := range 4 {
			q := (*[32]byte)(b[16+32*p:])
			d1, m1, d2, m2 := k4Pair(d, dmin, p, scales)
			out := (*[64]float32)(y[64*p:])
			for l := range 32 {
				out[l] = float32(d1*float32(q[l]&0xf)) - m1
				out[32+l] = float32(d2*float32(q[l]>>4)) - m2
			}
		}
	}
}

// Q5_K (176 B): d f16 @0, dmin f16 @2, scales[12] @4, qh[32] @16, qs[128]
// @48. The 5th bit of sub-block g, lane l is bit g of qh[l].
func deqQ5_K(src []byte, dst []float32) {
	for i := range len(dst) / 256 {
		b := (*[176]byte)(src[i*176:])
		y := (*[256]float32)(dst[i*256:])
		d, dmin := halfAt(b[0:]), halfAt(b[2:])
		scales := (*[12]byte)(b[4:])
		qh := (*[32]byte)(b[16:])
		for p := range 4 {
			q := (*[32]byte)(b[48+32*p:])
			d1, m1, d2, m2 := k4Pair(d, dmin, p, scales)
			sh := uint(2 * p) // bits 2p and 2p+1 of qh[l] are the 5th bits
			out := (*[64]float32)(y[64*p:])
			for l := range 32 {
				h := qh[l] >> sh
				lo := q[l]&0xf | (h&1)<<4
				hi := q[l]>>4 | (h&2)<<3
				out[l] = float32(d1*float32(lo)) - m1
				out[32+l] = float32(d2*float32(hi)) - m2
			}
		}
	}
}

// Q6_K (210 B): ql[128] @0 (low 4 bits), qh[64] @128 (high 2 bits),
// scales[16] int8 @192, d f16 @208. y = d·scale·(q − 32).
func deqQ6_K(src []byte, dst []float32) {
	for i := range len(dst) / 256 {
		b := (*[210]byte)(src[i*210:])
		y := (*[256]float32)(dst[i*256:])
		d := halfAt(b[208:])
		for n := range 2 {
			ql := (*[64]byte)(b[64*n:])
			qh := (*[32]byte)(b[128+32*n:])
			sc := (*[8]byte)(b[192+8*n:])
			out := (*[128]float32)(y[128*n:])
			for is := range 2 { // lanes 0..15 and 16..31 have their own scales
				// ggml computes d·scale·q left to right: (d·scale) rounded, then ·q.
				ds1 := d * float32(int8(sc[is]))
				ds2 := d * float32(int8(sc[is+2]))
				ds3 := d * float32(int8(sc[is+4]))
				ds4 := d * float32(int8(sc[is+6]))
				for l := 16 * is; l < 16*is+16; l++ {
					h := qh[l]
					q1 := int32(ql[l]&0xf|(h&3)<<4) - 32
					q2 := int32(ql[l+32]&0xf|((h>>2)&3)<<4) - 32
					q3 := int32(ql[l]>>4|((h>>4)&3)<<4) - 32
					q4 := int32(ql[l+32]>>4|((h>>6)&3)<<4) - 32
					out[l] = ds1 * float32(q1)
					out[l+32] = ds2 * float32(q2)
					out[l+64] = ds3 * float32(q3)
					out[l+96] = ds4 * float32(q4)
				}
			}
		}
	}
}

// IQ4_XS (136 B): d f16 @0, scales_h u16 @2, scales_l[4] @4, qs[128] @8.
// Sub-block ib has the 6-bit scale ls; y = d·(ls − 32)·K[nibble].
func deqIQ4_XS(src []byte, dst []float32) {
	for i := range len(dst) / 256 {
		b := (*[136]byte)(src[i*136:])
		y := (*[256]float32)(dst[i*256:])
		d := halfAt(b[0:])
		sh := le16(b[2:])
		for ib := range 8 {
			ls := int32(b[4+ib/2]>>(4*(ib%2)))&0xf | int32((sh>>(2*ib))&3)<<4
			dl := d * float32(ls-32)
			qs := (*[16]byte)(b[8+16*ib:])
			out := (*[32]float32)(y[32*ib:])
			for j := range 16 {
				out[j] = dl * float32(kvaluesIQ4NL[qs[j]&0xf])
				out[j+16] = dl * float32(kvaluesIQ4NL[qs[j]>>4])
			}
		}
	}
}
