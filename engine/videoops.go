package engine

// VideoOps is what the VAE runs on: the core backend plus the video ops that
// only the VAE needs. A backend offers them by implementing this interface;
// vae.Load refuses a backend that does not. It lives here, not in the VAE
// package, so that backends need not import model packages.
//
// # Layout
//
// Every VAE activation is a dense float tensor [C, T, H, W]: channels
// outermost, then frames, rows and columns (PyTorch's NCDHW without the
// batch). One frame of one channel is a contiguous H·W plane. Conv weights
// are [Cout, Cin, KT, KH, KW] (2-D convs are loaded as KT = 1), biases and
// norm gains [C]. Like the core ops, these ops return new tensors, leave
// their inputs unchanged and panic with *Error on bad arguments.
type VideoOps interface {
	Backend

	// Conv3d is a 3-D convolution (cross-correlation, as in PyTorch):
	//   x    [Cin, T, H, W]
	//   prev [Cin, P, H, W] or nil: frames that come before x in time (a
	//        causal conv's cache); the conv sees zeros(o.PadT) ⊕ prev ⊕ x
	//   w    [Cout, Cin, KT, KH, KW]; b [Cout] or nil
	// → [Cout, To, Ho, Wo] with To = (o.PadT + P + T − KT)/StrideT + 1 and
	// Ho, Wo from the (optionally 2× upsampled) and zero-padded frame size,
	// the kernel size and Stride. o.Add, if set, is added to the result.
	Conv3d(x, prev, w, b Tensor, o ConvOpts) Tensor

	// ChannelNorm normalizes every pixel over the channels:
	//   y[c, t, h, w] = x[c, t, h, w] / max(‖x[:, t, h, w]‖₂, 1e-12) · √C · gamma[c]
	// then applies SiLU when silu is set. x [C, T, H, W], gamma [C] → [C, T, H, W].
	ChannelNorm(x, gamma Tensor, silu bool) Tensor

	// FrameAttention is single-head attention over the pixels of each frame:
	// qkv [3C, T, H, W] holds q, k and v as channel ranges [0, C), [C, 2C),
	// [2C, 3C); for each frame the H·W pixels are the tokens and C the head
	// dim, softmax(q·kᵀ/√C)·v. → [C, T, H, W].
	FrameAttention(qkv Tensor) Tensor

	// Frames copies frames [from, to) of x [C, T, H, W] → [C, to−from, H, W].
	Frames(x Tensor, from, to int) Tensor
	// ConcatFrames joins a [C, Ta, H, W] and b [C, Tb, H, W] along time → [C, Ta+Tb, H, W].
	ConcatFrames(a, b Tensor) Tensor
	// InterleaveFrames splits the channels of x [2C, T, H, W] into two halves
	// and interleaves them in time → [C, 2T, H, W]: output frame 2t is
	// x[0:C, t], frame 2t+1 is x[C:2C, t] (the decoder's time upsampling).
	InterleaveFrames(x Tensor) Tensor
}

// ConvOpts configures VideoOps.Conv3d. The zero value is a valid, unpadded,
// stride-1 convolution.
type ConvOpts struct {
	// PadT is the number of zero frames in front of prev ⊕ x. There is never
	// padding behind: the convs are causal.
	PadT int
	// Zero padding of each frame, in pixels of the (upsampled) frame.
	PadTop, PadBottom, PadLeft, PadRight int
	// StrideT is the time stride and Stride the spatial stride (both
	// dimensions); 0 means 1.
	StrideT, Stride int
	// Upsample2x makes the conv read x (and prev) as their nearest-neighbour
	// 2× spatial upsampling ([.., 2H, 2W], each pixel duplicated), without
	// materializing it.
	Upsample2x bool
	// Add, if not nil, is a tensor of the output's shape added to the result
	// (a residual connection fused into the conv's epilogue).
	Add Tensor
}

// SamePad sets equal spatial padding p on all four sides.
func (o ConvOpts) SamePad(p int) ConvOpts {
	o.PadTop, o.PadBottom, o.PadLeft, o.PadRight = p, p, p, p
	return o
}
