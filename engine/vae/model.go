package vae

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// Config is the VAE's structure, inferred from the file's tensor shapes.
type Config struct {
	Dim  int // base width: 96 for the real Wan2.1 VAE (16 in the tiny golden model)
	ZDim int // latent channels: 16
}

// Fixed structure of the Wan 2.1 VAE (spec §5.1).
var (
	dimMult            = [...]int{1, 2, 4, 4}
	temporalDownsample = [...]bool{false, true, true}
)

const numResBlocks = 2

// encoder3d is `encoder.*`: conv1, downsamples.0‥10, middle.0‥2, head.{0,2}.
//
//	dims = Dim·[1, 1, 2, 4, 4]; per stage i: numResBlocks residual blocks
//	(dims[i] → dims[i+1]), then a Resample except after the last stage.
type encoder3d struct {
	conv1       *causalConv
	downsamples []layer
	middle      [3]layer // residual, attention, residual
	head0       rmsNorm
	head2       *causalConv
}

func newEncoder(l *engine.Loader, c Config) *encoder3d {
	e := &encoder3d{conv1: newCausalConv(l, "encoder.conv1", 3, c.Dim, 3, 3)}
	dims := []int{c.Dim}
	for _, m := range dimMult {
		dims = append(dims, c.Dim*m)
	}
	for i := range len(dimMult) {
		in, out := dims[i], dims[i+1]
		for range numResBlocks {
			e.downsamples = append(e.downsamples, newResidualBlock(l, fmt.Sprintf("encoder.downsamples.%d", len(e.downsamples)), in, out))
			in = out
		}
		if i < len(dimMult)-1 {
			mode := downsample2d
			if temporalDownsample[i] {
				mode = downsample3d
			}
			e.downsamples = append(e.downsamples, newResample(l, fmt.Sprintf("encoder.downsamples.%d", len(e.downsamples)), out, mode))
		}
	}
	top := dims[len(dims)-1]
	e.middle = [3]layer{
		newResidualBlock(l, "encoder.middle.0", top, top),
		newAttentionBlock(l, "encoder.middle.1", top),
		newResidualBlock(l, "encoder.middle.2", top, top),
	}
	e.head0 = newRMSNorm(l, "encoder.head.0", top, false)
	e.head2 = newCausalConv(l, "encoder.head.2", top, 2*c.ZDim, 3, 3)
	return e
}

// forward encodes one chunk of video, the first chunk being the single first
// frame and every later chunk 4 frames.
//
// x: [3, T, H, W] → [2·ZDim, T', H/8, W/8] (T' = 1 for both chunk kinds)
func (e *encoder3d) forward(s *state, x engine.Tensor, trace engine.TraceFunc) engine.Tensor {
	return trunk(s, x, "encoder", e.conv1, []stage{{"downsamples", e.downsamples}, {"middle", e.middle[:]}}, e.head0, e.head2, trace)
}

// decoder3d is `decoder.*`: conv1, middle.0‥2, upsamples.0‥14, head.{0,2}.
//
//	dims = Dim·[4, 4, 4, 2, 1]; per stage i: numResBlocks+1 residual blocks
//	(the first from dims[i], halved after a 3-D upsample, to dims[i+1]),
//	then a Resample except after the last stage.
type decoder3d struct {
	conv1     *causalConv
	middle    [3]layer
	upsamples []layer
	head0     rmsNorm
	head2     *causalConv
}

func newDecoder(l *engine.Loader, c Config) *decoder3d {
	dims := []int{c.Dim * dimMult[len(dimMult)-1]}
	for i := len(dimMult) - 1; i >= 0; i-- {
		dims = append(dims, c.Dim*dimMult[i])
	}
	top := dims[0]
	d := &decoder3d{conv1: newCausalConv(l, "decoder.conv1", c.ZDim, top, 3, 3)}
	d.middle = [3]layer{
		newResidualBlock(l, "decoder.middle.0", top, top),
		newAttentionBlock(l, "decoder.middle.1", top),
		newResidualBlock(l, "decoder.middle.2", top, top),
	}
	for i := range len(dimMult) {
		in, out := dims[i], dims[i+1]
		if i == 1 || i == 2 || i == 3 {
			in /= 2 // the previous stage's Resample halved the channels
		}
		for range numResBlocks + 1 {
			d.upsamples = append(d.upsamples, newResidualBlock(l, fmt.Sprintf("decoder.upsamples.%d", len(d.upsamples)), in, out))
			in = out
		}
		if i < len(dimMult)-1 {
			mode := upsample2d
			if temporalDownsample[len(temporalDownsample)-1-i] {
				mode = upsample3d
			}
			d.upsamples = append(d.upsamples, newResample(l, fmt.Sprintf("decoder.upsamples.%d", len(d.upsamples)), out, mode))
		}
	}
	last := dims[len(dims)-1]
	d.head0 = newRMSNorm(l, "decoder.head.0", last, false)
	d.head2 = newCausalConv(l, "decoder.head.2", last, 3, 3, 3)
	return d
}

// forward decodes one latent frame (after conv2). The first call of a video
// yields 1 frame, every later call 4.
//
// z: [ZDim, 1, h, w] → [3, 1 or 4, 8h, 8w]
func (d *decoder3d) forward(s *state, z engine.Tensor, trace engine.TraceFunc) engine.Tensor {
	return trunk(s, z, "decoder", d.conv1, []stage{{"middle", d.middle[:]}, {"upsamples", d.upsamples}}, d.head0, d.head2, trace)
}

// stage is a named list of layers (`encoder.downsamples`, `decoder.middle`, …).
type stage struct {
	name   string
	layers []layer
}

// trunk runs the shape shared by the encoder and the decoder: conv1, the
// stages' layers in order, then the head (RMS_norm, SiLU, conv), tracing the
// output of each top-level layer as "PREFIX.STAGE.N".
//
// x: [Cin, T, H, W] → [Cout, T', H', W']
func trunk(s *state, x engine.Tensor, prefix string, conv1 *causalConv, stages []stage, head0 rmsNorm, head2 *causalConv, trace engine.TraceFunc) engine.Tensor {
	h := conv1.forward(s, x, nil)
	trace.Emit(prefix+".conv1", h)
	for _, st := range stages {
		for i, ly := range st.layers {
			h = consume(s.ops, h, func(h engine.Tensor) engine.Tensor { return ly.forward(s, h) })
			trace.Emit(prefix+"."+st.name+"."+strconv.Itoa(i), h)
		}
	}
	n := consume(s.ops, h, func(h engine.Tensor) engine.Tensor { return head0.forward(s, h, true) })
	y := consume(s.ops, n, func(n engine.Tensor) engine.Tensor { return head2.forward(s, n, nil) })
	trace.Emit(prefix+".head", y)
	return y
}

// inferConfig reads Dim and ZDim from the shapes of conv2 and the encoder's
// or decoder's outer convs.
func inferConfig(src gguf.Source, encoder, decoder bool) (Config, error) {
	var c Config
	ti, ok := src.Lookup("conv2.weight")
	if decoder && (!ok || len(ti.Shape) < 2) {
		return c, fmt.Errorf("vae: tensor %q is missing or malformed: not a Wan 2.1 VAE file?", "conv2.weight")
	}
	if ok && len(ti.Shape) >= 2 {
		c.ZDim = int(ti.Shape[0])
	}
	if encoder {
		ti, ok := src.Lookup("encoder.conv1.weight")
		if !ok || len(ti.Shape) != 5 {
			return c, fmt.Errorf("vae: tensor %q is missing or not 5-D: not a Wan 2.1 VAE file?", "encoder.conv1.weight")
		}
		c.Dim = int(ti.Shape[0])
		if c.ZDim == 0 {
			h, ok := src.Lookup("conv1.weight")
			if !ok || len(h.Shape) < 1 || h.Shape[0]%2 != 0 {
				return c, fmt.Errorf("vae: tensor %q is missing or malformed: not a Wan 2.1 VAE file?", "conv1.weight")
			}
			c.ZDim = int(h.Shape[0]) / 2
		}
	} else {
		ti, ok := src.Lookup("decoder.head.2.weight")
		if !ok || len(ti.Shape) != 5 {
			return c, fmt.Errorf("vae: tensor %q is missing or not 5-D: not a Wan 2.1 VAE file?", "decoder.head.2.weight")
		}
		c.Dim = int(ti.Shape[1])
	}
	if c.Dim <= 0 || c.ZDim <= 0 || c.Dim%2 != 0 {
		return c, fmt.Errorf("vae: implausible config %+v inferred from the tensor shapes", c)
	}
	if c.ZDim != len(latentMean) {
		return c, fmt.Errorf("vae: latent has %d channels, the Wan 2.1 VAE has %d (a Wan 2.2 VAE is not supported here)", c.ZDim, len(latentMean))
	}
	return c, nil
}

// prefixed is a gguf.Source whose tensor names carry a prefix (for example
// "first_stage_model." or "vae.") that the model's names lack.
type prefixed struct {
	gguf.Source
	prefix string
	used   map[string]bool // names looked up (without the prefix)
}

func (p *prefixed) Lookup(name string) (gguf.TensorInfo, bool) {
	p.used[name] = true
	ti, ok := p.Source.Lookup(p.prefix + name)
	ti.Name = name
	return ti, ok
}

func (p *prefixed) Data(name string) ([]byte, error) { return p.Source.Data(p.prefix + name) }

// findPrefix returns the prefix in front of the VAE's tensor names.
func findPrefix(src gguf.Source) string {
	for _, anchor := range []string{"decoder.conv1.weight", "encoder.conv1.weight"} {
		if _, ok := src.Lookup(anchor); ok {
			return ""
		}
		for _, ti := range src.Tensors() {
			if p, ok := strings.CutSuffix(ti.Name, anchor); ok && (p == "" || strings.HasSuffix(p, ".")) {
				return p
			}
		}
	}
	return ""
}

// unused reports the first tensor of the parts that were loaded that the
// model did not ask for: a sign of a different VAE variant.
func (p *prefixed) unused(encoder, decoder bool) error {
	for _, ti := range p.Source.Tensors() {
		name, ok := strings.CutPrefix(ti.Name, p.prefix)
		if !ok {
			continue
		}
		mine := (encoder && (strings.HasPrefix(name, "encoder.") || strings.HasPrefix(name, "conv1."))) ||
			(decoder && (strings.HasPrefix(name, "decoder.") || strings.HasPrefix(name, "conv2.")))
		if mine && !p.used[name] {
			return fmt.Errorf("vae: unexpected tensor %q %v in the file: not the Wan 2.1 VAE structure (dim_mult [1,2,4,4], 2 res blocks)", ti.Name, ti.Shape)
		}
	}
	return nil
}
