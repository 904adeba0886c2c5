package pipeline

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/engine/hostmem"
	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/scheduler"
)

func baseOptions() Options {
	return Options{Prompt: "a cat", Frames: 5, Height: 16, Width: 32, Steps: 3, Shift: 5, Solver: "unipc", Guidance: scheduler.I2VGuidance(), Seed: 1}
}

func TestStageNames(t *testing.T) {
	var names []string
	for _, s := range Stages {
		names = append(names, s.String())
	}
	require.Equal(t, []string{"vae-encode", "text-encode", "high-noise", "low-noise", "vae-decode", "video-write"}, names)
	require.Equal(t, "Stage(9)", Stage(9).String())
}

func TestValidate(t *testing.T) {
	o := baseOptions()
	require.NoError(t, o.Validate())
	require.Equal(t, dit.Grid{T: 2, H: 2, W: 4}, o.Grid())
	for name, c := range map[string]struct {
		mod  func(*Options)
		want string
	}{
		"frames":      {func(o *Options) { o.Frames = 6 }, "nearest valid counts are 5 and 9"},
		"height":      {func(o *Options) { o.Height = 40 }, "multiples of 16"},
		"steps":       {func(o *Options) { o.Steps = 0 }, "steps must be"},
		"many steps":  {func(o *Options) { o.Steps = 10001 }, "steps must be"},
		"boundary":    {func(o *Options) { o.Guidance.Boundary = 2 }, "boundary"},
		"huge":        {func(o *Options) { o.Width = 1 << 20 }, "at most 4096"},
		"long":        {func(o *Options) { o.Frames = 4*1000 + 1 }, "at most 1025"},
		"switch":      {func(o *Options) { o.SwitchStep = 4 }, "switch step"},
		"solver":      {func(o *Options) { o.Solver = "ddim" }, "ddim"},
		"noise shape": {func(o *Options) { o.Noise = make([]float32, 7) }, "noise has 7 values, want 16×2×2×4"},
	} {
		o := baseOptions()
		c.mod(&o)
		require.ErrorContains(t, o.Validate(), c.want, name)
	}
}

func TestPassBySwitchStep(t *testing.T) {
	o := baseOptions()
	o.Guidance = scheduler.Guidance{Boundary: 0.9, Low: 2, High: 1}
	o.SwitchStep = 2
	require.Equal(t, scheduler.Pass{Expert: scheduler.HighNoise, Scale: 1}, o.pass(1, 0))
	require.Equal(t, scheduler.Pass{Expert: scheduler.LowNoise, Scale: 2, Uncond: true}, o.pass(2, 999))
	o.SwitchStep = 0
	require.Equal(t, scheduler.HighNoise, o.pass(2, 999).Expert)
}

// tinyModels writes the tiny model set of engine/tinymodels (made by the
// project's own code, so the tests need no reference files).
func tinyModels(t *testing.T) Models {
	p, err := tinymodels.Write(t.TempDir(), 1)
	require.NoError(t, err)
	return Models{TextEncoder: p.TextEncoder, VAE: p.VAE, High: p.High, Low: p.Low}
}

func testImage(o Options) []float32 {
	img := make([]float32, 3*o.Height*o.Width)
	for i := range img {
		img[i] = float32(i%7)/3 - 1
	}
	return img
}

// collect runs I2V and returns the frames [3, F, H, W] and the events.
func collect(t *testing.T, b engine.Backend, m Models, o Options) ([]float32, []Event, error) {
	var events []Event
	o.Progress = func(ev Event) { events = append(events, ev) }
	plane := o.Height * o.Width
	video := make([]float32, 3*o.Frames*plane)
	seen := 0
	err := I2V(context.Background(), b, m, testImage(o), o, func(f []float32, first int) error {
		require.Equal(t, seen, first)
		n := len(f) / (3 * plane)
		require.Equal(t, 3*n*plane, len(f))
		for c := range 3 {
			copy(video[(c*o.Frames+first)*plane:], f[c*n*plane:(c+1)*n*plane])
		}
		for _, v := range f {
			require.True(t, v >= -1 && v <= 1)
		}
		seen += n
		return nil
	})
	if err == nil {
		require.Equal(t, o.Frames, seen)
	}
	return video, events, err
}

func TestI2VRunsBothExpertsAndStreamsFrames(t *testing.T) {
	m := tinyModels(t)
	o := baseOptions()
	var latents []int
	o.Latent = func(step, steps int, x []float32) error {
		require.Equal(t, 3, steps)
		require.Len(t, x, 16*o.Grid().Size())
		latents = append(latents, step)
		return nil
	}
	b := newCounting()
	_, events, err := collect(t, b, m, o)
	require.NoError(t, err)
	require.Equal(t, []int{1, 2, 3}, latents)
	n, ops := b.alive()
	require.Zero(t, n, "tensors left alive: %v", ops)

	// Every model stage starts and ends, in order; the denoising steps report
	// a pace and an ETA that reaches 0.
	var order []string
	for _, ev := range events {
		if ev.Done {
			order = append(order, ev.Stage.String())
		}
		require.Positive(t, ev.Elapsed)
	}
	require.Equal(t, []string{"vae-encode", "text-encode", "high-noise", "low-noise", "vae-decode"}, order)
	var steps []int
	for _, ev := range events {
		if (ev.Stage == HighNoise || ev.Stage == LowNoise) && !ev.Done && ev.PerStep > 0 {
			steps = append(steps, ev.Step)
			if ev.Step == 3 {
				require.Zero(t, ev.ETA)
			}
		}
		if ev.Plan != "" {
			require.Equal(t, "2 blocks resident", ev.Plan)
		}
	}
	require.Equal(t, []int{1, 2, 3}, steps)
	if hostmem.PeakRSS() == 0 && runtimeLinux {
		t.Fatal("no peak RSS on Linux")
	}
}

func TestI2VDeterministic(t *testing.T) {
	m := tinyModels(t)
	o := baseOptions()
	o.Steps = 2
	noise := make([]float32, 16*o.Grid().Size())
	for i := range noise {
		noise[i] = float32((i*7919)%201-100) / 50
	}
	o.Noise = noise
	a, _, err := collect(t, cpu.New(), m, o)
	require.NoError(t, err)
	b, _, err := collect(t, cpu.New(), m, o)
	require.NoError(t, err)
	require.Equal(t, a, b)

	// The noise decides the video: other noise, another video; the seed is ignored.
	o.Seed = 99
	c, _, err := collect(t, cpu.New(), m, o)
	require.NoError(t, err)
	require.Equal(t, a, c)
	o.Noise = slices.Clone(noise)
	o.Noise[0] += 3
	d, _, err := collect(t, cpu.New(), m, o)
	require.NoError(t, err)
	require.NotEqual(t, a, d)
}

func TestI2VSwitchStep(t *testing.T) {
	m := tinyModels(t)
	o := baseOptions()
	o.SwitchStep = 2 // high-noise for steps 1 and 2, where the boundary alone gives it step 1 only
	_, events, err := collect(t, cpu.New(), m, o)
	require.NoError(t, err)
	byStep := map[int]Stage{}
	for _, ev := range events {
		if (ev.Stage == HighNoise || ev.Stage == LowNoise) && !ev.Done && ev.PerStep > 0 {
			byStep[ev.Step] = ev.Stage
		}
	}
	require.Equal(t, map[int]Stage{1: HighNoise, 2: HighNoise, 3: LowNoise}, byStep)
}

// TestI2VCancelReleasesEverything cancels the run at every stage and checks
// that it stops with the context's error and frees every tensor.
func TestI2VCancelReleasesEverything(t *testing.T) {
	m := tinyModels(t)
	for _, at := range []struct {
		stage Stage
		step  int
	}{{VAEEncode, 0}, {TextEncode, 0}, {HighNoise, 0}, {HighNoise, 1}, {LowNoise, 2}, {VAEDecode, 1}} {
		b := newCounting()
		ctx, cancel := context.WithCancel(context.Background())
		o := baseOptions()
		var after []Event
		cancelled := false
		o.Progress = func(ev Event) {
			if cancelled {
				after = append(after, ev)
			}
			if ev.Stage == at.stage && ev.Step == at.step && !ev.Done {
				cancel()
				cancelled = true
			}
		}
		frames := 0
		err := I2V(ctx, b, m, testImage(o), o, func(f []float32, first int) error { frames++; return nil })
		cancel()
		require.True(t, cancelled, "%v", at)
		require.ErrorIs(t, err, context.Canceled, "%v", at)
		n, ops := b.alive()
		require.Zero(t, n, "%v: tensors left alive: %v", at, ops)
		require.Zero(t, frames, "%v: frames after the cancel", at)
		for _, ev := range after {
			require.False(t, ev.Done && ev.Stage >= at.stage && ev.Stage != at.stage, "%v: a later stage ran: %+v", at, ev)
		}
	}
}

// releaser records the Released calls of the pipeline.
type releaser struct {
	engine.VideoOps
	stages []Stage
	fail   Stage
}

func (r *releaser) Released(s Stage) error {
	r.stages = append(r.stages, s)
	if s == r.fail {
		return errors.New("device memory not back to baseline")
	}
	return nil
}

func TestI2VReleasedAfterEveryStage(t *testing.T) {
	m := tinyModels(t)
	r := &releaser{VideoOps: cpu.New(), fail: -1}
	_, _, err := collect(t, r, m, baseOptions())
	require.NoError(t, err)
	require.Equal(t, []Stage{VAEEncode, TextEncode, HighNoise, LowNoise, VAEDecode}, r.stages)

	r = &releaser{VideoOps: cpu.New(), fail: HighNoise}
	_, _, err = collect(t, r, m, baseOptions())
	require.ErrorContains(t, err, "high-noise: releasing the stage's memory: device memory not back to baseline")
}

func TestI2VErrors(t *testing.T) {
	m := tinyModels(t)
	o := baseOptions()
	noop := func([]float32, int) error { return nil }
	bad := m
	bad.High = m.TextEncoder // a text encoder is not a DiT
	err := I2V(context.Background(), cpu.New(), bad, testImage(o), o, noop)
	require.ErrorContains(t, err, "high-noise expert")

	bad = m
	bad.VAE = filepath.Join(t.TempDir(), "missing.safetensors")
	err = I2V(context.Background(), cpu.New(), bad, testImage(o), o, noop)
	require.ErrorContains(t, err, "VAE")

	err = I2V(context.Background(), cpu.New(), m, make([]float32, 5), o, noop)
	require.ErrorContains(t, err, "image has 5 values")
	err = I2V(context.Background(), cpu.New(), m, testImage(o), o, nil)
	require.ErrorContains(t, err, "frame consumer")

	// A consumer's error comes back unchanged, and stops the decode.
	stop := errors.New("disk full")
	b := newCounting()
	err = I2V(context.Background(), b, m, testImage(o), o, func([]float32, int) error { return stop })
	require.Same(t, stop, err)
	n, ops := b.alive()
	require.Zero(t, n, "%v", ops)
	// So does a latent callback's.
	o.Latent = func(int, int, []float32) error { return stop }
	err = I2V(context.Background(), b, m, testImage(o), o, noop)
	require.Same(t, stop, err)
	n, ops = b.alive()
	require.Zero(t, n, "%v", ops)
}
