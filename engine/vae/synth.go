package vae

import (
	"fmt"
	"math"

	"github.com/wan22/wan22/engine/internal/synthrand"
	"github.com/wan22/wan22/gguf"
)

// Synthetic VAEs: random weights in the layout of ComfyUI's
// wan_2.1_vae.safetensors (the names and shapes Load reads), for benchmarks
// and the demo without the download. Every tensor is a view of a tile of
// random values per (dtype, distribution) (engine/internal/synthrand), so
// the generator holds a few tiles, never the model.

// Wan21 is the configuration of the real Wan 2.1 VAE (base width 96).
func Wan21() Config { return Config{Dim: 96, ZDim: 16} }

// Tiny is the base-width-16 VAE of the reference tiny set (the golden
// vae_tiny.safetensors has this structure), for tests and the demo.
func Tiny() Config { return Config{Dim: 16, ZDim: 16} }

// synthSpec accumulates the tensor list of a synthetic VAE.
type synthSpec struct {
	typ gguf.Type
	ts  []synthrand.Tensor
}

var (
	synthBias  = synthrand.Dist{Std: 0.02}
	synthGamma = synthrand.Dist{Mean: 1, Std: 0.02}
)

func (s *synthSpec) add(name string, d synthrand.Dist, shape ...int64) {
	s.ts = append(s.ts, synthrand.Tensor{Name: name, Type: s.typ, Shape: shape, Dist: d})
}

// weight adds NAME.weight of the given shape, N(0, gain²/fan_in) with
// fan_in the product of every dimension but the first, and NAME.bias.
func (s *synthSpec) weight(name string, gain float64, shape ...int) {
	fan := 1
	for _, d := range shape[1:] {
		fan *= d
	}
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	s.add(name+".weight", synthrand.Dist{Std: gain / math.Sqrt(float64(fan))}, dims...)
	s.add(name+".bias", synthBias, int64(shape[0]))
}

// conv adds a causal 3-D conv [cout, cin, kt, k, k].
func (s *synthSpec) conv(name string, cin, cout, kt, k int) {
	s.weight(name, 1, cout, cin, kt, k, k)
}

// norm adds an RMS_norm gamma: [c, 1, 1, 1], or [c, 1, 1] over images.
func (s *synthSpec) norm(name string, c int, images bool) {
	if images {
		s.add(name+".gamma", synthGamma, int64(c), 1, 1)
		return
	}
	s.add(name+".gamma", synthGamma, int64(c), 1, 1, 1)
}

func (s *synthSpec) residual(name string, in, out int) {
	s.norm(name+".residual.0", in, false)
	s.conv(name+".residual.2", in, out, 3, 3)
	s.norm(name+".residual.3", out, false)
	s.conv(name+".residual.6", out, out, 3, 3)
	if in != out {
		s.conv(name+".shortcut", in, out, 1, 1)
	}
}

func (s *synthSpec) attention(name string, c int) {
	s.norm(name+".norm", c, true)
	s.weight(name+".to_qkv", 1, 3*c, c, 1, 1)
	s.weight(name+".proj", 1, c, c, 1, 1)
}

func (s *synthSpec) resample(name string, c int, mode resampleMode) {
	cout := c
	if mode == upsample2d || mode == upsample3d {
		cout = c / 2
	}
	s.weight(name+".resample.1", 1, cout, c, 3, 3)
	switch mode {
	case downsample3d:
		s.weight(name+".time_conv", 1, c, c, 3, 1, 1)
	case upsample3d:
		s.weight(name+".time_conv", 1, 2*c, c, 3, 1, 1)
	}
}

// syntheticTensors lists the VAE's tensors, walking the structure exactly
// as newEncoder, load and newDecoder read it. Convolutions are
// N(0, 1/fan_in) (so each keeps the scale of its input), biases
// N(0, 0.02²), RMS_norm gammas N(1, 0.02²); the decoder's last conv has
// gain 0.5, so decoded pixels have a standard deviation of about 0.3 and
// few are clamped at ±1.
func syntheticTensors(c Config, typ gguf.Type) []synthrand.Tensor {
	s := &synthSpec{typ: typ}
	// Encoder: dims = Dim·[1, 1, 2, 4, 4].
	s.conv("encoder.conv1", 3, c.Dim, 3, 3)
	dims := []int{c.Dim}
	for _, m := range dimMult {
		dims = append(dims, c.Dim*m)
	}
	n := 0
	for i := range len(dimMult) {
		in, out := dims[i], dims[i+1]
		for range numResBlocks {
			s.residual(fmt.Sprintf("encoder.downsamples.%d", n), in, out)
			in = out
			n++
		}
		if i < len(dimMult)-1 {
			mode := downsample2d
			if temporalDownsample[i] {
				mode = downsample3d
			}
			s.resample(fmt.Sprintf("encoder.downsamples.%d", n), out, mode)
			n++
		}
	}
	top := dims[len(dims)-1]
	s.residual("encoder.middle.0", top, top)
	s.attention("encoder.middle.1", top)
	s.residual("encoder.middle.2", top, top)
	s.norm("encoder.head.0", top, false)
	s.conv("encoder.head.2", top, 2*c.ZDim, 3, 3)
	s.conv("conv1", 2*c.ZDim, 2*c.ZDim, 1, 1)

	// Decoder: dims = Dim·[4, 4, 4, 2, 1].
	s.conv("conv2", c.ZDim, c.ZDim, 1, 1)
	dims = []int{c.Dim * dimMult[len(dimMult)-1]}
	for i := len(dimMult) - 1; i >= 0; i-- {
		dims = append(dims, c.Dim*dimMult[i])
	}
	top = dims[0]
	s.conv("decoder.conv1", c.ZDim, top, 3, 3)
	s.residual("decoder.middle.0", top, top)
	s.attention("decoder.middle.1", top)
	s.residual("decoder.middle.2", top, top)
	n = 0
	for i := range len(dimMult) {
		in, out := dims[i], dims[i+1]
		if i > 0 {
			in /= 2 // the previous stage's Resample halved the channels
		}
		for range numResBlocks + 1 {
			s.residual(fmt.Sprintf("decoder.upsamples.%d", n), in, out)
			in = out
			n++
		}
		if i < len(dimMult)-1 {
			mode := upsample2d
			if temporalDownsample[len(temporalDownsample)-1-i] {
				mode = upsample3d
			}
			s.resample(fmt.Sprintf("decoder.upsamples.%d", n), out, mode)
			n++
		}
	}
	last := dims[len(dims)-1]
	s.norm("decoder.head.0", last, false)
	s.weight("decoder.head.2", 0.5, 3, last, 3, 3, 3)
	return s.ts
}

// validateSynthetic checks that cfg and dtype describe a VAE Load reads.
func validateSynthetic(c Config, dtype gguf.Type) error {
	if c.Dim < 2 || c.Dim%2 != 0 || c.Dim > 1<<12 {
		return fmt.Errorf("vae: synthetic base width %d must be even and in [2, %d]", c.Dim, 1<<12)
	}
	if c.ZDim != len(latentMean) {
		return fmt.Errorf("vae: synthetic latent width %d: the Wan 2.1 VAE has %d channels", c.ZDim, len(latentMean))
	}
	switch dtype {
	case gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16:
		return nil
	}
	return fmt.Errorf("vae: synthetic dtype %v is not supported (use BF16, F16 or F32)", dtype)
}

func syntheticMeta(c Config, seed int64) map[string]string {
	return map[string]string{
		"wan22.synthetic": fmt.Sprintf("Wan 2.1 VAE, base width %d, z_dim %d, random weights", c.Dim, c.ZDim),
		"wan22.seed":      fmt.Sprintf("%016x", uint64(seed)), // fixed width: the size does not depend on it
	}
}

// WriteSynthetic writes a Wan 2.1 VAE of shape cfg with random weights to
// path as a safetensors file in the layout of ComfyUI's
// wan_2.1_vae.safetensors, every tensor in dtype (BF16 as that file, F16 or
// F32), through a temporary file renamed on success. The same seed gives
// the same bytes.
func WriteSynthetic(path string, cfg Config, dtype gguf.Type, seed int64) error {
	if err := validateSynthetic(cfg, dtype); err != nil {
		return err
	}
	if err := synthrand.WriteSafetensors(path, syntheticTensors(cfg, dtype), syntheticMeta(cfg, seed), seed); err != nil {
		return fmt.Errorf("vae: writing synthetic VAE: %w", err)
	}
	return nil
}

// SyntheticSize returns the exact size in bytes of the file WriteSynthetic
// writes for cfg and dtype (any seed), without writing anything.
func SyntheticSize(cfg Config, dtype gguf.Type) (int64, error) {
	if err := validateSynthetic(cfg, dtype); err != nil {
		return 0, err
	}
	return synthrand.SafetensorsSize(syntheticTensors(cfg, dtype), syntheticMeta(cfg, 0))
}
