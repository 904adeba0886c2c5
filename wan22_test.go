package wan22

import (
	"context"
	"errors"
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/engine/imageprep"
	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/safetensors"
)

var tiny Models // written once by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wan22-test-")
	if err != nil {
		panic(err)
	}
	p, err := tinymodels.Write(dir, 7)
	if err != nil {
		panic(err)
	}
	tiny = Models{High: p.High, Low: p.Low, TextEncoder: p.TextEncoder, VAE: p.VAE}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func open(t *testing.T, m Models) *Pipeline {
	p, err := Open(context.Background(), m, Options{Device: "cpu"})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

func TestOpenRefusesWrongModels(t *testing.T) {
	dir := t.TempDir()
	t2v := filepath.Join(dir, "t2v.gguf")
	cfg := tinymodels.DiT()
	cfg.InDim = 16
	require.NoError(t, dit.WriteSynthetic(t2v, cfg, gguf.TypeF16, 1))
	corrupt := filepath.Join(dir, "corrupt.gguf")
	require.NoError(t, os.WriteFile(corrupt, []byte("GGUF\x03\x00\x00\x00garbage"), 0o644))
	sameLink := filepath.Join(dir, "high-again.gguf")
	require.NoError(t, os.Symlink(tiny.High, sameLink))
	lora := filepath.Join(dir, "style_lora.safetensors")
	require.NoError(t, safetensors.Write(lora, []safetensors.Tensor{
		safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.lora_down.weight", []int64{1, 2}, []float32{1, 2}),
		safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.lora_up.weight", []int64{2, 1}, []float32{1, 2}),
	}, nil))

	for name, c := range map[string]struct {
		mod  func(*Models)
		want string
	}{
		"VAE as text encoder": {func(m *Models) { m.TextEncoder = tiny.VAE }, "text encoder " + tiny.VAE + ": is a WAN"},
		"text encoder as VAE": {func(m *Models) { m.VAE = tiny.TextEncoder }, "VAE " + tiny.TextEncoder + ": is a"},
		"t2v expert":          {func(m *Models) { m.High = t2v }, "not an i2v expert"},
		"low twice":           {func(m *Models) { m.High = tiny.Low }, "same file as the high-noise expert"},
		"low twice by link":   {func(m *Models) { m.Low = sameLink }, "same file as the high-noise expert"},
		"expert as VAE":       {func(m *Models) { m.VAE = tiny.Low }, "not a WAN 2.1 VAE"},
		"missing":             {func(m *Models) { m.Low = filepath.Join(dir, "nope.gguf") }, "low-noise expert " + filepath.Join(dir, "nope.gguf") + ": cannot be read"},
		"corrupt":             {func(m *Models) { m.High = corrupt }, "high-noise expert " + corrupt + ": cannot be read"},
		"empty path":          {func(m *Models) { m.VAE = "" }, `VAE "": no file given`},
		"LoRA as expert":      {func(m *Models) { m.High = lora }, "attach it to an expert as a LoRA instead (wan22 i2v and bench: --lora-high"},
	} {
		m := tiny
		c.mod(&m)
		_, err := Open(context.Background(), m, Options{Device: "cpu"})
		require.ErrorContains(t, err, c.want, name)
		var me *ModelError
		require.True(t, errors.As(err, &me), name)
	}
}

func TestOpenDevice(t *testing.T) {
	_, err := Open(context.Background(), tiny, Options{Device: "tpu"})
	require.ErrorContains(t, err, `unknown device "tpu"`)
	_, err = Open(context.Background(), tiny, Options{Device: "cpu", VRAMBudget: -1})
	require.ErrorContains(t, err, "must not be negative")
	if !cuda.Available() {
		_, err = Open(context.Background(), tiny, Options{Device: "cuda"})
		require.ErrorContains(t, err, "built without CUDA")
		p, err := Open(context.Background(), tiny, Options{Device: "auto"})
		require.NoError(t, err)
		require.Equal(t, "cpu", p.Device())
		require.NoError(t, p.Close())
		require.NoError(t, p.Close())
		require.ErrorContains(t, p.Generate(context.Background(), Request{}, Output{Frame: func(int, *image.RGBA) error { return nil }}), "closed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Open(ctx, tiny, Options{})
	require.ErrorIs(t, err, context.Canceled)
}

func TestResolveDefaultsAndErrors(t *testing.T) {
	p := open(t, tiny)
	p.o.HostBudget = 64 << 30
	img := imageprep.TestImage(832, 480)
	s, err := p.Resolve(Request{Image: img, Prompt: "x"})
	require.NoError(t, err)
	// 832×480 at the 1280×720 area: the official sizing rounds the width down to 1248.
	require.Equal(t, []int{1248, 720, 81, 16, 40}, []int{s.Width, s.Height, s.Frames, s.FPS, s.Steps})
	require.Equal(t, 5.0, s.Shift)
	require.Equal(t, "unipc", s.Solver)
	require.Equal(t, float32(3.5), s.Guidance.High)
	require.Equal(t, float32(3.5), s.Guidance.Low)
	require.Equal(t, 0.9, s.Guidance.Boundary)
	require.Positive(t, s.Host)
	s, err = p.Resolve(Request{Image: img, MaxArea: 832 * 480, GuidanceHigh: 1, GuidanceLow: 2, SwitchStep: 3})
	require.NoError(t, err)
	// sqrt(399360·480/832) is 479.99999… in float64, so the official floors give 464.
	require.Equal(t, []int{832, 464, 3}, []int{s.Width, s.Height, s.SwitchStep})
	require.Equal(t, float32(1), s.Guidance.High)

	for name, c := range map[string]struct {
		r    Request
		want string
	}{
		"no image":     {Request{}, "no image"},
		"both":         {Request{Image: img, Tensor: []float32{1}}, "both"},
		"tensor size":  {Request{Tensor: []float32{1}, Width: 16, Height: 16}, "3×16×16"},
		"frames":       {Request{Image: img, Frames: 80}, "77 and 81"},
		"size":         {Request{Image: img, Width: 100, Height: 64}, "nearest are 96 and 112"},
		"half size":    {Request{Image: img, Width: 96}, "both width and height"},
		"steps":        {Request{Image: img, Steps: 20000}, "steps must be"},
		"switch":       {Request{Image: img, Steps: 4, SwitchStep: 5}, "switch step"},
		"NaN":          {Request{Image: img, GuidanceHigh: nan()}, "high-noise guidance must be a finite"},
		"boundary":     {Request{Image: img, Boundary: 1.5}, "boundary must be in [0, 1]"},
		"solver":       {Request{Image: img, Solver: "ddim"}, "ddim"},
		"fps":          {Request{Image: img, FPS: -3}, "fps"},
		"noise":        {Request{Image: img, Width: 32, Height: 16, Frames: 5, Noise: make([]float32, 3)}, "noise has 3 values"},
		"4096 squared": {Request{Image: img, Width: 4096, Height: 4096, Frames: 81}, "need about"},
	} {
		p.o.HostBudget = 8 << 30
		_, err := p.Resolve(c.r)
		require.ErrorContains(t, err, c.want, name)
	}
	// The budget error carries the numbers.
	_, err = p.Resolve(Request{Image: img, Width: 4096, Height: 4096, Frames: 81})
	var be *BudgetError
	require.True(t, errors.As(err, &be))
	require.Greater(t, be.Need, be.Budget)
	require.Equal(t, int64(8<<30), be.Budget)
	require.True(t, be.BudgetGiven)
	require.False(t, be.WeightsExceed())
	require.ErrorContains(t, err, "more than the host memory budget of 8.00 GiB: make the video smaller or use fewer frames, or raise the budget")
	require.NotContains(t, err.Error(), "--", "the library names no CLI flag")
}

func nan() float64 { var z float64; return z / z }

// generate runs a tiny request and returns its frames' pixels.
func generate(t *testing.T, p *Pipeline, ctx context.Context, r Request) ([][]uint8, error) {
	var frames [][]uint8
	err := p.Generate(ctx, r, Output{Frame: func(i int, img *image.RGBA) error {
		require.Equal(t, len(frames), i)
		frames = append(frames, append([]uint8(nil), img.Pix...))
		return nil
	}})
	return frames, err
}

func tinyRequest() Request {
	return Request{Image: imageprep.TestImage(40, 20), Prompt: "a boat", Frames: 5, Width: 32, Height: 16, Steps: 2, Seed: 3}
}

func TestGenerateDeterministic(t *testing.T) {
	p := open(t, tiny)
	r := tinyRequest()
	r.Noise = make([]float32, 16*2*2*4)
	for i := range r.Noise {
		r.Noise[i] = float32(i%13-6) / 4
	}
	a, err := generate(t, p, context.Background(), r)
	require.NoError(t, err)
	require.Len(t, a, 5)
	b, err := generate(t, p, context.Background(), r)
	require.NoError(t, err)
	require.Equal(t, a, b)
	// The prepared tensor of the same image gives the same video.
	r.Tensor, err = imageprep.Tensor(r.Image, 32, 16)
	require.NoError(t, err)
	r.Image = nil
	c, err := generate(t, p, context.Background(), r)
	require.NoError(t, err)
	require.Equal(t, a, c)
}

func TestGenerateCancelAndOutputErrors(t *testing.T) {
	p := open(t, tiny)
	ctx, cancel := context.WithCancel(context.Background())
	var stages []Stage
	err := p.Generate(ctx, tinyRequest(), Output{
		Frame: func(int, *image.RGBA) error { return nil },
		Progress: func(ev Event) {
			stages = append(stages, ev.Stage)
			if ev.Stage == HighNoise && ev.Step == 1 {
				cancel()
			}
		},
	})
	require.ErrorIs(t, err, context.Canceled)
	require.NotContains(t, stages, VAEDecode)

	stop := errors.New("viewer closed")
	err = p.Generate(context.Background(), tinyRequest(), Output{Frame: func(int, *image.RGBA) error { return stop }})
	require.ErrorIs(t, err, stop)
	require.ErrorContains(t, p.Generate(context.Background(), tinyRequest(), Output{}), "neither a Video writer nor a Frame callback")
}

func TestOpenAttention(t *testing.T) {
	ctx := context.Background()
	// The default and bf16 open on the CPU, which runs attention in f32 and says so.
	for _, a := range []AttentionPrecision{"", AttentionBF16, "BF16"} {
		p, err := Open(ctx, tiny, Options{Device: "cpu", Attention: a})
		require.NoError(t, err, a)
		require.Equal(t, AttentionBF16, p.Attention())
		s, err := p.Resolve(Request{Image: imageprep.TestImage(32, 16), Width: 32, Height: 16, Frames: 5, Steps: 2})
		require.NoError(t, err)
		require.Equal(t, "f32", s.Attention)
		require.NoError(t, p.Close())
	}
	// An unknown precision fails with the parser's words before the device opens.
	_, err := Open(ctx, tiny, Options{Device: "cpu", Attention: "int4"})
	require.ErrorContains(t, err, `attention precision "int4" not understood: use bf16 (default), int8 or fp8`)
	// 8-bit attention is refused on the CPU, asked for or fallen back to.
	devices := []string{"cpu"}
	if !cuda.Available() {
		devices = append(devices, "auto", "")
	}
	for _, d := range devices {
		for _, a := range []AttentionPrecision{AttentionINT8, AttentionFP8} {
			_, err := Open(ctx, tiny, Options{Device: d, Attention: a})
			var ae *AttentionError
			require.True(t, errors.As(err, &ae), "%q %s: %v", d, a, err)
			require.Equal(t, a, ae.Precision)
			require.ErrorContains(t, err, "8-bit attention needs the CUDA backend")
			require.ErrorContains(t, err, "choose bf16 attention")
		}
	}
	if !cuda.Available() {
		_, err = Open(ctx, tiny, Options{Device: "cuda", Attention: AttentionINT8})
		require.ErrorContains(t, err, "built without CUDA")
	}
}

// attentionBackend records the precision set on it, or refuses it.
type attentionBackend struct {
	set    AttentionPrecision
	refuse error
}

func (b *attentionBackend) SetAttentionPrecision(p AttentionPrecision) error {
	if b.refuse != nil {
		return b.refuse
	}
	b.set = p
	return nil
}

func TestSetAttention(t *testing.T) {
	for _, a := range []AttentionPrecision{AttentionBF16, AttentionINT8, AttentionFP8} {
		var b attentionBackend
		require.NoError(t, setAttention(&b, a))
		require.Equal(t, a, b.set)
	}
	// A backend without the setter runs bf16 only.
	require.NoError(t, setAttention(struct{}{}, AttentionBF16))
	err := setAttention(struct{}{}, AttentionFP8)
	require.ErrorContains(t, err, "fp8 attention on cuda: this build's CUDA backend has no 8-bit attention")
	// A backend's refusal is passed on, wrapped.
	refusal := errors.New("sm_75 has no INT8 mma of this shape")
	err = setAttention(&attentionBackend{refuse: refusal}, AttentionINT8)
	require.ErrorIs(t, err, refusal)
	var ae *AttentionError
	require.True(t, errors.As(err, &ae))
	require.Equal(t, DeviceCUDA, ae.Device)
}
