package vae

import (
	"context"
	"errors"
	"fmt"

	"github.com/wan22/wan22/engine"
)

// cacheT is the number of past input frames a causal conv keeps between
// chunks (CACHE_T in the reference): its time kernel is 3 taps.
const cacheT = 2

// state is the per-run memory of a chunked encode or decode: the last input
// frames of every causal conv and whether each time-resampling layer has seen
// its first chunk. A model is stateless; one state belongs to one video (or
// one spatial tile of it), so runs and tiles never share caches.
type state struct {
	ctx     context.Context               // checked before every conv: a cancelled run stops within one layer
	ops     Ops                           // bound to ctx when the backend is stoppable: a cancel stops within an op
	caches  map[*causalConv]engine.Tensor // [Cin, ≤2, H, W]
	started map[*resample]bool
}

func newState(ctx context.Context, ops Ops) *state {
	if st, ok := ops.(stoppable); ok && ctx.Done() != nil {
		ops = st.WithStop(func() error {
			if err := ctx.Err(); err != nil {
				return &stopped{err: err}
			}
			return nil
		})
	}
	return &state{ctx: ctx, ops: ops, caches: map[*causalConv]engine.Tensor{}, started: map[*resample]bool{}}
}

// free releases every cache.
func (s *state) free() {
	for c, t := range s.caches {
		s.ops.Free(t)
		delete(s.caches, c)
	}
}

// check panics with a *stopped when the run's context is done. Long CPU
// encodes spend seconds in one conv, so every conv checks before it starts.
func (s *state) check() {
	if err := s.ctx.Err(); err != nil {
		panic(&stopped{err: err})
	}
}

// stopped is the panic of a cancelled run, recovered by catchStopped, and
// the error a stoppable backend's op wraps in its *engine.Error when the run's
// context stopped it partway.
type stopped struct{ err error }

func (s *stopped) Error() string { return "stopped: " + s.err.Error() }
func (s *stopped) Unwrap() error { return s.err }

// catchStopped recovers a *stopped panic into *err as "vae: OP stopped: CAUSE"
// (errors.Is finds the context's error), and rewrites so an *engine.Error of
// an op stopped partway that engine.Catch already recovered. Other panics go
// on, so defer it before engine.Catch.
func catchStopped(op string, err *error) {
	r := recover()
	if r == nil {
		if s := (*stopped)(nil); errors.As(*err, &s) {
			*err = fmt.Errorf("vae: %s stopped: %w", op, s.err)
		}
		return
	}
	if s, ok := r.(*stopped); ok {
		*err = fmt.Errorf("vae: %s stopped: %w", op, s.err)
		return
	}
	panic(r)
}

// consume returns f(x) and frees x, also when f panics, so that a failing
// op (out of device memory) leaks no intermediate.
func consume(ops Ops, x engine.Tensor, f func(engine.Tensor) engine.Tensor) engine.Tensor {
	defer ops.Free(x)
	return f(x)
}

// keep runs f and returns x, or frees x if f panics: for a result that is
// handed on only once the work after it (a cache update) has succeeded.
func keep(ops Ops, x engine.Tensor, f func()) engine.Tensor {
	ok := false
	defer func() {
		if !ok {
			ops.Free(x)
		}
	}()
	f()
	ok = true
	return x
}

// tail returns a new tensor holding the last ≤ n frames of prev ⊕ x, where
// prev may be nil. x: [C, T, H, W], prev: [C, P, H, W].
func tail(ops Ops, prev, x engine.Tensor, n int) engine.Tensor {
	T := x.Shape()[1]
	if T >= n || prev == nil {
		return ops.Frames(x, max(0, T-n), T)
	}
	P := prev.Shape()[1]
	keep := min(P, n-T)
	p := ops.Frames(prev, P-keep, P)
	defer ops.Free(p)
	return ops.ConcatFrames(p, x)
}

// causalConv is a CausalConv3d: `NAME.weight` [Cout, Cin, KT, KH, KW] and
// `NAME.bias` [Cout]. A conv with a 3-tap time kernel pads 2 zero frames in
// front and none behind; across chunks those zeros are replaced by the
// cached last input frames of the previous chunk, which makes chunked
// processing identical to processing the whole sequence at once.
type causalConv struct {
	name       string
	w, b       engine.Tensor
	cout, cin  int
	kt, kh, kw int
	pad        int // spatial padding on every side
}

// newCausalConv loads NAME.weight [cout, cin, kt, k, k] and NAME.bias with
// spatial padding (k−1)/2 (the WAN VAE's convs are all "same" convs).
func newCausalConv(l *engine.Loader, name string, cin, cout, kt, k int) *causalConv {
	return &causalConv{
		name: name,
		w:    l.Weight(name+".weight", cout, cin, kt, k, k),
		b:    l.Weight(name+".bias", cout),
		cout: cout, cin: cin, kt: kt, kh: k, kw: k,
		pad: (k - 1) / 2,
	}
}

// forward runs the conv on one chunk, with the cached frames of the previous
// chunk in front, and updates the cache with the last frames of x. add, if
// not nil, is added to the output (residual). A conv with a 1-tap time
// kernel keeps no cache. The new cache is made first and owned by s at once,
// so that a failing op leaves every tensor either in s or freed.
//
// x: [Cin, T, H, W] → [Cout, T, H, W]
func (c *causalConv) forward(s *state, x, add engine.Tensor) engine.Tensor {
	s.check()
	o := ConvOpts{Add: add}.SamePad(c.pad)
	if c.kt == 1 {
		return s.ops.Conv3d(x, nil, c.w, c.b, o)
	}
	prev := s.caches[c]
	P := 0
	if prev != nil {
		P = prev.Shape()[1]
	}
	o.PadT = c.kt - 1 - P
	s.caches[c] = tail(s.ops, prev, x, cacheT)
	defer s.ops.Free(prev)
	return s.ops.Conv3d(x, prev, c.w, c.b, o)
}

// rmsNorm is the VAE's RMS_norm over channels: `NAME.gamma` [C, 1, 1, 1]
// (or [C, 1, 1] in the attention block), no bias.
type rmsNorm struct {
	gamma engine.Tensor // [C]
}

func newRMSNorm(l *engine.Loader, name string, c int, images bool) rmsNorm {
	var g engine.Tensor
	if images {
		g = l.Weight(name+".gamma", c, 1, 1)
	} else {
		g = l.Weight(name+".gamma", c, 1, 1, 1)
	}
	return rmsNorm{gamma: l.B.Reshape(g, c)}
}

// forward: x [C, T, H, W] → [C, T, H, W], followed by SiLU when silu.
func (n rmsNorm) forward(s *state, x engine.Tensor, silu bool) engine.Tensor {
	return s.ops.ChannelNorm(x, n.gamma, silu)
}

// layer is one entry of an encoder or decoder sequence.
type layer interface {
	// forward consumes nothing: the caller frees x, and on a failing op no
	// intermediate is left but the caches in s. x: [C, T, H, W].
	forward(s *state, x engine.Tensor) engine.Tensor
}

// residualBlock is a ResidualBlock(in, out):
//
//	NAME.residual.0  RMS_norm(in), SiLU
//	NAME.residual.2  CausalConv3d(in, out, 3, padding 1)
//	NAME.residual.3  RMS_norm(out), SiLU (Dropout(0) at 5)
//	NAME.residual.6  CausalConv3d(out, out, 3, padding 1)
//	NAME.shortcut    CausalConv3d(in, out, 1) when in ≠ out, else identity
type residualBlock struct {
	residual0 rmsNorm
	residual2 *causalConv
	residual3 rmsNorm
	residual6 *causalConv
	shortcut  *causalConv // nil: identity
}

func newResidualBlock(l *engine.Loader, name string, in, out int) *residualBlock {
	r := &residualBlock{
		residual0: newRMSNorm(l, name+".residual.0", in, false),
		residual2: newCausalConv(l, name+".residual.2", in, out, 3, 3),
		residual3: newRMSNorm(l, name+".residual.3", out, false),
		residual6: newCausalConv(l, name+".residual.6", out, out, 3, 3),
	}
	if in != out {
		r.shortcut = newCausalConv(l, name+".shortcut", in, out, 1, 1)
	}
	return r
}

// forward: x [in, T, H, W] → [out, T, H, W]
func (r *residualBlock) forward(s *state, x engine.Tensor) engine.Tensor {
	ops := s.ops
	a := consume(ops, r.residual0.forward(s, x, true), func(h engine.Tensor) engine.Tensor {
		return r.residual2.forward(s, h, nil)
	})
	h := consume(ops, a, func(a engine.Tensor) engine.Tensor { return r.residual3.forward(s, a, true) })
	defer ops.Free(h)
	short := x
	if r.shortcut != nil {
		short = r.shortcut.forward(s, x, nil)
		defer ops.Free(short)
	}
	return r.residual6.forward(s, h, short)
}

// attentionBlock is an AttentionBlock(C): per-frame single-head attention
// over the pixels, with a residual.
//
//	NAME.norm    RMS_norm(C), gamma [C, 1, 1]
//	NAME.to_qkv  Conv2d(C, 3C, 1)
//	NAME.proj    Conv2d(C, C, 1)
type attentionBlock struct {
	norm        rmsNorm
	qkvW, qkvB  engine.Tensor // [3C, C, 1, 1, 1], [3C]
	projW, proj engine.Tensor // [C, C, 1, 1, 1], [C]
}

func newAttentionBlock(l *engine.Loader, name string, c int) *attentionBlock {
	return &attentionBlock{
		norm:  newRMSNorm(l, name+".norm", c, true),
		qkvW:  l.B.Reshape(l.Weight(name+".to_qkv.weight", 3*c, c, 1, 1), 3*c, c, 1, 1, 1),
		qkvB:  l.Weight(name+".to_qkv.bias", 3*c),
		projW: l.B.Reshape(l.Weight(name+".proj.weight", c, c, 1, 1), c, c, 1, 1, 1),
		proj:  l.Weight(name+".proj.bias", c),
	}
}

// forward: x [C, T, H, W] → [C, T, H, W]
func (a *attentionBlock) forward(s *state, x engine.Tensor) engine.Tensor {
	s.check()
	ops := s.ops
	qkv := consume(ops, a.norm.forward(s, x, false), func(h engine.Tensor) engine.Tensor {
		return ops.Conv3d(h, nil, a.qkvW, a.qkvB, ConvOpts{})
	})
	o := consume(ops, qkv, ops.FrameAttention)
	return consume(ops, o, func(o engine.Tensor) engine.Tensor {
		return ops.Conv3d(o, nil, a.projW, a.proj, ConvOpts{Add: x})
	})
}

// resampleMode is the kind of a Resample layer.
type resampleMode int

const (
	downsample2d resampleMode = iota
	downsample3d
	upsample2d
	upsample3d
)

// resample is a Resample layer:
//
//	NAME.resample.1  Conv2d(C, C, 3, stride 2) after zero padding right/bottom by 1 (down),
//	                 or Conv2d(C, C/2, 3, padding 1) after 2× nearest upsampling (up)
//	NAME.time_conv   CausalConv3d(C, C, (3,1,1), stride (2,1,1)) (downsample3d)
//	                 or CausalConv3d(C, 2C, (3,1,1), padding (1,0,0)) (upsample3d)
//
// The time convs treat the first frame of the video specially (spec §5.4):
// downsample3d passes the first frame through and convolves later frames
// (with stride 2) over the previous frame; upsample3d maps the first frame to
// one frame and every later frame to two, the later frames forming their own
// causal sequence that does not include the first.
type resample struct {
	mode     resampleMode
	w, b     engine.Tensor // resample.1: [Cout, C, 1, 3, 3], [Cout]
	timeConv *causalConv   // nil for the 2-D modes
}

func newResample(l *engine.Loader, name string, c int, mode resampleMode) *resample {
	cout := c
	if mode == upsample2d || mode == upsample3d {
		cout = c / 2
	}
	r := &resample{
		mode: mode,
		w:    l.B.Reshape(l.Weight(name+".resample.1.weight", cout, c, 3, 3), cout, c, 1, 3, 3),
		b:    l.Weight(name+".resample.1.bias", cout),
	}
	switch mode {
	case downsample3d:
		r.timeConv = &causalConv{name: name + ".time_conv",
			w:    l.Weight(name+".time_conv.weight", c, c, 3, 1, 1),
			b:    l.Weight(name+".time_conv.bias", c),
			cout: c, cin: c, kt: 3, kh: 1, kw: 1}
	case upsample3d:
		r.timeConv = newCausalConv(l, name+".time_conv", c, 2*c, 3, 1)
	}
	return r
}

// spatial runs resample.1 on every frame.
// down: x [C, T, H, W] → [C, T, H/2, W/2]; up: → [C/2, T, 2H, 2W]
func (r *resample) spatial(s *state, x engine.Tensor) engine.Tensor {
	var o ConvOpts
	if r.mode == downsample2d || r.mode == downsample3d {
		o = ConvOpts{PadBottom: 1, PadRight: 1, Stride: 2}
	} else {
		o = ConvOpts{Upsample2x: true}.SamePad(1)
	}
	return s.ops.Conv3d(x, nil, r.w, r.b, o)
}

// forward: x [C, T, H, W] → downsample2d [C, T, H/2, W/2];
// downsample3d [C, T', H/2, W/2] with T' = 1 for the first chunk of a video
// and T/2 after it; upsample2d [C/2, T, 2H, 2W]; upsample3d [C/2, T', 2H, 2W]
// with T' = T for the first chunk (which must be the single first frame) and
// 2T after it.
func (r *resample) forward(s *state, x engine.Tensor) engine.Tensor {
	ops := s.ops
	switch r.mode {
	case downsample3d:
		d := r.spatial(s, x)
		T := d.Shape()[1]
		if !s.started[r] {
			// First chunk: frame 0 passes through; it is the history of frame 1.
			s.started[r] = true
			return keep(ops, d, func() { s.caches[r.timeConv] = ops.Frames(d, T-1, T) })
		}
		return consume(ops, d, func(d engine.Tensor) engine.Tensor {
			prev := s.caches[r.timeConv]
			s.caches[r.timeConv] = ops.Frames(d, T-1, T)
			defer ops.Free(prev)
			return ops.Conv3d(d, prev, r.timeConv.w, r.timeConv.b, ConvOpts{StrideT: 2})
		})
	case upsample3d:
		if !s.started[r] {
			// First chunk: no time conv, and the frame is not part of the
			// later frames' history.
			s.started[r] = true
			return r.spatial(s, x)
		}
		u := consume(ops, r.timeConv.forward(s, x, nil), ops.InterleaveFrames)
		return consume(ops, u, func(u engine.Tensor) engine.Tensor { return r.spatial(s, u) })
	}
	return r.spatial(s, x)
}
