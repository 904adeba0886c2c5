package pipeline

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
	"github.com/wan22/wan22/scheduler"
)

func baseOptions() Options {
	return Options{Prompt: "a cat", Frames: 5, Height: 32, Width: 48, Steps: 3, Shift: 5, Solver: "unipc", Guidance: scheduler.I2VGuidance(), Seed: 1}
}

func TestValidate(t *testing.T) {
	T, h, w, err := baseOptions().Validate()
	require.NoError(t, err)
	require.Equal(t, []int{2, 4, 6}, []int{T, h, w})
	for name, mod := range map[string]func(*Options){
		"frames":   func(o *Options) { o.Frames = 6 },
		"height":   func(o *Options) { o.Height = 40 },
		"steps":    func(o *Options) { o.Steps = 0 },
		"boundary": func(o *Options) { o.Guidance.Boundary = 2 },
		"huge":     func(o *Options) { o.Width = 1 << 20 },
		"long":     func(o *Options) { o.Frames = 4*1000 + 1 },
	} {
		o := baseOptions()
		mod(&o)
		_, _, _, err := o.Validate()
		require.Error(t, err, name)
	}
}

// tinyModels writes two tiny experts matching the tiny umT5 encoder.
func tinyModels(t *testing.T) Models {
	g := golden.Dir(t)
	dir := t.TempDir()
	cfg := dit.Config{Dim: 256, InDim: 36, OutDim: 16, FFNDim: 512, TextDim: 64, FreqDim: 256, Layers: 1, Heads: 2}
	m := Models{
		TextEncoder: filepath.Join(g, "t5_tiny_f32.gguf"),
		VAE:         filepath.Join(g, "vae_tiny.safetensors"),
		High:        filepath.Join(dir, "high.gguf"),
		Low:         filepath.Join(dir, "low.gguf"),
	}
	require.NoError(t, dit.WriteSynthetic(m.High, cfg, gguf.TypeQ8_0, 1))
	require.NoError(t, dit.WriteSynthetic(m.Low, cfg, gguf.TypeF16, 2))
	return m
}

func TestI2VRunsBothExpertsAndStreamsFrames(t *testing.T) {
	m := tinyModels(t)
	o := baseOptions()
	img := make([]float32, 3*o.Height*o.Width)
	for i := range img {
		img[i] = float32(i%7)/3 - 1
	}
	seen := 0
	err := I2V(cpu.New(), m, img, o, func(f []float32, first int) error {
		require.Equal(t, seen, first)
		n := len(f) / (3 * o.Height * o.Width)
		require.Equal(t, 3*n*o.Height*o.Width, len(f))
		for _, v := range f {
			require.True(t, v >= -1 && v <= 1)
		}
		seen += n
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, o.Frames, seen)
}

func TestI2VWrongModelKind(t *testing.T) {
	m := tinyModels(t)
	m.High = m.TextEncoder // a text encoder is not a DiT
	o := baseOptions()
	err := I2V(cpu.New(), m, make([]float32, 3*o.Height*o.Width), o, func([]float32, int) error { return nil })
	require.ErrorContains(t, err, "high-noise expert")

	m = tinyModels(t)
	m.VAE = filepath.Join(t.TempDir(), "missing.safetensors")
	err = I2V(cpu.New(), m, make([]float32, 3*o.Height*o.Width), o, func([]float32, int) error { return nil })
	require.ErrorContains(t, err, "VAE")

	err = I2V(cpu.New(), tinyModels(t), make([]float32, 5), o, nil)
	require.ErrorContains(t, err, "image has 5 values")
}
