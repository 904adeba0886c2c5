package pipeline

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/safetensors"
	"github.com/wan22/wan22/scheduler"
)

// loraTensors are the ComfyUI-style tensors of a LoRA of the given rank on
// the tiny experts' modules (each as [out, in]), drawn from seed so that B·A
// is about as large as the weight it adapts.
func loraTensors(rank int, seed uint64, modules map[string][2]int) []safetensors.Tensor {
	r := rand.New(rand.NewPCG(seed, 7))
	randn := func(n int, std float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * std)
		}
		return v
	}
	var ts []safetensors.Tensor
	for _, name := range sortedKeys(modules) {
		out, in := modules[name][0], modules[name][1]
		p := "diffusion_model." + name
		ts = append(ts,
			safetensors.FromFloat32(p+".lora_down.weight", []int64{int64(rank), int64(in)}, randn(rank*in, 1/math.Sqrt(float64(in)))),
			safetensors.FromFloat32(p+".lora_up.weight", []int64{int64(out), int64(rank)}, randn(out*rank, 1/math.Sqrt(float64(rank)))),
			safetensors.FromFloat32(p+".alpha", []int64{}, []float32{float32(rank)}))
	}
	return ts
}

func sortedKeys(m map[string][2]int) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	for i := range keys { // a handful of names: insertion sort keeps the order fixed
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// tinyLoRAModules lists every attention and FFN linear of the tiny experts
// and the first text embedding layer, as [out, in].
func tinyLoRAModules() map[string][2]int {
	c := tinymodels.DiT()
	m := map[string][2]int{"text_embedding.0": {c.Dim, c.TextDim}}
	for b := range c.Layers {
		p := "blocks." + strconv.Itoa(b) + "."
		for _, a := range []string{"self_attn.", "cross_attn."} {
			for _, l := range []string{"q", "k", "v", "o"} {
				m[p+a+l] = [2]int{c.Dim, c.Dim}
			}
		}
		m[p+"ffn.0"] = [2]int{c.FFNDim, c.Dim}
		m[p+"ffn.2"] = [2]int{c.Dim, c.FFNDim}
	}
	return m
}

// writeFile writes safetensors tensors to a new file named name.
func writeFile(t *testing.T, name string, ts ...safetensors.Tensor) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, safetensors.Write(path, ts, nil))
	return path
}

// tinyLoRA writes a rank-4 LoRA on every linear of tinyLoRAModules.
func tinyLoRA(t *testing.T, seed uint64) string {
	return writeFile(t, "lora"+strconv.FormatUint(seed, 10)+".safetensors", loraTensors(4, seed, tinyLoRAModules())...)
}

// fixedNoise is a deterministic initial latent for o.
func fixedNoise(o Options) []float32 {
	n := make([]float32, LatentChannels*o.Grid().Size())
	for i := range n {
		n[i] = float32((i*7919)%201-100) / 50
	}
	return n
}

func TestI2VLoRA(t *testing.T) {
	m := tinyModels(t)
	o := baseOptions()
	o.Steps = 2 // step 1 runs the high-noise expert, step 2 the low-noise one
	o.Noise = fixedNoise(o)
	plain, _, err := collect(t, cpu.New(), m, o)
	require.NoError(t, err)
	high, low := tinyLoRA(t, 1), tinyLoRA(t, 2)

	run := func(loras ...LoRA) []float32 {
		t.Helper()
		o := o
		o.LoRAs = loras
		b := newCounting()
		v, _, err := collect(t, b, m, o)
		require.NoError(t, err)
		n, ops := b.alive()
		require.Zero(t, n, "tensors left alive with LoRAs %v: %v", loras, ops)
		return v
	}
	both := run(LoRA{Path: high, Strength: 1})
	require.NotEqual(t, plain, both, "a LoRA on both experts changes nothing")
	// Strength 0 adds exactly 0 to every output: the video is the plain one.
	require.Equal(t, plain, run(LoRA{Path: high, Strength: 0}, LoRA{Path: low, Strength: 0, Expert: LoRALow}))

	// One LoRA per expert: each changes the video, and differently.
	onlyHigh := run(LoRA{Path: high, Strength: 1, Expert: LoRAHigh})
	onlyLow := run(LoRA{Path: low, Strength: 0.8, Expert: LoRALow})
	pair := run(LoRA{Path: high, Strength: 1, Expert: LoRAHigh}, LoRA{Path: low, Strength: 0.8, Expert: LoRALow})
	for name, v := range map[string][]float32{"high": onlyHigh, "low": onlyLow, "pair": pair} {
		require.NotEqual(t, plain, v, name)
	}
	require.NotEqual(t, onlyHigh, both, "the high-noise-only LoRA reached the low-noise expert")
	require.NotEqual(t, onlyHigh, pair)
	require.NotEqual(t, onlyLow, pair)
}

// TestBadLoRAsFailBeforeLoading checks that every bad LoRA fails with a
// clear error before any stage starts (no progress event, no tensor made).
func TestBadLoRAsFailBeforeLoading(t *testing.T) {
	m := tinyModels(t)
	c := tinymodels.DiT()
	garbage := filepath.Join(t.TempDir(), "garbage.safetensors")
	require.NoError(t, os.WriteFile(garbage, []byte("not a safetensors file at all"), 0o644))
	other := writeFile(t, "wan21-1.3b.safetensors", loraTensors(4, 3, map[string][2]int{"blocks.0.self_attn.q": {1536, 1536}, "blocks.0.ffn.0": {8960, 1536}})...)
	deepBlock := writeFile(t, "deep.safetensors", loraTensors(2, 3, map[string][2]int{"blocks.7.self_attn.q": {c.Dim, c.Dim}})...)
	unknown := writeFile(t, "unknown.safetensors", append(loraTensors(2, 3, map[string][2]int{"blocks.0.self_attn.q": {c.Dim, c.Dim}}),
		safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.lora_mid.weight", []int64{2, 2}, make([]float32, 4)))...)
	// A full-weight delta of a matrix the tiny experts store quantized (Q8_0, Q4_K).
	delta := writeFile(t, "delta.safetensors", safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.diff", []int64{int64(c.Dim), int64(c.Dim)}, make([]float32, c.Dim*c.Dim)))
	good := tinyLoRA(t, 1)
	truncated := filepath.Join(t.TempDir(), "truncated.safetensors")
	data, err := os.ReadFile(good)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(truncated, data[:len(data)/2], 0o644))

	for name, tc := range map[string]struct {
		loras []LoRA
		want  []string
	}{
		"missing":     {[]LoRA{{Path: filepath.Join(t.TempDir(), "nope.safetensors"), Strength: 1}}, []string{"LoRA for the high-noise expert", "nope.safetensors"}},
		"not a file":  {[]LoRA{{Path: garbage, Strength: 1, Expert: LoRALow}}, []string{"LoRA for the low-noise expert", "garbage.safetensors"}},
		"truncated":   {[]LoRA{{Path: truncated, Strength: 1}}, []string{"truncated.safetensors"}},
		"other model": {[]LoRA{{Path: other, Strength: 1}}, []string{"is a LoRA for Wan 2.1 T2V-1.3B, not for this model"}},
		"deep block":  {[]LoRA{{Path: deepBlock, Strength: 1, Expert: LoRALow}}, []string{"it adapts block 7, the model has 2 blocks"}},
		"unknown key": {[]LoRA{{Path: unknown, Strength: 1}}, []string{"lora_mid"}},
		"delta":       {[]LoRA{{Path: delta, Strength: 1, Expert: LoRAHigh}}, []string{`"diffusion_model.blocks.0.self_attn.q.diff"`, "Q8_0 in the model file"}},
		"NaN":         {[]LoRA{{Path: good, Strength: math.NaN()}}, []string{"strength NaN must be a finite number"}},
		"huge":        {[]LoRA{{Path: good, Strength: 1e6}}, []string{"from -100 to 100"}},
		"no path":     {[]LoRA{{Strength: 1}}, []string{"no file path"}},
		"expert":      {[]LoRA{{Path: good, Strength: 1, Expert: 7}}, []string{"unknown expert LoRAExpert(7)"}},
		"second bad":  {[]LoRA{{Path: good, Strength: 1}, {Path: other, Strength: 1, Expert: LoRALow}}, []string{"low-noise expert", "not for this model"}},
	} {
		require.Error(t, CheckLoRAs(m, tc.loras), name)
		o := baseOptions()
		o.LoRAs = tc.loras
		b := newCounting()
		_, events, err := collect(t, b, m, o)
		for _, w := range tc.want {
			require.ErrorContains(t, err, w, name)
		}
		require.Empty(t, events, "%s: a stage started before the LoRA was refused", name)
		require.Zero(t, b.made["Weight"], "%s: a model was loaded before the LoRA was refused", name)
	}
	require.NoError(t, CheckLoRAs(m, []LoRA{{Path: good, Strength: 1}, {Path: good, Strength: -0.5, Expert: LoRALow}}))
	// A LoRA for an expert whose file is wrong names the expert.
	bad := m
	bad.Low = m.VAE
	require.ErrorContains(t, CheckLoRAs(bad, []LoRA{{Path: good, Strength: 1, Expert: LoRALow}}), "low-noise expert "+m.VAE)
}

// TestGuidanceOneSkipsUncond checks that guidance 1 runs no unconditional
// pass: the video does not depend on the negative prompt, and each expert at
// guidance 1 runs one forward per step instead of two.
func TestGuidanceOneSkipsUncond(t *testing.T) {
	m := tinyModels(t)
	o := baseOptions()
	o.Noise = fixedNoise(o)
	attention := func(high, low float32, negative string) ([]float32, int) {
		o := o
		o.Guidance.High, o.Guidance.Low, o.Negative = high, low, negative
		b := newCounting()
		v, _, err := collect(t, b, m, o)
		require.NoError(t, err)
		return v, b.made["Attention"]
	}
	a, n1 := attention(1, 1, "blurry")
	b, _ := attention(1, 1, "a completely different negative prompt")
	require.Equal(t, a, b, "at guidance 1 the negative prompt changed the video")
	c, nCFG := attention(3.5, 3.5, "blurry")
	require.NotEqual(t, a, c)
	_, nMixed := attention(1, 3.5, "blurry") // the high-noise steps at 1, the low-noise ones with CFG
	_, ts, err := o.sampler()
	require.NoError(t, err)
	lowSteps := 0
	for i, ts := range ts {
		if o.pass(i, ts).Expert == scheduler.LowNoise {
			lowSteps++
		}
	}
	require.True(t, lowSteps > 0 && lowSteps < o.Steps, "the schedule should run both experts")

	// Each DiT forward makes one self- and one cross-attention per block; the
	// text encoder and the VAE make the same attentions in every run.
	perPass := 2 * tinymodels.DiT().Layers
	require.Equal(t, o.Steps*perPass, nCFG-n1, "guidance 3.5 vs 1: attentions")
	require.Equal(t, lowSteps*perPass, nMixed-n1, "guidance 1 on the high-noise expert only: attentions")
}

func TestSamplerTimesteps(t *testing.T) {
	o := baseOptions()
	o.Solver, o.Steps, o.Timesteps = "distill", 4, scheduler.DefaultDistillTimesteps
	_, ts, err := o.sampler()
	require.NoError(t, err)
	require.Len(t, ts, 4)
	require.Equal(t, []float64{1000, 937.5}, ts[:2])
	require.InDelta(t, 833.333, ts[2], 1e-3)
	require.Equal(t, 625.0, ts[3])
	// Euler at 4 steps, shift 5, runs the same sigmas with integer timesteps.
	o.Solver, o.Timesteps = "euler", nil
	_, ets, err := o.sampler()
	require.NoError(t, err)
	for i := range ts {
		require.Equal(t, math.Trunc(ts[i]), ets[i])
	}
	// The boundary compares the float timesteps: 937.5 ≥ 937.4 runs the high-noise expert.
	o.Guidance.Boundary = 0.9374
	require.Equal(t, scheduler.HighNoise, o.pass(1, 937.5).Expert)
	require.Equal(t, scheduler.LowNoise, o.pass(1, 937.3).Expert)

	for name, c := range map[string]struct {
		mod  func(*Options)
		want string
	}{
		"steps":     {func(o *Options) { o.Solver, o.Timesteps, o.Steps = "distill", []int{1000, 500}, 3 }, "2 timesteps (1000,500) for 3 steps"},
		"order":     {func(o *Options) { o.Solver, o.Timesteps, o.Steps = "distill", []int{500, 1000}, 2 }, "strictly decrease"},
		"not for":   {func(o *Options) { o.Timesteps = []int{1000} }, `for the distill solver, not "unipc"`},
		"LoRA":      {func(o *Options) { o.LoRAs = []LoRA{{Path: "x", Strength: math.Inf(1)}} }, "strength +Inf"},
		"LoRA path": {func(o *Options) { o.LoRAs = []LoRA{{}} }, "no file path"},
	} {
		o := baseOptions()
		c.mod(&o)
		require.ErrorContains(t, o.Validate(), c.want, name)
	}
}

// stepStages returns the expert stage of every denoising step of a run.
func stepStages(events []Event) map[int]Stage {
	by := map[int]Stage{}
	for _, ev := range events {
		if (ev.Stage == HighNoise || ev.Stage == LowNoise) && !ev.Done && ev.PerStep > 0 {
			by[ev.Step] = ev.Stage
		}
	}
	return by
}

// TestFewStepWorkflows runs the workflows of the distilled LoRAs: 4 steps
// at guidance 1 with a LoRA per expert, on the distilled schedule (2 + 2 by
// the boundary, or by --switch-step) and on Euler and UniPC with shift.
func TestFewStepWorkflows(t *testing.T) {
	m := tinyModels(t)
	loras := []LoRA{{Path: tinyLoRA(t, 1), Strength: 1, Expert: LoRAHigh}, {Path: tinyLoRA(t, 2), Strength: 1, Expert: LoRALow}}
	for _, c := range []struct {
		solver    string
		steps     int
		timesteps []int
		switchAt  int
		want      map[int]Stage
	}{
		// Timesteps 1000, 937.5, 833.3, 625: two above the 900 boundary.
		{"distill", 4, scheduler.DefaultDistillTimesteps, 0, map[int]Stage{1: HighNoise, 2: HighNoise, 3: LowNoise, 4: LowNoise}},
		{"distill", 4, scheduler.DefaultDistillTimesteps, 1, map[int]Stage{1: HighNoise, 2: LowNoise, 3: LowNoise, 4: LowNoise}},
		{"euler", 4, nil, 2, map[int]Stage{1: HighNoise, 2: HighNoise, 3: LowNoise, 4: LowNoise}},
		{"unipc", 6, nil, 3, map[int]Stage{1: HighNoise, 2: HighNoise, 3: HighNoise, 4: LowNoise, 5: LowNoise, 6: LowNoise}},
	} {
		o := baseOptions()
		o.Solver, o.Steps, o.Timesteps, o.SwitchStep = c.solver, c.steps, c.timesteps, c.switchAt
		o.Guidance.High, o.Guidance.Low = 1, 1
		o.LoRAs = loras
		o.Noise = fixedNoise(o)
		b := newCounting()
		video, events, err := collect(t, b, m, o)
		require.NoError(t, err, c.solver)
		require.Equal(t, c.want, stepStages(events), "%s, switch step %d", c.solver, c.switchAt)
		n, ops := b.alive()
		require.Zero(t, n, "%s: %v", c.solver, ops)
		for _, v := range video {
			require.False(t, math.IsNaN(float64(v)))
		}
	}
	// A cancelled distilled run with LoRAs releases everything too.
	ctx, cancel := context.WithCancel(context.Background())
	o := baseOptions()
	o.Solver, o.Steps, o.Timesteps, o.LoRAs = "distill", 4, scheduler.DefaultDistillTimesteps, loras
	o.Progress = func(ev Event) {
		if ev.Stage == LowNoise && ev.Step == 3 {
			cancel()
		}
	}
	b := newCounting()
	err := I2V(ctx, b, m, testImage(o), o, func([]float32, int) error { return nil })
	cancel()
	require.ErrorIs(t, err, context.Canceled)
	n, ops := b.alive()
	require.Zero(t, n, "%v", ops)
}
