package wan22

import (
	"bytes"
	"context"
	"image"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLoRAUnusedWarning: a LoRA given to an expert alone while the schedule
// runs no step on that expert (a switch step at the end, a boundary above
// every timestep, distill timesteps all below it) has no effect, as that
// expert never loads: Options.Log gets a warning naming the LoRA, the expert
// and why, once per Pipeline (Generate resolves again), and the run goes on
// without it. A LoRA for both experts, or for an expert that runs, is not
// warned about.
func TestLoRAUnusedWarning(t *testing.T) {
	dir := t.TempDir()
	var log bytes.Buffer
	p, err := Open(context.Background(), tiny, Options{Device: "cpu", Log: slog.New(slog.NewTextHandler(&log, nil))})
	require.NoError(t, err)
	defer p.Close()
	high := zeroLoRA(t, dir, "a.safetensors", nil) // no name hint: only the schedule's warning
	low := zeroLoRA(t, dir, "b.safetensors", nil)
	resolve := func(edit func(*Request), ls ...LoRA) string {
		log.Reset()
		r := tinyRequest() // 2 steps: one an expert at the default boundary
		edit(&r)
		r.LoRAs = ls
		_, err := p.Resolve(r)
		require.NoError(t, err)
		return log.String()
	}
	pair := []LoRA{{Path: high, Expert: LoRAHigh, Strength: 1}, {Path: low, Expert: LoRALow, Strength: 1}}
	require.Empty(t, resolve(func(*Request) {}, pair...), "both experts run")

	out := resolve(func(r *Request) { r.SwitchStep = 2 }, pair...)
	require.Equal(t, 1, strings.Count(out, "level=WARN"), out)
	require.Contains(t, out, "a LoRA given to the low-noise expert has no effect: the schedule runs all 2 steps on the high-noise expert (Request.SwitchStep 2), so the low-noise expert never loads")
	require.Contains(t, out, "low_noise_lora="+low)
	require.NotContains(t, out, high)
	require.Empty(t, resolve(func(r *Request) { r.SwitchStep = 2 }, pair...), "warned twice")

	out = resolve(func(r *Request) { r.Boundary = 1 }, pair...)
	require.Equal(t, 1, strings.Count(out, "level=WARN"), out)
	require.Contains(t, out, "a LoRA given to the high-noise expert has no effect: the schedule runs all 2 steps on the low-noise expert (Request.Boundary 1)")
	require.Contains(t, out, "high_noise_lora="+high)

	out = resolve(func(r *Request) { r.Solver, r.Steps, r.Timesteps = DistillSolver, 0, []int{500, 250} }, pair[0])
	require.Contains(t, out, "a LoRA given to the high-noise expert has no effect", "distill timesteps below the boundary")

	both := LoRA{Path: low, Expert: LoRABoth, Strength: 1}
	require.Empty(t, resolve(func(r *Request) { r.Boundary = 1 }, both), "a LoRA for both reaches the expert that runs")

	// The run goes on without it.
	log.Reset()
	r := tinyRequest()
	r.SwitchStep, r.LoRAs = 2, []LoRA{{Path: zeroLoRA(t, dir, "c.safetensors", nil), Expert: LoRALow, Strength: 1}}
	require.NoError(t, p.Generate(context.Background(), r, Output{Frame: func(int, *image.RGBA) error { return nil }}))
	require.Equal(t, 1, strings.Count(log.String(), "level=WARN"), log.String())
	require.Contains(t, log.String(), "has no effect")
}
