package wan22

// A later QA pass: RequestError.Field names the field of every single-field
// fault, broken prepared inputs are refused before any work, and a zero
// Pipeline (not made by Open) is an error, never a panic.

import (
	"context"
	"image"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRequestErrorFields: faults of one field that the engine's own
// validation used to report with an empty Field name that field.
func TestRequestErrorFields(t *testing.T) {
	p := open(t, tiny)
	good := tinyRequest()
	nan32 := float32(math.NaN())
	for _, c := range []struct {
		field, msg string
		edit       func(r *Request)
	}{
		{"Steps", "steps", func(r *Request) { r.Steps = -3 }},
		{"Steps", "steps", func(r *Request) { r.Steps = 1 << 20 }},
		{"SwitchStep", "switch", func(r *Request) { r.SwitchStep = -1 }},
		{"SwitchStep", "switch", func(r *Request) { r.SwitchStep = 3 }},
		{"Solver", "distill", func(r *Request) { r.Solver = "ddim" }},
		{"Boundary", "boundary", func(r *Request) { r.Boundary = 1.5 }},
		{"Timesteps", "decrease", func(r *Request) { r.Solver, r.Steps, r.Timesteps = DistillSolver, 0, []int{500, 1000} }},
		{"Noise", "noise", func(r *Request) { r.Noise = make([]float32, 7) }},
		{"Noise", "finite", func(r *Request) { r.Noise = make([]float32, 16*2*2*4); r.Noise[3] = nan32 }},
		{"Tensor", "finite", func(r *Request) { r.Image = nil; r.Tensor = make([]float32, 3*16*32); r.Tensor[5] = nan32 }},
		{"LoRAs", "no file path", func(r *Request) { r.LoRAs = []LoRA{{}} }},
		{"LoRAs", "no-such-lora.safetensors", func(r *Request) { r.LoRAs = []LoRA{{Path: "no-such-lora.safetensors", Strength: 1}} }},
		{"LoRAs", "strength", func(r *Request) { r.LoRAs = []LoRA{{Path: tiny.High, Strength: math.Inf(1)}} }},
	} {
		require.ErrorContains(t, resolveField(t, p, good, c.edit, c.field), c.msg)
	}
	// Fields that only fail together still name none.
	resolveField(t, p, good, func(r *Request) { r.Solver, r.Steps = DistillSolver, 3 }, "")
}

// TestZeroPipeline: a Pipeline not made by Open (a zero value, e.g. a
// struct field) is refused by every method that needs models, and Close
// does not panic.
func TestZeroPipeline(t *testing.T) {
	var p Pipeline
	frame := Output{Frame: func(int, *image.RGBA) error { return nil }}
	_, err := p.Resolve(tinyRequest())
	require.ErrorIs(t, err, ErrNotOpened)
	require.ErrorIs(t, p.Generate(context.Background(), tinyRequest(), frame), ErrNotOpened)
	require.NotPanics(t, func() { err = p.Close() })
	require.ErrorIs(t, err, ErrNotOpened)
	require.Equal(t, "", p.Device())
	require.Equal(t, "", p.Backend())
}
