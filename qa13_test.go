package wan22

import (
	"context"
	"errors"
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/blockswap"
	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/engine/vae"
	"github.com/wan22/wan22/gguf"
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

// swapCPU is the CPU backend made to plan an expert as the CUDA backend
// does (engine.Swapper), with left device bytes left by the budget.
type swapCPU struct {
	*cpu.Backend
	left int64
}

func (b swapCPU) SwapBudgets() (vram, pinned int64, err error) { return b.left, 1 << 40, nil }

func (swapCPU) NewSwap(blockswap.Plan, []engine.SlabLayout) (engine.SwapSet, error) {
	return nil, errors.New("swapCPU: no swapping on the CPU")
}

// refuseCPU is the CPU backend whose weight allocations the device budget
// refuses, as the CUDA backend's do: with an *engine.Error wrapping err.
type refuseCPU struct {
	*cpu.Backend
	err error
}

func (b refuseCPU) Weight(gguf.TensorInfo, []byte) engine.Tensor {
	panic(&engine.Error{Op: "Weight", Err: b.err})
}

// budgetCPU is the CPU backend with a device budget of limit bytes, of
// which none is in use (pipeline.DeviceBudgeter, as the CUDA backend tells
// it).
type budgetCPU struct {
	*cpu.Backend
	limit int64
}

func (b budgetCPU) DeviceBudget() (limit, inUse int64) { return b.limit, 0 }

// TestRunBudgetIsBudgetError: a VRAM budget found too small only during
// Generate is the documented *BudgetError for "device memory", with what
// was needed, the budget, the stage and whether the models alone exceed it,
// wrapping the engine's refusal (errors.Is finds blockswap.ErrBudget or
// cuda.ErrOutOfBudget, errors.As the engine's error, whose message it
// keeps); it was the engine's error alone, which errors.As(err,
// &*BudgetError) missed. The Pipeline is a CPU one made to plan as a CUDA
// one: its stages' views (p.stage) plan the experts within a budget, or
// refuse an allocation.
func TestRunBudgetIsBudgetError(t *testing.T) {
	p := open(t, tiny)
	cb := p.b.(*cpu.Backend)
	const limit = 2 << 30 // the tiny VAE and text encoder plan within it
	p.device, p.o.VRAMBudget, p.b = DeviceCUDA, limit, budgetCPU{cb, limit}
	view := func(st Stage, b engine.Backend) {
		p.stage = func(s Stage) engine.Backend {
			if s == st {
				return b
			}
			return nil
		}
	}
	ctx := context.Background()
	frames := Output{Frame: func(int, *image.RGBA) error { return nil }}
	r := tinyRequest()
	r.SwitchStep = 1 // both experts run
	run := func() (*BudgetError, error) {
		t.Helper()
		err := p.Generate(ctx, r, frames)
		var be *BudgetError
		require.ErrorAs(t, err, &be)
		require.Equal(t, "device memory", be.What)
		require.Equal(t, [3]int{r.Width, r.Height, r.Frames}, [3]int{be.Width, be.Height, be.Frames})
		require.Equal(t, be.Err.Error(), err.Error(), "the engine's message")
		return be, err
	}

	// The high-noise expert left 1 KiB (the rest held): no plan fits, and
	// its resident weights and slots alone do not.
	view(HighNoise, swapCPU{cb, 1 << 10})
	be, err := run()
	require.ErrorIs(t, err, blockswap.ErrBudget)
	var plan *blockswap.BudgetError
	require.ErrorAs(t, err, &plan)
	held := limit - plan.Budget
	require.Equal(t, int64(1<<10), plan.Budget)
	require.Equal(t, int64(limit), be.Budget)
	require.True(t, be.BudgetGiven)
	require.Equal(t, plan.Need+held, be.Need, "the expert's need with what was held: a budget that fits it")
	require.Equal(t, "high-noise", be.LargestStageOf)
	require.True(t, be.WeightsExceed())
	require.Equal(t, plan.Need-plan.Activations+held, be.Weights)
	require.Equal(t, HighNoise, be.WeightsIn)
	require.Equal(t, "high-noise", be.WeightsStage)
	require.ErrorContains(t, err, "high-noise expert "+tiny.High+": blockswap: a VRAM budget of 1.00 KiB is too small")

	// The low-noise expert (a file of its own: another plan) left 1 KiB,
	// then a byte less than it needs, more than its weights: a smaller
	// video fits.
	view(LowNoise, swapCPU{cb, 1 << 10})
	be, err = run()
	require.ErrorAs(t, err, &plan)
	require.Equal(t, "low-noise", be.LargestStageOf)
	require.Equal(t, LowNoise, be.WeightsIn)
	need := plan.Need
	view(LowNoise, swapCPU{cb, need - 1})
	be, err = run()
	require.ErrorIs(t, err, blockswap.ErrBudget)
	require.Equal(t, "low-noise", be.LargestStageOf)
	require.Equal(t, need+limit-(need-1), be.Need)
	require.False(t, be.WeightsExceed())
	require.Zero(t, be.Weights)

	// An allocation of the low-noise expert the budget refuses.
	refused := &cuda.BudgetError{What: "device memory", Owner: "low-noise", Request: 3 << 20, InUse: limit - 1<<20, Limit: limit}
	view(LowNoise, refuseCPU{cb, refused})
	be, err = run()
	require.ErrorIs(t, err, cuda.ErrOutOfBudget)
	var ce *cuda.BudgetError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "low-noise", be.LargestStageOf)
	require.Equal(t, int64(limit+2<<20), be.Need)
	require.Equal(t, int64(limit), be.Budget)
	require.True(t, be.BudgetGiven)
	require.Zero(t, be.Weights)

	// Without Options.VRAMBudget Resolve plans nothing: the VAE encoder,
	// planned at the run within the free memory (1 MiB), refuses it.
	p.o.VRAMBudget, p.b, p.stage = 0, budgetCPU{cb, 1 << 20}, nil
	be, err = run()
	var ve *vae.BudgetError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "VAE encode", be.LargestStageOf)
	require.Equal(t, ve.Need, be.Need)
	require.Equal(t, int64(1<<20), be.Budget)
	require.False(t, be.BudgetGiven, "the free memory, not the caller's limit")
	require.True(t, be.WeightsExceed(), "no video fits the tiny VAE in 1 MiB")

	// The Pipeline runs the next request.
	p.device, p.b = DeviceCPU, cb
	require.NoError(t, p.Generate(ctx, r, frames))
}
