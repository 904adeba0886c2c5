//go:build cuda

package cuda

import (
	"fmt"
	"slices"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// This file implements engine.VideoOps, the video ops of the WAN VAE on [C, T, H, W] tensors, with the kernels of
// conv.go. Every op returns a new activation of its (first) input's dtype: the VAE's inputs come from
// FromHost, so it runs with F32 activations (as the reference, which computes the VAE in fp32), while the
// convolutions and the attention GEMMs take bf16 operands with f32 accumulation on the tensor cores.
//
// Conv weights are packed (PackConvWeight: bf16, tap-major) into a pool temporary at each use: reading the
// weight once costs microseconds against the milliseconds of the conv, and keeps no second copy of the
// model in device memory.

var _ engine.VideoOps = (*Backend)(nil)

// video returns x as an activation [C, T, H, W].
func (b *Backend) video(x engine.Tensor, what string) (*Tensor, error) {
	t, err := b.activation(x, what)
	if err != nil {
		return nil, err
	}
	if len(t.shape) != 4 {
		return nil, fmt.Errorf("%s must be [C, T, H, W], got %v", what, t.shape)
	}
	return t, nil
}

// convWeight returns w [Cout, Cin, KT, KH, KW] (a weight of any type the GPU reads, or an activation) as
// the packed bf16 weight [Cout, kp] in a temporary. Runs on the CUDA goroutine.
func (b *Backend) convWeight(w *Tensor, kp int, ts *temps) (Mem, error) {
	cout, cin, taps := w.shape[0], w.shape[1], w.shape[2]*w.shape[3]*w.shape[4]
	src, st := w.mem(), w.gtype()
	if w.st.weight {
		if st = w.st.wtype; st != gguf.TypeF32 && st != gguf.TypeF16 && st != gguf.TypeBF16 {
			// A quantized conv weight (not expected in VAE files): dequantize to f32 first.
			m, err := b.as(w, engine.F32, ts)
			if err != nil {
				return Mem{}, err
			}
			src, st = m, gguf.TypeF32
		}
	}
	m, err := b.tmp(ts, int64(cout)*int64(kp)*2)
	if err != nil {
		return Mem{}, err
	}
	return m, b.d.PackConvWeight(nil, m, src, st, cout, cin, taps, kp)
}

// vaeOp runs fn for op on the CUDA goroutine with a set of temporaries released afterwards; fn returns the
// op's new activation, which is returned to the pool when fn fails after making it. A failure panics with
// *engine.Error, as every op does.
func (b *Backend) vaeOp(op string, fn func(ts *temps) (*Tensor, error)) engine.Tensor {
	var y *Tensor
	b.run(op, func() error {
		var ts temps
		defer ts.release(b.pool)
		var err error
		if y, err = fn(&ts); err != nil {
			b.drop(y)
			y = nil
		}
		return err
	})
	return y
}

// Conv3d implements engine.VideoOps.Conv3d with the implicit-GEMM kernel.
func (b *Backend) Conv3d(xx, pp, ww, bb engine.Tensor, o engine.ConvOpts) engine.Tensor {
	return b.vaeOp("Conv3d", func(ts *temps) (*Tensor, error) {
		x, err := b.video(xx, "x")
		if err != nil {
			return nil, err
		}
		dt := x.st.dtype
		a := ConvArgs{X: x.mem(), Type: ggmlOf(dt), Cin: x.shape[0], T: x.shape[1], H: x.shape[2], W: x.shape[3],
			PadT: o.PadT, PadTop: o.PadTop, PadBottom: o.PadBottom, PadLeft: o.PadLeft, PadRight: o.PadRight,
			StrideT: o.StrideT, Stride: o.Stride, Upsample2x: o.Upsample2x}
		if pp != nil {
			p, err := b.video(pp, "prev")
			if err != nil {
				return nil, err
			}
			if p.shape[0] != a.Cin || p.shape[2] != a.H || p.shape[3] != a.W {
				return nil, fmt.Errorf("prev %v does not match x %v", p.shape, x.shape)
			}
			if a.P = p.shape[1]; a.P > 0 {
				if a.Prev, err = b.as(p, dt, ts); err != nil {
					return nil, err
				}
			}
		}
		w, err := b.tensor(ww)
		if err != nil {
			return nil, fmt.Errorf("weight: %w", err)
		}
		if len(w.shape) != 5 || w.shape[1] != a.Cin {
			return nil, fmt.Errorf("weight %v does not match x %v (want [Cout, %d, KT, KH, KW])", w.shape, x.shape, a.Cin)
		}
		a.Cout, a.KT, a.KH, a.KW = w.shape[0], w.shape[2], w.shape[3], w.shape[4]
		to, ho, wo, err := a.Out()
		if err != nil {
			return nil, err
		}
		if a.Weight, err = b.convWeight(w, ConvPackedK(a.Cin, a.KT, a.KH, a.KW), ts); err != nil {
			return nil, err
		}
		if a.Bias, err = b.vector(bb, a.Cout, "bias", ts); err != nil {
			return nil, err
		}
		shape := []int{a.Cout, to, ho, wo}
		if o.Add != nil {
			ad, err := b.tensor(o.Add)
			if err != nil {
				return nil, fmt.Errorf("add: %w", err)
			}
			if !slices.Equal(ad.shape, shape) {
				return nil, fmt.Errorf("add %v does not match the output %v", ad.shape, shape)
			}
			if a.Add, err = b.as(ad, dt, ts); err != nil {
				return nil, err
			}
		}
		y, err := b.newAct(shape, dt)
		if err != nil {
			return nil, err
		}
		a.Y = y.mem()
		return y, b.d.Conv3d(nil, a)
	})
}

// ChannelNorm implements engine.VideoOps.ChannelNorm.
func (b *Backend) ChannelNorm(xx, gg engine.Tensor, silu bool) engine.Tensor {
	return b.vaeOp("ChannelNorm", func(ts *temps) (*Tensor, error) {
		x, err := b.video(xx, "x")
		if err != nil {
			return nil, err
		}
		c := x.shape[0]
		g, err := b.vector(gg, c, "gamma", ts)
		if err != nil {
			return nil, err
		}
		y, err := b.newAct(x.shape, x.st.dtype)
		if err != nil {
			return nil, err
		}
		if n := int64(x.numel() / max(c, 1)); n > 0 && c > 0 {
			err = b.d.ChannelNorm(nil, y.mem(), x.mem(), x.gtype(), g, c, n, silu)
		}
		return y, err
	})
}

// FrameAttention implements engine.VideoOps.FrameAttention.
func (b *Backend) FrameAttention(qq engine.Tensor) engine.Tensor {
	return b.vaeOp("FrameAttention", func(ts *temps) (*Tensor, error) {
		q, err := b.video(qq, "qkv")
		if err != nil {
			return nil, err
		}
		c3, t, h, w := q.shape[0], q.shape[1], q.shape[2], q.shape[3]
		if c3%3 != 0 {
			return nil, fmt.Errorf("qkv %v: channels are not a multiple of 3", q.shape)
		}
		c := c3 / 3
		y, err := b.newAct([]int{c, t, h, w}, q.st.dtype)
		if err != nil || c*t*h*w == 0 {
			return y, err
		}
		n, err := FrameAttentionScratch(c, h*w)
		if err != nil {
			return y, err
		}
		scratch, err := b.tmp(ts, n)
		if err != nil {
			return y, err
		}
		return y, b.d.FrameAttention(nil, y.mem(), q.mem(), q.gtype(), c, t, h, w, scratch)
	})
}

// copyFrames queues copies of n frames of src [C, srcT, plane] from frame src0 into dst [C, dstT, plane]
// at frames dst0, dst0+step, …; nothing for n = 0. Runs on the CUDA goroutine.
func (b *Backend) copyFrames(dst Mem, dstT, dst0, step int, src Mem, srcT, src0 int, t gguf.Type, c, n, plane int) error {
	if n == 0 || c == 0 || plane == 0 {
		return nil
	}
	return b.d.CopyFrames(nil, FrameCopy{Dst: dst, Src: src, Type: t, C: c, N: n, Plane: plane,
		SrcT: srcT, SrcT0: src0, DstT: dstT, DstT0: dst0, DstStep: step})
}

// Frames implements engine.VideoOps.Frames.
func (b *Backend) Frames(xx engine.Tensor, from, to int) engine.Tensor {
	return b.vaeOp("Frames", func(*temps) (*Tensor, error) {
		x, err := b.video(xx, "x")
		if err != nil {
			return nil, err
		}
		c, t, h, w := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
		if from < 0 || to > t || from > to {
			return nil, fmt.Errorf("frames [%d, %d) of %v", from, to, x.shape)
		}
		y, err := b.newAct([]int{c, to - from, h, w}, x.st.dtype)
		if err != nil {
			return nil, err
		}
		return y, b.copyFrames(y.mem(), to-from, 0, 1, x.mem(), t, from, x.gtype(), c, to-from, h*w)
	})
}

// ConcatFrames implements engine.VideoOps.ConcatFrames; the result has a's dtype.
func (b *Backend) ConcatFrames(aa, bb engine.Tensor) engine.Tensor {
	return b.vaeOp("ConcatFrames", func(ts *temps) (*Tensor, error) {
		a, err := b.video(aa, "a")
		if err != nil {
			return nil, err
		}
		c2, err := b.video(bb, "b")
		if err != nil {
			return nil, err
		}
		c, ta, h, w := a.shape[0], a.shape[1], a.shape[2], a.shape[3]
		tb := c2.shape[1]
		if c2.shape[0] != c || c2.shape[2] != h || c2.shape[3] != w {
			return nil, fmt.Errorf("%v and %v differ beyond the frame count", a.shape, c2.shape)
		}
		bm, err := b.as(c2, a.st.dtype, ts)
		if err != nil {
			return nil, err
		}
		y, err := b.newAct([]int{c, ta + tb, h, w}, a.st.dtype)
		if err != nil {
			return nil, err
		}
		if err := b.copyFrames(y.mem(), ta+tb, 0, 1, a.mem(), ta, 0, a.gtype(), c, ta, h*w); err != nil {
			return y, err
		}
		return y, b.copyFrames(y.mem(), ta+tb, ta, 1, bm, tb, 0, a.gtype(), c, tb, h*w)
	})
}

// InterleaveFrames implements engine.VideoOps.InterleaveFrames.
func (b *Backend) InterleaveFrames(xx engine.Tensor) engine.Tensor {
	return b.vaeOp("InterleaveFrames", func(*temps) (*Tensor, error) {
		x, err := b.video(xx, "x")
		if err != nil {
			return nil, err
		}
		c2, t, h, w := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
		if c2%2 != 0 {
			return nil, fmt.Errorf("x %v: odd channel count", x.shape)
		}
		c := c2 / 2
		y, err := b.newAct([]int{c, 2 * t, h, w}, x.st.dtype)
		if err != nil {
			return nil, err
		}
		half := int64(c) * int64(t) * int64(h) * int64(w) * dtypeBytes(x.st.dtype)
		xm := x.mem()
		if err := b.copyFrames(y.mem(), 2*t, 0, 2, xm, t, 0, x.gtype(), c, t, h*w); err != nil || half == 0 {
			return y, err
		}
		return y, b.copyFrames(y.mem(), 2*t, 1, 2, xm.Slice(half, xm.Bytes-half), t, 0, x.gtype(), c, t, h*w)
	})
}
