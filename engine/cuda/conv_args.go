package cuda

import (
	"fmt"
	"math"

	"github.com/wan22/wan22/gguf"
)

// This file holds the pure-Go side of the VAE kernels (kernels/conv.cu, kernels/vae.cu): argument types,
// shape arithmetic and checks, tile and chunk choices. It builds without the cuda tag so that the checks
// are tested on machines without a GPU.

// ConvArgs describes one causal 3-D convolution (Device.Conv3d), the VAE's CausalConv3d and Conv2d:
//
//	y[Cout, To, Ho, Wo] = conv(zeros(PadT) ⊕ Prev ⊕ X, W) + Bias (+ Add)
//
// X is [Cin, T, H, W] and Prev [Cin, P, H, W] (a causal conv's cache of earlier frames; nil when P = 0).
// The conv reads each frame nearest-upsampled 2× when Upsample2x and zero-padded by PadTop … PadRight
// pixels of the (upsampled) frame; there is never time padding behind. To = (PadT + P + T − KT)/StrideT + 1,
// Ho = (Hin + PadTop + PadBottom − KH)/Stride + 1 with Hin = H or 2H, Wo likewise.
type ConvArgs struct {
	Y      Mem       // [Cout, To, Ho, Wo], of Type
	X      Mem       // [Cin, T, H, W], of Type
	Prev   Mem       // [Cin, P, H, W] of Type, or nil with P = 0
	Weight Mem       // the packed (tap-major) bf16 weight [Cout, Kp] made by PackConvWeight
	Bias   Mem       // f32 [Cout], or nil
	Add    Mem       // of Y's shape and Type, or nil; may be Y itself (the residual added in place)
	Type   gguf.Type // F32 or BF16: the element type of X, Prev, Y and Add

	Cin, T, H, W, P  int
	Cout, KT, KH, KW int

	PadT                                 int
	PadTop, PadBottom, PadLeft, PadRight int
	StrideT, Stride                      int // 0 means 1
	Upsample2x                           bool
}

// ConvPackedK is the row length of a packed conv weight: K = cin·kt·kh·kw rounded up to a multiple of 8,
// so that every row starts 16-byte aligned.
func ConvPackedK(cin, kt, kh, kw int) int {
	k := cin * kt * kh * kw
	return (k + 7) / 8 * 8
}

// convMaxK bounds K = Cin·KT·KH·KW: the kernel's index division is exact below 2^16.
const convMaxK = 1 << 16

// convGeom is a checked convolution's derived sizes.
type convGeom struct {
	To, Ho, Wo int
	K, Kp      int
	N          int64 // output pixels To·Ho·Wo
	bm         int   // output channels per CTA
	ctas       int64
}

// Out returns the output's frames, rows and columns, or an error when the arguments are inconsistent.
func (a ConvArgs) Out() (to, ho, wo int, err error) {
	g, err := a.geometry()
	return g.To, g.Ho, g.Wo, err
}

// geometry checks the shape arguments (not the memory) and derives the output size and launch shape.
func (a ConvArgs) geometry() (convGeom, error) {
	var g convGeom
	if a.Cin <= 0 || a.T <= 0 || a.H <= 0 || a.W <= 0 || a.P < 0 || a.Cout <= 0 || a.KT <= 0 || a.KH <= 0 || a.KW <= 0 {
		return g, fmt.Errorf("cuda: conv3d: bad shape Cin=%d T=%d H=%d W=%d P=%d Cout=%d kernel %d×%d×%d",
			a.Cin, a.T, a.H, a.W, a.P, a.Cout, a.KT, a.KH, a.KW)
	}
	if a.PadT < 0 || a.PadTop < 0 || a.PadBottom < 0 || a.PadLeft < 0 || a.PadRight < 0 || a.StrideT < 0 || a.Stride < 0 {
		return g, fmt.Errorf("cuda: conv3d: negative padding or stride (pad t=%d top=%d bottom=%d left=%d right=%d, stride t=%d s=%d)",
			a.PadT, a.PadTop, a.PadBottom, a.PadLeft, a.PadRight, a.StrideT, a.Stride)
	}
	st, ss := max(a.StrideT, 1), max(a.Stride, 1)
	hin, win := a.H, a.W
	if a.Upsample2x {
		hin, win = 2*a.H, 2*a.W
	}
	// Everything below is bounded by int32 arithmetic in the kernel.
	const lim = math.MaxInt32
	if int64(a.P+a.T)*int64(a.H)*int64(a.W) >= lim || int64(hin)+int64(a.PadTop)+int64(a.PadBottom) >= lim/4 ||
		int64(win)+int64(a.PadLeft)+int64(a.PadRight) >= lim/4 || int64(a.PadT)+int64(a.P)+int64(a.T) >= lim/4 {
		return g, fmt.Errorf("cuda: conv3d: input [%d, %d(+%d cached), %d, %d] is too large for one launch", a.Cin, a.T, a.P, a.H, a.W)
	}
	l, hp, wp := a.PadT+a.P+a.T, hin+a.PadTop+a.PadBottom, win+a.PadLeft+a.PadRight
	if l < a.KT || hp < a.KH || wp < a.KW {
		return g, fmt.Errorf("cuda: conv3d: input of %d frames (with %d cached and %d padding) of %d×%d (padded) is smaller than the kernel %d×%d×%d",
			a.T, a.P, a.PadT, hp, wp, a.KT, a.KH, a.KW)
	}
	g.To, g.Ho, g.Wo = (l-a.KT)/st+1, (hp-a.KH)/ss+1, (wp-a.KW)/ss+1
	g.N = int64(g.To) * int64(g.Ho) * int64(g.Wo)
	if g.N >= lim {
		return g, fmt.Errorf("cuda: conv3d: %d output pixels are too many for one launch", g.N)
	}
	k := int64(a.Cin) * int64(a.KT) * int64(a.KH) * int64(a.KW)
	if k >= convMaxK {
		return g, fmt.Errorf("cuda: conv3d: reduction length Cin·KT·KH·KW = %d is not below %d", k, convMaxK)
	}
	g.K, g.Kp = int(k), ConvPackedK(a.Cin, a.KT, a.KH, a.KW)
	g.bm = convTileM(a.Cout)
	g.ctas = int64((a.Cout+g.bm-1)/g.bm) * ((g.N + convTileN - 1) / convTileN)
	if g.ctas >= lim {
		return g, fmt.Errorf("cuda: conv3d: %d CTAs are too many for one launch", g.ctas)
	}
	return g, nil
}

// check validates the whole launch: shapes, element type, and that every buffer is present and large enough.
func (a ConvArgs) check() (convGeom, error) {
	g, err := a.geometry()
	if err != nil {
		return g, err
	}
	if err := checkActType("conv3d activations", a.Type, gguf.TypeF32, gguf.TypeBF16); err != nil {
		return g, err
	}
	es := elemBytes(a.Type)
	plane := int64(a.H) * int64(a.W)
	out := int64(a.Cout) * g.N * es
	for _, err := range []error{
		need("conv3d x", a.X, int64(a.Cin)*int64(a.T)*plane*es),
		need("conv3d y", a.Y, out),
		need("conv3d weight", a.Weight, int64(a.Cout)*int64(g.Kp)*2),
		needOpt("conv3d bias", a.Bias, int64(a.Cout)*4),
		needOpt("conv3d add", a.Add, out),
	} {
		if err != nil {
			return g, err
		}
	}
	if a.P > 0 {
		if err := need("conv3d prev", a.Prev, int64(a.Cin)*int64(a.P)*plane*es); err != nil {
			return g, err
		}
	} else if !a.Prev.IsNil() {
		return g, fmt.Errorf("cuda: conv3d: prev given with P = 0")
	}
	if a.Weight.Ptr%16 != 0 {
		return g, fmt.Errorf("cuda: conv3d: the packed weight must be 16-byte aligned (%#x)", a.Weight.Ptr)
	}
	if a.Y.Ptr%8 != 0 || a.X.Ptr%uintptr(es) != 0 || a.Prev.Ptr%uintptr(es) != 0 || a.Add.Ptr%uintptr(es) != 0 || a.Bias.Ptr%4 != 0 {
		return g, fmt.Errorf("cuda: conv3d: misaligned buffers (y must be 8-byte aligned, the others aligned to their elements)")
	}
	y := a.Y.Slice(0, out)
	if overlaps(y, a.X) || (a.P > 0 && overlaps(y, a.Prev)) {
		return g, fmt.Errorf("cuda: conv3d: y overlaps the input")
	}
	if !a.Add.IsNil() && overlaps(y, a.Add) && a.Add.Ptr != a.Y.Ptr {
		return g, fmt.Errorf("cuda: conv3d: y overlaps add without being the same memory")
	}
	return g, nil
}

// overlaps reports whether two non-empty ranges share a byte.
func overlaps(a, b Mem) bool {
	if a.IsNil() || b.IsNil() || a.Bytes <= 0 || b.Bytes <= 0 {
		return false
	}
	return a.Ptr < b.Ptr+uintptr(b.Bytes) && b.Ptr < a.Ptr+uintptr(a.Bytes)
}

// convTileN is the number of output pixels per CTA (BN in kernels/conv.cu), convTileK the K slice (BK).
const (
	convTileN = 128
	convTileK = 32
)

// convTilesM are the output-channel tile heights the conv kernel is built with (conv3d_<type>_<bm>).
var convTilesM = []int{128, 96, 64, 32, 16}

// convTileM picks the output-channel tile for cout channels. A CTA costs about the MMAs of its bm rows plus
// the gathering of its input tile, which costs about as much as the MMAs of convGatherRows rows; the tile
// with the least total over the CTAs of one pixel tile wins (the larger on a tie).
func convTileM(cout int) int {
	best, bestCost := 0, math.MaxInt
	for _, bm := range convTilesM {
		cost := (cout + bm - 1) / bm * (bm + convGatherRows)
		if cost < bestCost {
			best, bestCost = bm, cost
		}
	}
	return best
}

// convGatherRows is the cost of gathering one input tile in rows of MMAs (see convTileM).
const convGatherRows = 128

// Frame-attention scratch layout (Device.FrameAttention): per frame, q and k transposed to token-major
// bf16 [Lp, Cp], v zero-padded to bf16 [Cp, Lp], the output f32 [Lp, Cp], and for one chunk of queries the
// scores f32 [chunk, Lp] and probabilities bf16 [chunk, Lp]. Lp and Cp are the token count and the channel
// count rounded up to multiples of 8, as the GEMM needs.
type attnPlan struct {
	C, L, Cp, Lp, Chunk int
	qt, kt, vp, o, s, p int64 // byte offsets into the scratch
	Bytes               int64
}

// attnChunkBytes bounds the scores and probabilities of one chunk of queries (6 bytes a score).
const attnChunkBytes = 256 << 20

func align256(n int64) int64 { return (n + 255) &^ 255 }

func planAttention(c, l int) (attnPlan, error) {
	if c <= 0 || l <= 0 {
		return attnPlan{}, fmt.Errorf("cuda: frame attention: bad shape C=%d tokens=%d", c, l)
	}
	p := attnPlan{C: c, L: l, Cp: (c + 7) / 8 * 8, Lp: (l + 7) / 8 * 8}
	if int64(p.Lp)*int64(p.Cp) >= math.MaxInt32 || p.Lp >= 1<<21 {
		return attnPlan{}, fmt.Errorf("cuda: frame attention: %d tokens × %d channels is too large", l, c)
	}
	chunk := attnChunkBytes / (6 * int64(p.Lp))
	chunk = min(max(16, chunk), int64(p.Lp)) / 8 * 8
	p.Chunk = int(chunk)
	lc, lp := int64(p.Lp)*int64(p.Cp), int64(p.Lp)
	off := int64(0)
	take := func(n int64) int64 { o := off; off += align256(n); return o }
	p.qt = take(lc * 2)
	p.kt = take(lc * 2)
	p.vp = take(lc * 2)
	p.o = take(lc * 4)
	p.s = take(chunk * lp * 4)
	p.p = take(chunk * lp * 2)
	p.Bytes = off
	return p, nil
}

// FrameAttentionScratch is the scratch size Device.FrameAttention needs for c channels and hw pixels per
// frame (0 with an error for a bad shape).
func FrameAttentionScratch(c, hw int) (int64, error) {
	p, err := planAttention(c, hw)
	return p.Bytes, err
}

// copyWord picks the widest word (16, 4 or 2 bytes) that divides a plane of planeBytes and both pointers.
func copyWord(planeBytes int64, dst, src uintptr) (name string, size int64) {
	switch {
	case planeBytes%16 == 0 && dst%16 == 0 && src%16 == 0:
		return "u128", 16
	case planeBytes%4 == 0 && dst%4 == 0 && src%4 == 0:
		return "u32", 4
	}
	return "u16", 2
}

// FrameCopy is one Device.CopyFrames: for c < C and f < N,
//
//	Dst frame (c·DstT + DstT0 + f·DstStep) ← Src frame (c·SrcT + SrcT0 + f)
//
// of Dst [C, DstT, plane] and Src [C, SrcT, plane] (planes of Plane elements of Type). Frames, ConcatFrames
// and InterleaveFrames are one or two of these.
type FrameCopy struct {
	Dst, Src             Mem
	Type                 gguf.Type // F32 or BF16 (any 2- or 4-byte element)
	C, N, Plane          int
	SrcT, SrcT0          int
	DstT, DstT0, DstStep int
}

func (f FrameCopy) check() error {
	if f.C <= 0 || f.N <= 0 || f.Plane <= 0 || f.DstStep <= 0 {
		return fmt.Errorf("cuda: copy frames: bad shape C=%d frames=%d plane=%d step=%d", f.C, f.N, f.Plane, f.DstStep)
	}
	if err := checkActType("copy frames", f.Type, gguf.TypeF32, gguf.TypeBF16, gguf.TypeF16); err != nil {
		return err
	}
	if f.SrcT0 < 0 || f.SrcT0+f.N > f.SrcT {
		return fmt.Errorf("cuda: copy frames: source frames [%d, %d) outside %d", f.SrcT0, f.SrcT0+f.N, f.SrcT)
	}
	if last := f.DstT0 + (f.N-1)*f.DstStep; f.DstT0 < 0 || last >= f.DstT {
		return fmt.Errorf("cuda: copy frames: destination frames %d … %d outside %d", f.DstT0, last, f.DstT)
	}
	if int64(f.C)*int64(max(f.SrcT, f.DstT)) >= math.MaxInt32 {
		return fmt.Errorf("cuda: copy frames: %d channels × %d frames is too many", f.C, max(f.SrcT, f.DstT))
	}
	es := elemBytes(f.Type)
	pb := int64(f.Plane) * es
	if err := need("copy frames source", f.Src, int64(f.C)*int64(f.SrcT)*pb); err != nil {
		return err
	}
	if err := need("copy frames destination", f.Dst, int64(f.C)*int64(f.DstT)*pb); err != nil {
		return err
	}
	if f.Dst.Ptr%uintptr(es) != 0 || f.Src.Ptr%uintptr(es) != 0 {
		return fmt.Errorf("cuda: copy frames: misaligned buffers")
	}
	if overlaps(f.Dst.Slice(0, int64(f.C)*int64(f.DstT)*pb), f.Src.Slice(0, int64(f.C)*int64(f.SrcT)*pb)) {
		return fmt.Errorf("cuda: copy frames: source and destination overlap")
	}
	return nil
}
