package wan22

import (
	"context"
	"errors"
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// absurd is a request field given an absurd value, and the field the
// refusal must name.
type absurd struct {
	field string
	edit  func(r *Request)
}

// absurdRequests are one or more absurd values of every Request field that
// takes a value (the Settings come from them), each to be refused as a
// *RequestError naming that field.
func absurdRequests() []absurd {
	distill := func(f func(r *Request)) func(r *Request) {
		return func(r *Request) { r.Solver, r.Steps = DistillSolver, 0; f(r) }
	}
	return []absurd{
		// A shift that makes the float32 sigmas collapse (huge: all 1; tiny:
		// all 0), with each solver: it was refused with Field "" (or
		// "Timesteps" with the default distill timesteps).
		{"Shift", func(r *Request) { r.Shift = 1e300 }},
		{"Shift", func(r *Request) { r.Shift = math.MaxFloat64 }},
		{"Shift", func(r *Request) { r.Shift, r.Steps = 1e6, 40 }},
		{"Shift", func(r *Request) { r.Shift = 1e-300 }},
		{"Shift", func(r *Request) { r.Shift = 5e-324 }},
		{"Shift", func(r *Request) { r.Shift, r.Solver = 1e300, "dpm++" }},
		{"Shift", func(r *Request) { r.Shift, r.Solver = 1e-300, "euler" }},
		{"Shift", distill(func(r *Request) { r.Shift = 1e300 })},
		{"Shift", distill(func(r *Request) { r.Shift = 1e-10 })},
		{"Shift", distill(func(r *Request) { r.Shift, r.Timesteps = 1e10, []int{900, 100} })},
		{"Shift", func(r *Request) { r.Shift = -1 }},
		{"Shift", func(r *Request) { r.Shift = math.Inf(1) }},
		{"Shift", func(r *Request) { r.Shift = math.NaN() }},
		{"Frames", func(r *Request) { r.Frames = math.MaxInt }},
		{"Frames", func(r *Request) { r.Frames = -3 }},
		{"Frames", func(r *Request) { r.Frames = 6 }},
		{"Width", func(r *Request) { r.Width = math.MaxInt }},
		{"Width", func(r *Request) { r.Width = -16 }},
		{"Width", func(r *Request) { r.Width = 33 }},
		// A wrong height was refused as the width's fault.
		{"Height", func(r *Request) { r.Height = math.MaxInt }},
		{"Height", func(r *Request) { r.Height = -16 }},
		{"Height", func(r *Request) { r.Height = 17 }},
		{"Width", func(r *Request) { r.Width, r.Height = 17, 17 }},
		{"MaxArea", func(r *Request) { r.Width, r.Height, r.MaxArea = 0, 0, math.MaxInt }},
		{"MaxArea", func(r *Request) { r.Width, r.Height, r.MaxArea = 0, 0, -1 }},
		// Negative with the size given, where it is unused: it was ignored.
		{"MaxArea", func(r *Request) { r.MaxArea = -1 }},
		{"Steps", func(r *Request) { r.Steps = math.MaxInt }},
		{"Steps", func(r *Request) { r.Steps = -1 }},
		{"SwitchStep", func(r *Request) { r.SwitchStep = math.MaxInt }},
		{"SwitchStep", func(r *Request) { r.SwitchStep = -1 }},
		{"FPS", func(r *Request) { r.FPS = math.MaxInt }},
		{"FPS", func(r *Request) { r.FPS = -1 }},
		{"Timesteps", distill(func(r *Request) { r.Timesteps = []int{math.MaxInt} })},
		{"Timesteps", distill(func(r *Request) { r.Timesteps = []int{-5} })},
		{"Timesteps", distill(func(r *Request) { r.Timesteps = make([]int, 20000) })},
		{"Timesteps", distill(func(r *Request) { r.Timesteps = []int{250, 500} })},
		{"Solver", func(r *Request) { r.Solver = "ddim" }},
		{"GuidanceHigh", func(r *Request) { r.GuidanceHigh = 1e39 }},
		{"GuidanceHigh", func(r *Request) { r.GuidanceHigh = -1 }},
		{"GuidanceLow", func(r *Request) { r.GuidanceLow = math.NaN() }},
		{"Boundary", func(r *Request) { r.Boundary = 2 }},
		{"Boundary", func(r *Request) { r.Boundary = math.Inf(1) }},
		{"LoRAs", func(r *Request) { r.LoRAs = []LoRA{{Path: tiny.High, Strength: 1e300}} }},
		{"LoRAs", func(r *Request) { r.LoRAs = []LoRA{{Strength: 1}} }},
		{"Noise", func(r *Request) { r.Noise = []float32{1} }},
		{"Noise", func(r *Request) { r.Noise = make([]float32, 16*2*2*4); r.Noise[3] = float32(math.Inf(-1)) }},
		{"Tensor", func(r *Request) { r.Image, r.Tensor = nil, []float32{1} }},
		{"Tensor", func(r *Request) {
			r.Image, r.Tensor = nil, make([]float32, 3*16*32)
			r.Tensor[7] = float32(math.NaN())
		}},
		{"Image", func(r *Request) { r.Image = image.NewUniform(color.Black) }},
		{"Image", func(r *Request) { r.Image = (*image.RGBA)(nil) }},
		{"Prompt", func(r *Request) { r.Prompt = "caf\xe9" }},
		{"Negative", func(r *Request) { r.Negative = "caf\xe9" }},
		{"NoNegative", func(r *Request) { r.NoNegative, r.Negative = true, "blurry" }},
	}
}

// TestAbsurdFieldsNameTheirField: every request field given an absurd
// value is refused by Resolve with a *RequestError whose Field names it, so
// that a GUI can mark the field. A huge or tiny shift that makes the
// schedule's float32 sigmas collapse was refused with Field "" (the
// scheduler's message, as a fault of fields that fail only together), and
// under the distill solver with "Timesteps", which the request had not
// given.
func TestAbsurdFieldsNameTheirField(t *testing.T) {
	p := open(t, tiny)
	for i, c := range absurdRequests() {
		r := tinyRequest()
		c.edit(&r)
		_, err := p.Resolve(r)
		var re *RequestError
		require.True(t, errors.As(err, &re), "case %d (%s): %v", i, c.field, err)
		require.Equal(t, c.field, re.Field, "case %d: %v", i, err)
		require.NotEmpty(t, err.Error())
	}
	// The shift's refusal says it is the shift, keeps the scheduler's
	// reason, and a sound shift with the same steps runs.
	r := tinyRequest()
	r.Shift = 1e300
	_, err := p.Resolve(r)
	require.ErrorContains(t, err, "the shift 1e+300 makes the schedule unusable")
	require.ErrorContains(t, err, "degenerate schedule")
	r.Shift = 1e-10 // extreme, yet a sound UniPC schedule of 2 steps
	_, err = p.Resolve(r)
	require.NoError(t, err)
}

// TestGenerateErrorsAsReturned: Generate returns its refusals and failures
// as they are, so that a type switch or a comparison finds them as a
// Resolve's does; they came back inside an errors.Join with the (nil)
// error of ending the run's turn, a *errors.joinError for every failure.
func TestGenerateErrorsAsReturned(t *testing.T) {
	p := open(t, tiny)
	frames := Output{Frame: func(int, *image.RGBA) error { return nil }}
	r := tinyRequest()
	r.Frames = 6
	err := p.Generate(context.Background(), r, frames)
	re, ok := err.(*RequestError)
	require.True(t, ok, "%T: %v", err, err)
	require.Equal(t, "Frames", re.Field)

	broken := errors.New("disk full")
	err = p.Generate(context.Background(), tinyRequest(), Output{Frame: func(int, *image.RGBA) error { return broken }})
	oe, ok := err.(*OutputError)
	require.True(t, ok, "%T: %v", err, err)
	require.Equal(t, "Frame", oe.Output)
	require.Same(t, broken, oe.Err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = p.Generate(ctx, tinyRequest(), frames)
	require.ErrorIs(t, err, context.Canceled)
	_, joined := err.(interface{ Unwrap() []error })
	require.False(t, joined, "%T: %v", err, err)
}
