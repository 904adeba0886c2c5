// Package vae is the Wan 2.1 video VAE (spec §5), used by WAN 2.2 A14B:
// it encodes the conditioning video into the 16-channel latent and decodes
// the sampled latent back into frames.
//
// The model is written once over the Ops interface (the core backend plus
// causal 3-D convolution, channel RMS norm, per-frame attention and frame
// shuffles on [C, T, H, W] tensors) and runs on any backend that implements
// it: engine/cpu as the float32 reference, engine/cuda on the GPU.
//
// # Chunks and caches
//
// Encoding runs the video in chunks of 1, 4, 4, … frames and decoding one
// latent frame at a time (yielding 1, then 4 frames per call), exactly as the
// reference does. Every causal conv keeps the last 2 frames of its input
// between chunks, and the time resampling layers remember whether they saw
// the first frame; nothing else survives a chunk, so memory does not grow
// with the number of frames. Decoded frames are handed to a callback as soon
// as they exist (the video writer), never gathered.
//
// Large frames can be decoded (Tiling) and encoded (EncodeTiling) in
// overlapping spatial tiles, each with its own caches, blended linearly where
// they overlap. PlanTiling picks the tiling that keeps a half within a device
// budget, from the memory estimates DecodePeak and EncodePeak (budget.go).
package vae

import (
	"context"
	"errors"
	"fmt"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// Latent normalisation constants of the Wan 2.1 VAE, per latent channel.
var (
	latentMean = [16]float32{-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
		0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921}
	latentStd = [16]float32{2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
		3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160}
)

// invStd is the reference's scale[1] = 1/std, computed in float32.
func invStd(c int) float32 { return 1 / latentStd[c] }

// Scale is the spatial factor between frames and latents; the temporal
// factor is 4 with a causal first frame (F = 1 + 4(T−1)).
const Scale = 8

// VAE is a loaded Wan 2.1 VAE: the encoder (with conv1) and/or the decoder
// (with conv2). Its methods are not safe for concurrent use.
type VAE struct {
	Config Config
	// Trace, if set, receives the per-chunk outputs of the top-level layers
	// ("encoder.downsamples.5", "decoder.middle.1", …) for parity debugging.
	Trace engine.TraceFunc
	// Tiling, when enabled, decodes in overlapping spatial tiles. Off by default.
	Tiling Tiling
	// EncodeTiling, when enabled, encodes in overlapping spatial tiles, one
	// tile over the whole video at a time. Off by default.
	EncodeTiling Tiling

	ops     Ops
	ld      *engine.Loader
	encoder *encoder3d // encoder.*; nil when only the decoder was loaded
	conv1   *causalConv
	conv2   *causalConv
	decoder *decoder3d // decoder.*; nil when only the encoder was loaded
}

// Load loads the encoder and the decoder of a Wan 2.1 VAE (ComfyUI's
// wan_2.1_vae.safetensors, F32, F16 or BF16, or the same tensors in a GGUF)
// onto b, which must implement Ops. The width and latent size are inferred
// from the shapes and every tensor's shape is checked; a wrong file fails
// with an error naming the tensor.
func Load(b engine.Backend, src gguf.Source) (*VAE, error) { return load(b, src, true, true) }

// LoadEncoder loads only the encoder half (encoder.*, conv1).
func LoadEncoder(b engine.Backend, src gguf.Source) (*VAE, error) {
	return load(b, src, true, false)
}

// LoadDecoder loads only the decoder half (conv2, decoder.*).
func LoadDecoder(b engine.Backend, src gguf.Source) (*VAE, error) {
	return load(b, src, false, true)
}

func load(b engine.Backend, src gguf.Source, encoder, decoder bool) (v *VAE, err error) {
	ops, ok := b.(Ops)
	if !ok {
		return nil, fmt.Errorf("vae: backend %s does not implement the VAE ops (vae.Ops)", b.Name())
	}
	p := &prefixed{Source: src, prefix: findPrefix(src), used: map[string]bool{}}
	cfg, err := inferConfig(p, encoder, decoder)
	if err != nil {
		return nil, err
	}
	l := engine.NewLoader(b, p)
	defer func() {
		if err != nil {
			l.FreeAll()
			v = nil
		}
	}()
	defer engine.Catch(&err)
	v = &VAE{Config: cfg, ops: ops, ld: l}
	if encoder {
		v.encoder = newEncoder(l, cfg)
		v.conv1 = newCausalConv(l, "conv1", 2*cfg.ZDim, 2*cfg.ZDim, 1, 1)
	}
	if decoder {
		v.conv2 = newCausalConv(l, "conv2", cfg.ZDim, cfg.ZDim, 1, 1)
		v.decoder = newDecoder(l, cfg)
	}
	if err := p.unused(encoder, decoder); err != nil {
		return nil, err
	}
	return v, nil
}

// Free releases the weights. The VAE must not be used afterwards.
func (v *VAE) Free() {
	if v != nil && v.ld != nil {
		v.ld.FreeAll()
	}
}

// Encode encodes a video [3, F, H, W] (values in [-1, 1], channel-major)
// into the normalized latent mean [ZDim, T, H/8, W/8] with T = 1 + (F−1)/4:
// (mu − mean)·(1/std). F must be 1 + 4k and H, W multiples of 8.
//
// ctx is checked before every convolution and attention layer: once it is
// done, Encode stops within one layer (within one block of a layer on a
// backend with WithStop, such as the CPU one) and returns an error wrapping
// ctx.Err(), having freed everything it allocated.
func (v *VAE) Encode(ctx context.Context, video []float32, F, H, W int) (latent []float32, err error) {
	defer catchStopped("Encode", &err)
	defer engine.Catch(&err)
	if v.encoder == nil {
		return nil, errors.New("vae: Encode: the encoder was not loaded")
	}
	if F < 1 || (F-1)%4 != 0 || H <= 0 || W <= 0 || H%Scale != 0 || W%Scale != 0 {
		return nil, fmt.Errorf("vae: Encode: video of %d frames %d×%d: want 1+4k frames and sides that are multiples of %d", F, H, W, Scale)
	}
	if len(video) != 3*F*H*W {
		return nil, fmt.Errorf("vae: Encode: %d values for a video [3, %d, %d, %d]", len(video), F, H, W)
	}
	if err := v.EncodeTiling.check(); err != nil {
		return nil, err
	}
	if h, w := H/Scale, W/Scale; v.EncodeTiling.Size > 0 && (h > v.EncodeTiling.Size || w > v.EncodeTiling.Size) {
		return v.encodeTiled(ctx, video, F, H, W), nil
	}
	return v.encodeWhole(ctx, video, F, H, W), nil
}

// encodeWhole encodes a checked video [3, F, H, W] chunk by chunk into the
// normalized latent [ZDim, T, H/8, W/8]. Errors panic (Encode catches them).
func (v *VAE) encodeWhole(ctx context.Context, video []float32, F, H, W int) []float32 {
	ops, z := v.ops, v.Config.ZDim
	T, h, w := 1+(F-1)/4, H/Scale, W/Scale
	latent := make([]float32, z*T*h*w)
	s := newState(ctx, ops)
	defer s.free()
	t := 0
	for f0 := 0; f0 < F; {
		n := 4
		if f0 == 0 {
			n = 1
		}
		x := ops.FromHost(frames(video, 3, F, H*W, f0, n), 3, n, H, W)
		e := consume(ops, x, func(x engine.Tensor) engine.Tensor { return v.encoder.forward(s, x, v.Trace) })
		mu := consume(ops, e, func(e engine.Tensor) engine.Tensor { return v.conv1.forward(s, e, nil) }) // [2·ZDim, 1, h, w]; the first ZDim channels are mu
		host := toHost(ops, mu)
		for c := range z {
			dst := latent[(c*T+t)*h*w : (c*T+t+1)*h*w]
			for i, m := range host[c*h*w : (c+1)*h*w] {
				dst[i] = (m - latentMean[c]) * invStd(c)
			}
		}
		f0 += n
		t++
	}
	return latent
}

// EmitFunc receives decoded frames: frames [3, n, H, W], channel-major, in
// [-1, 1], for video frames [first, first+n). The slice is the callee's to
// keep.
type EmitFunc func(frames []float32, first int) error

// Decode decodes a normalized latent z [ZDim, T, h, w] into 1 + 4(T−1)
// frames of 8h×8w, one latent frame at a time, calling emit with each group
// of frames (1 for the first latent frame, then 4) as soon as it is decoded.
// An error from emit stops decoding and is returned unchanged. ctx is
// checked before every convolution and attention layer, as in Encode.
func (v *VAE) Decode(ctx context.Context, z []float32, T, h, w int, emit EmitFunc) (err error) {
	defer catchStopped("Decode", &err)
	defer engine.Catch(&err)
	if v.decoder == nil {
		return errors.New("vae: Decode: the decoder was not loaded")
	}
	zd := v.Config.ZDim
	if T < 1 || h <= 0 || w <= 0 || len(z) != zd*T*h*w {
		return fmt.Errorf("vae: Decode: %d values for a latent [%d, %d, %d, %d]", len(z), zd, T, h, w)
	}
	if err := v.Tiling.check(); err != nil {
		return err
	}
	if v.Tiling.Size > 0 && (h > v.Tiling.Size || w > v.Tiling.Size) {
		if v.Tiling.Sequential {
			return v.decodeSequential(ctx, z, T, h, w, emit)
		}
		return v.decodeTiled(ctx, z, T, h, w, emit)
	}
	s := newState(ctx, v.ops)
	defer s.free()
	first := 0
	for t := range T {
		out, n := v.decodeFrame(s, z, T, h, w, t, 0, 0, h, w)
		clamp(out)
		if err := emit(out, first); err != nil {
			return err
		}
		first += n
	}
	return nil
}

// decodeFrame decodes latent frame t of z [ZDim, T, h, w], restricted to the
// window [y0, y0+th) × [x0, x0+tw), with the caches in s. It returns the
// frames [3, n, 8th, 8tw] on the host (unclamped) and n.
func (v *VAE) decodeFrame(s *state, z []float32, T, h, w, t, y0, x0, th, tw int) ([]float32, int) {
	ops, zd := v.ops, v.Config.ZDim
	in := make([]float32, zd*th*tw)
	for c := range zd {
		inv := invStd(c)
		for y := range th {
			src := z[((c*T+t)*h+y0+y)*w+x0 : ((c*T+t)*h+y0+y)*w+x0+tw]
			dst := in[(c*th+y)*tw : (c*th+y+1)*tw]
			for i, q := range src {
				dst[i] = q/inv + latentMean[c]
			}
		}
	}
	x := ops.FromHost(in, zd, 1, th, tw)
	x2 := consume(ops, x, func(x engine.Tensor) engine.Tensor { return v.conv2.forward(s, x, nil) })
	y := consume(ops, x2, func(x2 engine.Tensor) engine.Tensor { return v.decoder.forward(s, x2, v.Trace) })
	n := y.Shape()[1]
	return toHost(ops, y), n
}

// toHost copies t to the host and frees it, also when the copy fails.
func toHost(ops Ops, t engine.Tensor) []float32 {
	defer ops.Free(t)
	return ops.ToHost(t)
}

// frames copies frames [f0, f0+n) of a channel-major video [C, F, plane].
func frames(video []float32, C, F, plane, f0, n int) []float32 {
	out := make([]float32, C*n*plane)
	for c := range C {
		copy(out[c*n*plane:(c+1)*n*plane], video[(c*F+f0)*plane:(c*F+f0+n)*plane])
	}
	return out
}

// clamp limits x to [-1, 1] in place.
func clamp(x []float32) {
	for i, v := range x {
		x[i] = min(max(v, -1), 1)
	}
}
