//go:build cuda

package cuda

import (
	"fmt"
	"math"

	"github.com/wan22/wan22/gguf"
)

// Launchers of the VAE kernels (kernels/conv.cu, kernels/vae.cu). The argument checks live in
// conv_args.go, which builds without the cuda tag.

// PackConvWeight converts a conv weight [rows, cin, taps] of type st (F32, F16 or BF16; PyTorch's
// [Cout, Cin, KT, KH, KW] with taps = KT·KH·KW) into the packed bf16 weight [rows, kp] that Conv3d reads:
// column k = tap·cin + ci holds weight (ci, tap) (tap-major, so that a slice of 32 columns of a conv with
// cin % 32 == 0 is one kernel tap), zeros in columns cin·taps ≤ k < kp. kp must be ConvPackedK of the
// conv (cin·taps rounded up to a multiple of 8).
func (d *Device) PackConvWeight(s *Stream, dst, src Mem, st gguf.Type, rows, cin, taps, kp int) error {
	k := cin * taps
	if rows <= 0 || cin <= 0 || taps <= 0 || kp < k || kp%8 != 0 || kp-k >= 8 || k >= convMaxK {
		return fmt.Errorf("cuda: pack conv weight: bad shape rows=%d cin=%d taps=%d kp=%d (kp must be cin·taps rounded up to a multiple of 8, below %d)", rows, cin, taps, kp, convMaxK)
	}
	if err := checkActType("pack conv weight source", st, gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16); err != nil {
		return err
	}
	n := int64(rows) * int64(kp)
	if err := firstErr(need("pack conv weight source", src, int64(rows)*int64(k)*elemBytes(st)), need("pack conv weight destination", dst, n*2)); err != nil {
		return err
	}
	if dst.Ptr%16 != 0 {
		return fmt.Errorf("cuda: pack conv weight: destination must be 16-byte aligned (%#x)", dst.Ptr)
	}
	if overlaps(dst.Slice(0, n*2), src) {
		return fmt.Errorf("cuda: pack conv weight: destination overlaps the source")
	}
	name := map[gguf.Type]string{gguf.TypeF32: "f32", gguf.TypeF16: "f16", gguf.TypeBF16: "bf16"}[st]
	return d.Do(func() error {
		kr, err := d.getKernel("conv", "conv_pack_weight_"+name)
		if err != nil {
			return err
		}
		return d.launch(s, kr, dim3{gridFor(n, 256, d.info.SMs*16), 1, 1}, dim3{256, 1, 1}, 0, dst, src, int32(rows), int32(cin), int32(taps), int32(kp))
	})
}

// Conv3d runs the causal 3-D convolution a (see ConvArgs) on s (nil: the compute stream) as an implicit
// GEMM on the tensor cores: bf16 operands, f32 accumulation, bias and residual added in f32, one rounding to
// the output type.
func (d *Device) Conv3d(s *Stream, a ConvArgs) error {
	g, err := a.check()
	if err != nil {
		return err
	}
	up, fast := int32(0), int32(0)
	if a.Upsample2x {
		up = 1
	}
	if a.Cin%convTileK == 0 {
		fast = 1 // every K slice is 32 channels of one tap
	}
	name := fmt.Sprintf("conv3d_%s_%d", typeSuffix(a.Type), g.bm)
	return d.Do(func() error {
		k, err := d.getKernel("conv", name)
		if err != nil {
			return err
		}
		return d.launch(s, k, dim3{uint32(g.ctas), 1, 1}, dim3{256, 1, 1}, 0,
			a.Y, a.X, a.Prev, a.Weight, a.Bias, a.Add,
			int32(a.Cin), int32(a.T), int32(a.H), int32(a.W), int32(a.P), int32(a.Cout), int32(g.K), int32(g.Kp),
			int32(a.KT), int32(a.KH), int32(a.KW), int32(a.PadT), int32(a.PadTop), int32(a.PadLeft),
			int32(max(a.StrideT, 1)), int32(max(a.Stride, 1)), up, fast, int32(g.To), int32(g.Ho), int32(g.Wo))
	})
}

// ChannelNorm normalizes every pixel of x [C, N] (N = T·H·W) over the channels into y:
// y[c, p] = x[c, p] / max(‖x[:, p]‖₂, 1e-12) · √C · gamma[c], then SiLU when silu. x and y are of type t
// (F32 or BF16) and may be the same memory; gamma is f32 [C].
func (d *Device) ChannelNorm(s *Stream, y, x Mem, t gguf.Type, gamma Mem, c int, n int64, silu bool) error {
	if c <= 0 || n <= 0 {
		return fmt.Errorf("cuda: channel norm: bad shape C=%d pixels=%d", c, n)
	}
	if err := checkActType("channel norm", t, gguf.TypeF32, gguf.TypeBF16); err != nil {
		return err
	}
	sz := int64(c) * n * elemBytes(t)
	if err := firstErr(need("channel norm x", x, sz), need("channel norm y", y, sz), need("channel norm gamma", gamma, int64(c)*4)); err != nil {
		return err
	}
	if y.Ptr != x.Ptr && overlaps(y.Slice(0, sz), x.Slice(0, sz)) {
		return fmt.Errorf("cuda: channel norm: y overlaps x (only exact in-place is allowed)")
	}
	sl := int32(0)
	if silu {
		sl = 1
	}
	return d.Do(func() error {
		k, err := d.getKernel("vae", "vae_channel_norm_"+typeSuffix(t))
		if err != nil {
			return err
		}
		return d.launch(s, k, dim3{gridFor(n, 256, d.info.SMs*16), 1, 1}, dim3{256, 1, 1}, 0,
			y, x, gamma, int32(c), n, float32(math.Sqrt(float64(c))), sl)
	})
}

// CopyFrames runs one FrameCopy on s (nil: the compute stream).
func (d *Device) CopyFrames(s *Stream, f FrameCopy) error {
	if err := f.check(); err != nil {
		return err
	}
	es := elemBytes(f.Type)
	word, ws := copyWord(int64(f.Plane)*es, f.Dst.Ptr, f.Src.Ptr)
	plane := int64(f.Plane) * es / ws
	planes := int64(f.C) * int64(f.N)
	return d.Do(func() error {
		k, err := d.getKernel("vae", "vae_copy_frames_"+word)
		if err != nil {
			return err
		}
		gx := gridFor(plane, 256, 1024)
		gy := uint32(min(planes, 65535))
		// Enough CTAs in total to fill the device; each walks its planes with a stride.
		return d.launch(s, k, dim3{gx, gy, 1}, dim3{256, 1, 1}, 0,
			f.Dst, f.Src, plane, int32(f.C), int32(f.N), int32(f.SrcT), int32(f.SrcT0), int32(f.DstT), int32(f.DstT0), int32(f.DstStep))
	})
}

// FrameAttention is the VAE's single-head attention over the pixels of each frame: qkv [3C, T, H, W] holds
// q, k and v as channel ranges [0, C), [C, 2C), [2C, 3C); for each frame the H·W pixels are the tokens and
// C the head dim; y [C, T, H, W] = softmax(q·kᵀ/√C)·v. qkv and y are of type t (F32 or BF16). scratch must
// hold FrameAttentionScratch(C, H·W) bytes.
//
// Per frame: q and k are transposed to token-major bf16, v padded to bf16; S = q·kᵀ (f32, by the GEMM, in
// chunks of queries that bound the scratch), a row softmax (f32) to bf16 P, O = P·v (f32, the GEMM), and O
// transposed into y. The GEMMs take the Gemm path of the device (cuBLASLt or the own kernel).
func (d *Device) FrameAttention(s *Stream, y, qkv Mem, t gguf.Type, c, frames, h, w int, scratch Mem) error {
	if frames <= 0 || h <= 0 || w <= 0 {
		return fmt.Errorf("cuda: frame attention: bad shape T=%d H=%d W=%d", frames, h, w)
	}
	if err := checkActType("frame attention", t, gguf.TypeF32, gguf.TypeBF16); err != nil {
		return err
	}
	l := h * w
	p, err := planAttention(c, l)
	if err != nil {
		return err
	}
	es := elemBytes(t)
	frame := int64(l) * es // one channel plane
	tl := int64(frames) * int64(l)
	if err := firstErr(need("frame attention qkv", qkv, 3*int64(c)*tl*es), need("frame attention y", y, int64(c)*tl*es),
		need("frame attention scratch", scratch, p.Bytes)); err != nil {
		return err
	}
	if qkv.Ptr%uintptr(es) != 0 || y.Ptr%uintptr(es) != 0 || scratch.Ptr%256 != 0 {
		return fmt.Errorf("cuda: frame attention: misaligned buffers (scratch must be 256-byte aligned)")
	}
	ys, qs, ss := y.Slice(0, int64(c)*tl*es), qkv.Slice(0, 3*int64(c)*tl*es), scratch.Slice(0, p.Bytes)
	if overlaps(ys, qs) || overlaps(ys, ss) || overlaps(qs, ss) {
		return fmt.Errorf("cuda: frame attention: y, qkv and scratch must not overlap")
	}
	suf := typeSuffix(t)
	qt, kt, vp := scratch.Slice(p.qt, int64(p.Lp)*int64(p.Cp)*2), scratch.Slice(p.kt, int64(p.Lp)*int64(p.Cp)*2), scratch.Slice(p.vp, int64(p.Lp)*int64(p.Cp)*2)
	o := scratch.Slice(p.o, int64(p.Lp)*int64(p.Cp)*4)
	sm, pm := scratch.Slice(p.s, int64(p.Chunk)*int64(p.Lp)*4), scratch.Slice(p.p, int64(p.Chunk)*int64(p.Lp)*2)
	ld := int64(frames) * int64(l) // channel stride of qkv and y, in elements
	scale := float32(1 / math.Sqrt(float64(c)))
	return d.Do(func() error {
		toTok, err := d.getKernel("vae", "vae_transpose_"+suf+"_bf16")
		if err != nil {
			return err
		}
		pad, err := d.getKernel("vae", "vae_pad_rows_"+suf)
		if err != nil {
			return err
		}
		soft, err := d.getKernel("vae", "vae_softmax_rows")
		if err != nil {
			return err
		}
		back, err := d.getKernel("vae", "vae_transpose_f32_"+suf)
		if err != nil {
			return err
		}
		tgrid := func(prows, pcols int) dim3 { return dim3{uint32((pcols + 31) / 32), uint32((prows + 31) / 32), 1} }
		for f := range frames {
			// The start of channel i·C at frame f; the kernels read C planes at the channel stride ld.
			part := func(i int) Mem {
				off := (int64(i*c)*int64(frames) + int64(f)) * frame
				return qkv.Slice(off, qs.Bytes-off)
			}
			// q, k: channel-major [C, L] (row stride ld) → token-major [Lp, Cp].
			for i, dst := range []Mem{qt, kt} {
				if err := d.launch(s, toTok, tgrid(p.Cp, p.Lp), dim3{32, 8, 1}, 0,
					dst, part(i), int32(c), int32(l), ld, int64(p.Cp), int32(p.Cp), int32(p.Lp)); err != nil {
					return err
				}
			}
			if err := d.launch(s, pad, dim3{gridFor(int64(p.Cp)*int64(p.Lp), 256, d.info.SMs*16), 1, 1}, dim3{256, 1, 1}, 0,
				vp, part(2), int32(c), int32(l), ld, int32(p.Cp), int32(p.Lp)); err != nil {
				return err
			}
			for q0 := 0; q0 < l; q0 += p.Chunk {
				nq := min(p.Chunk, l-q0)
				if err := d.Gemm(s, GemmOp{Y: sm, YType: gguf.TypeF32, X: qt.Slice(int64(q0)*int64(p.Cp)*2, int64(nq)*int64(p.Cp)*2),
					W: kt, M: nq, N: p.Lp, K: p.Cp}); err != nil {
					return err
				}
				if err := d.launch(s, soft, dim3{uint32(nq), 1, 1}, dim3{256, 1, 1}, 0, pm, sm, int32(nq), int32(p.Lp), int32(l), scale); err != nil {
					return err
				}
				if err := d.Gemm(s, GemmOp{Y: o.Slice(int64(q0)*int64(p.Cp)*4, int64(nq)*int64(p.Cp)*4), YType: gguf.TypeF32, X: pm,
					W: vp, M: nq, N: p.Cp, K: p.Lp}); err != nil {
					return err
				}
			}
			// O [L, Cp] (token-major, f32) → y[:, f] (channel-major, row stride ld).
			yf := y.Slice(int64(f)*frame, int64(c)*tl*es-int64(f)*frame)
			if err := d.launch(s, back, tgrid(l, c), dim3{32, 8, 1}, 0,
				yf, o, int32(l), int32(c), int64(p.Cp), ld, int32(l), int32(c)); err != nil {
				return err
			}
		}
		return nil
	})
}
