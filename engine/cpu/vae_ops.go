package cpu

import (
	"math"
	"slices"

	"github.com/wan22/wan22/engine"
)

// This file implements engine.VideoOps: the video ops of the WAN VAE on [C, T, H, W]
// float32 tensors.

var _ engine.VideoOps = (*Backend)(nil)

// video4 checks that x is an activation [C, T, H, W] and returns its dims.
func (b *Backend) video4(x *Tensor, op, what string) (c, t, h, w int) {
	if x.isWeight() || len(x.shape) != 4 {
		engine.Failf(op, "%s must be an activation [C, T, H, W], got %v", what, x.shape)
	}
	return x.shape[0], x.shape[1], x.shape[2], x.shape[3]
}

// convBlock is the number of output channels one conv task accumulates at once.
const convBlock = 4

// convSegment bounds the output pixels one conv task accumulates at once, so
// that its accumulators and the input rows they read stay in cache.
const convSegment = 2048

// Conv3d implements engine.VideoOps.Conv3d.
//
// Each output frame is computed from a zero-padded copy of the KT input
// frames it reads (nearest-upsampled while copying when asked), so the inner
// loops never test bounds. With spatial stride 1 the output plane is
// computed in the padded width: for kernel tap (kh, kw) the input of output
// pixel i of the flattened plane is padded pixel i + kh·Wp + kw, so every tap
// is one long contiguous multiply-add over the plane (the Wp − Wo extra
// columns of each row are computed and dropped). Tasks are blocks of 4
// output channels × plane segments, run in parallel; a stop hook (WithStop)
// is consulted before each task.
func (b *Backend) Conv3d(xx, pp, ww, bb engine.Tensor, o engine.ConvOpts) engine.Tensor {
	const op = "Conv3d"
	x := b.t(xx, op)
	Cin, T, H, W := b.video4(x, op, "x")
	var prev []float32
	P := 0
	if pp != nil {
		p := b.t(pp, op)
		pc, pt, ph, pw := b.video4(p, op, "prev")
		if pc != Cin || ph != H || pw != W {
			engine.Failf(op, "prev %v does not match x %v", p.shape, x.shape)
		}
		P, prev = pt, p.data
	}
	w := b.t(ww, op)
	if len(w.shape) != 5 || w.shape[1] != Cin {
		engine.Failf(op, "weight %v does not match x %v (want [Cout, %d, KT, KH, KW])", w.shape, x.shape, Cin)
	}
	Cout, KT, KH, KW := w.shape[0], w.shape[2], w.shape[3], w.shape[4]
	wd := b.f32(w, op)
	var bias []float32
	if bb != nil {
		bt := b.t(bb, op)
		bias = b.f32(bt, op)
		if len(bias) != Cout {
			engine.Failf(op, "bias %v does not match weight %v", bt.shape, w.shape)
		}
	}
	st, ss := max(o.StrideT, 1), max(o.Stride, 1)
	if o.PadT < 0 || o.PadTop < 0 || o.PadBottom < 0 || o.PadLeft < 0 || o.PadRight < 0 {
		engine.Failf(op, "negative padding %+v", o)
	}
	Hin, Win := H, W
	if o.Upsample2x {
		Hin, Win = 2*H, 2*W
	}
	Hp, Wp := Hin+o.PadTop+o.PadBottom, Win+o.PadLeft+o.PadRight
	L := o.PadT + P + T
	if L < KT || Hp < KH || Wp < KW {
		engine.Failf(op, "input %v (+%d cached, +%d padding frames) is smaller than kernel %v", x.shape, P, o.PadT, w.shape)
	}
	To, Ho, Wo := (L-KT)/st+1, (Hp-KH)/ss+1, (Wp-KW)/ss+1
	y := newTensor([]int{Cout, To, Ho, Wo})
	var add []float32
	if o.Add != nil {
		a := b.t(o.Add, op)
		if !slices.Equal(a.shape, y.shape) {
			engine.Failf(op, "Add %v does not match the output %v", a.shape, y.shape)
		}
		add = b.f32(a, op)
	}
	xd := b.f32(x, op)

	// frame returns the [H·W] plane of channel ci at logical input frame li,
	// or nil for a zero padding frame.
	frame := func(ci, li int) []float32 {
		switch {
		case li < o.PadT:
			return nil
		case li < o.PadT+P:
			f := li - o.PadT
			return prev[(ci*P+f)*H*W : (ci*P+f+1)*H*W]
		default:
			f := li - o.PadT - P
			return xd[(ci*T+f)*H*W : (ci*T+f+1)*H*W]
		}
	}

	plane := Hp * Wp
	win := make([]float32, Cin*KT*plane) // padded input window: [Cin, KT, Hp, Wp]
	zero := make([]bool, KT)             // window frame kt is all padding
	// Flattened output range in the padded width (stride 1): pixel i = ho·Wp + wo.
	nflat := (Ho-1)*Wp + Wo
	nseg := (nflat + convSegment - 1) / convSegment
	if ss != 1 {
		nseg = (Ho + 7) / 8 // segments of 8 output rows
	}
	nblk := (Cout + convBlock - 1) / convBlock
	yplane := Ho * Wo
	stop := b.halt()
	for to := range To {
		for kt := range KT {
			zero[kt] = to*st+kt < o.PadT
		}
		b.parallel(Cin, func(lo, hi int) {
			for ci := lo; ci < hi; ci++ {
				for kt := range KT {
					dst := win[(ci*KT+kt)*plane : (ci*KT+kt+1)*plane]
					if zero[kt] {
						continue
					}
					padFrame(dst, frame(ci, to*st+kt), H, W, Wp, o)
				}
			}
		})
		b.parallel(nblk*nseg, func(lo, hi int) {
			accLen := min(convSegment, nflat)
			if ss != 1 {
				accLen = 8 * Wo
			}
			var acc [convBlock][]float32
			for j := range acc {
				acc[j] = make([]float32, accLen)
			}
			for task := lo; task < hi; task++ {
				if stop.now() {
					return
				}
				blk, seg := task/nseg, task%nseg
				co0 := blk * convBlock
				ncol := min(convBlock, Cout-co0)
				var s0, n int
				if ss == 1 {
					s0 = seg * convSegment
					n = min(convSegment, nflat-s0)
				} else {
					s0 = seg * 8
					n = min(8, Ho-s0) * Wo
				}
				for j := range convBlock {
					a := acc[j][:n]
					v := float32(0)
					if j < ncol && bias != nil {
						v = bias[co0+j]
					}
					for i := range a {
						a[i] = v
					}
				}
				for ci := range Cin {
					for kt := range KT {
						if zero[kt] {
							continue
						}
						in := win[(ci*KT+kt)*plane : (ci*KT+kt+1)*plane]
						for kh := range KH {
							wbase := (((co0*Cin+ci)*KT+kt)*KH + kh) * KW
							wstride := Cin * KT * KH * KW // from one output channel to the next
							if ss == 1 && KW == 3 {
								var w3 [convBlock][3]float32
								for j := range ncol {
									copy(w3[j][:], wd[wbase+j*wstride:wbase+j*wstride+3])
								}
								off := s0 + kh*Wp
								tap3x4(&acc, &w3, in[off:off+n+2])
								continue
							}
							for kw := range KW {
								var wv [convBlock]float32
								for j := range ncol {
									wv[j] = wd[wbase+j*wstride+kw]
								}
								if ss == 1 {
									off := s0 + kh*Wp + kw
									axpy4(&acc, wv, in[off:off+n])
								} else {
									strided4(&acc, wv, in, s0, n/Wo, Wo, Wp, ss, kh, kw)
								}
							}
						}
					}
				}
				// Store the valid columns of the segment.
				for j := range ncol {
					co := co0 + j
					out := y.data[(co*To+to)*yplane : (co*To+to+1)*yplane]
					var res []float32
					if add != nil {
						res = add[(co*To+to)*yplane : (co*To+to+1)*yplane]
					}
					a := acc[j][:n]
					if ss != 1 {
						dst := out[s0*Wo : s0*Wo+n]
						copy(dst, a)
						if res != nil {
							for i, r := range res[s0*Wo : s0*Wo+n] {
								dst[i] += r
							}
						}
						continue
					}
					for i := 0; i < n; {
						p := s0 + i
						ho, wo := p/Wp, p%Wp
						if wo >= Wo { // padding columns: skip to the next row
							i += Wp - wo
							continue
						}
						m := min(Wo-wo, n-i)
						dst := out[ho*Wo+wo : ho*Wo+wo+m]
						copy(dst, a[i:i+m])
						if res != nil {
							for k, r := range res[ho*Wo+wo : ho*Wo+wo+m] {
								dst[k] += r
							}
						}
						i += m
					}
				}
			}
		})
		stop.check(op)
	}
	return y
}

// padFrame writes the plane src [H, W] into dst [Hp, Wp] at the offset given
// by o's top/left padding, nearest-upsampled 2× when o.Upsample2x, leaving
// zeros around it.
func padFrame(dst, src []float32, H, W, Wp int, o engine.ConvOpts) {
	clear(dst)
	if !o.Upsample2x {
		for h := range H {
			copy(dst[(h+o.PadTop)*Wp+o.PadLeft:], src[h*W:(h+1)*W])
		}
		return
	}
	for h := range 2 * H {
		row := dst[(h+o.PadTop)*Wp+o.PadLeft : (h+o.PadTop)*Wp+o.PadLeft+2*W]
		s := src[(h/2)*W : (h/2+1)*W]
		for i, v := range s {
			row[2*i] = v
			row[2*i+1] = v
		}
	}
}

// axpy4 does acc[j][i] += w[j]·in[i] for the 4 accumulator rows and
// i < len(in).
func axpy4(acc *[convBlock][]float32, w [convBlock]float32, in []float32) {
	a0, a1, a2, a3 := acc[0][:len(in)], acc[1][:len(in)], acc[2][:len(in)], acc[3][:len(in)]
	w0, w1, w2, w3 := w[0], w[1], w[2], w[3]
	for i, v := range in {
		a0[i] += w0 * v
		a1[i] += w1 * v
		a2[i] += w2 * v
		a3[i] += w3 * v
	}
}

// tap3x4 accumulates a row of 3 kernel taps into the 4 accumulator rows:
// acc[j][i] += w[j][0]·in[i] + w[j][1]·in[i+1] + w[j][2]·in[i+2] for
// i < len(in)−2. Keeping the three inputs in registers reads each input and
// each accumulator once per three taps instead of three times.
func tap3x4(acc *[convBlock][]float32, w *[convBlock][3]float32, in []float32) {
	x0, x1 := in[0], in[1]
	src := in[2:]
	a0, a1, a2, a3 := acc[0][:len(src)], acc[1][:len(src)], acc[2][:len(src)], acc[3][:len(src)]
	for i, x2 := range src {
		a0[i] += w[0][0]*x0 + w[0][1]*x1 + w[0][2]*x2
		a1[i] += w[1][0]*x0 + w[1][1]*x1 + w[1][2]*x2
		a2[i] += w[2][0]*x0 + w[2][1]*x1 + w[2][2]*x2
		a3[i] += w[3][0]*x0 + w[3][1]*x1 + w[3][2]*x2
		x0, x1 = x1, x2
	}
}

// strided4 accumulates one kernel tap (kh, kw) of a strided conv into the 4
// accumulator rows, for output rows [r0, r0+rows) of width Wo; in is one
// padded input plane of width Wp.
func strided4(acc *[convBlock][]float32, w [convBlock]float32, in []float32, r0, rows, Wo, Wp, s, kh, kw int) {
	for r := range rows {
		base := ((r0+r)*s+kh)*Wp + kw
		a0, a1, a2, a3 := acc[0][r*Wo:(r+1)*Wo], acc[1][r*Wo:(r+1)*Wo], acc[2][r*Wo:(r+1)*Wo], acc[3][r*Wo:(r+1)*Wo]
		for i := range a0 {
			v := in[base+i*s]
			a0[i] += w[0] * v
			a1[i] += w[1] * v
			a2[i] += w[2] * v
			a3[i] += w[3] * v
		}
	}
}

// ChannelNorm implements engine.VideoOps.ChannelNorm.
func (b *Backend) ChannelNorm(xx, gg engine.Tensor, silu bool) engine.Tensor {
	const op = "ChannelNorm"
	x := b.t(xx, op)
	C, T, H, W := b.video4(x, op, "x")
	g := b.t(gg, op)
	gamma := b.f32(g, op)
	if len(gamma) != C {
		engine.Failf(op, "gamma %v does not match %d channels", g.shape, C)
	}
	N := T * H * W
	y := newTensor(x.shape)
	sqrtC := math.Sqrt(float64(C))
	const seg = 1024
	stop := b.halt()
	b.parallel((N+seg-1)/seg, func(lo, hi int) {
		ss := make([]float64, seg)
		for s := lo; s < hi; s++ {
			if stop.now() {
				return
			}
			p0, p1 := s*seg, min((s+1)*seg, N)
			acc := ss[:p1-p0]
			clear(acc)
			for c := range C {
				for i, v := range x.data[c*N+p0 : c*N+p1] {
					acc[i] += float64(v) * float64(v)
				}
			}
			for i, v := range acc {
				acc[i] = sqrtC / max(math.Sqrt(v), 1e-12)
			}
			for c := range C {
				gc := float64(gamma[c])
				out := y.data[c*N+p0 : c*N+p1]
				for i, v := range x.data[c*N+p0 : c*N+p1] {
					r := float32(float64(v) * acc[i] * gc)
					if silu {
						r = SiLU(r)
					}
					out[i] = r
				}
			}
		}
	})
	stop.check(op)
	return y
}

// FrameAttention implements engine.VideoOps.FrameAttention with the core Attention:
// each frame's q, k and v are transposed to token-major [H·W, C].
func (b *Backend) FrameAttention(qq engine.Tensor) engine.Tensor {
	const op = "FrameAttention"
	qkv := b.t(qq, op)
	C3, T, H, W := b.video4(qkv, op, "qkv")
	if C3%3 != 0 {
		engine.Failf(op, "qkv %v: channels are not a multiple of 3", qkv.shape)
	}
	C, N := C3/3, H*W
	y := newTensor([]int{C, T, H, W})
	for t := range T {
		var qkvT [3]*Tensor
		for part := range 3 {
			m := newTensor([]int{N, C})
			for c := range C {
				src := qkv.data[((part*C+c)*T+t)*N : ((part*C+c)*T+t+1)*N]
				for i, v := range src {
					m.data[i*C+c] = v
				}
			}
			qkvT[part] = m
		}
		o := b.t(b.Attention(qkvT[0], qkvT[1], qkvT[2], engine.AttentionOpts{Heads: 1, Scale: float32(1 / math.Sqrt(float64(C)))}), op)
		for c := range C {
			dst := y.data[(c*T+t)*N : (c*T+t+1)*N]
			for i := range dst {
				dst[i] = o.data[i*C+c]
			}
		}
	}
	return y
}

// Frames implements engine.VideoOps.Frames.
func (b *Backend) Frames(xx engine.Tensor, from, to int) engine.Tensor {
	const op = "Frames"
	x := b.t(xx, op)
	C, T, H, W := b.video4(x, op, "x")
	if from < 0 || to > T || from > to {
		engine.Failf(op, "frames [%d, %d) of %v", from, to, x.shape)
	}
	n, hw := to-from, H*W
	y := newTensor([]int{C, n, H, W})
	for c := range C {
		copy(y.data[c*n*hw:(c+1)*n*hw], x.data[(c*T+from)*hw:(c*T+to)*hw])
	}
	return y
}

// ConcatFrames implements engine.VideoOps.ConcatFrames.
func (b *Backend) ConcatFrames(aa, bb engine.Tensor) engine.Tensor {
	const op = "ConcatFrames"
	a, c := b.t(aa, op), b.t(bb, op)
	C, Ta, H, W := b.video4(a, op, "a")
	C2, Tb, H2, W2 := b.video4(c, op, "b")
	if C != C2 || H != H2 || W != W2 {
		engine.Failf(op, "%v and %v differ beyond the frame count", a.shape, c.shape)
	}
	hw := H * W
	T := Ta + Tb
	y := newTensor([]int{C, T, H, W})
	for ch := range C {
		copy(y.data[ch*T*hw:], a.data[ch*Ta*hw:(ch+1)*Ta*hw])
		copy(y.data[(ch*T+Ta)*hw:], c.data[ch*Tb*hw:(ch+1)*Tb*hw])
	}
	return y
}

// InterleaveFrames implements engine.VideoOps.InterleaveFrames.
func (b *Backend) InterleaveFrames(xx engine.Tensor) engine.Tensor {
	const op = "InterleaveFrames"
	x := b.t(xx, op)
	C2, T, H, W := b.video4(x, op, "x")
	if C2%2 != 0 {
		engine.Failf(op, "x %v: odd channel count", x.shape)
	}
	C, hw := C2/2, H*W
	y := newTensor([]int{C, 2 * T, H, W})
	for half := range 2 {
		for c := range C {
			for t := range T {
				copy(y.data[(c*2*T+2*t+half)*hw:(c*2*T+2*t+half+1)*hw], x.data[((half*C+c)*T+t)*hw:((half*C+c)*T+t+1)*hw])
			}
		}
	}
	return y
}
