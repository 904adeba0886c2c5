package wan22

// The front-door review's defects: what a Go program embedding wan22 (a GUI,
// a server) runs into.

import (
	"context"
	"errors"
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/engine/t5"
	"github.com/wan22/wan22/engine/vae"
)

// sizedWriter is a video writer that reports its frame size (and so is
// checked before the run); a nil *sizedWriter panics there, as would a
// writer whose FrameSize is broken.
type sizedWriter struct{ w, h int }

func (w *sizedWriter) WriteFrame(image.Image) error { return nil }
func (w *sizedWriter) Close() error                 { return nil }
func (w *sizedWriter) Abort() error                 { return nil }
func (w *sizedWriter) FrameSize() (int, int)        { return w.w, w.h }

// TestGenerateRecoversWriterCheckPanics: a video writer that panics when
// Generate asks its size, rate or state before the run (a typed nil of the
// caller's own writer type, a broken FrameSize) makes Generate return an
// *OutputError holding a *PanicError, as a panic in WriteFrame does, before
// any model work; the panic went through Generate to its caller.
func TestGenerateRecoversWriterCheckPanics(t *testing.T) {
	p := open(t, tiny)
	for name, w := range map[string]*sizedWriter{"nil *sizedWriter": nil} {
		var stages []Stage
		out := noWork(&stages)
		out.Video = w
		var err error
		require.NotPanics(t, func() { err = p.Generate(context.Background(), tinyRequest(), out) }, name)
		var oe *OutputError
		require.ErrorAs(t, err, &oe, name)
		require.Equal(t, "Video", oe.Output)
		require.Equal(t, -1, oe.Frame)
		require.Equal(t, -1, oe.Step)
		var pe *PanicError
		require.ErrorAs(t, err, &pe, name)
		require.NotEmpty(t, pe.Stack)
		require.ErrorContains(t, err, "Output.Video panicked")
		require.Empty(t, stages, "%s: refused before any stage", name)
	}
	// The Pipeline runs the next request.
	require.NoError(t, p.Generate(context.Background(), tinyRequest(), Output{Frame: frames}))
}

// TestGenerateRecoversImagePanics: an image whose pixels cannot be read (an
// image.Paletted with an empty palette, whose At the standard library
// answers with nil) is a *RequestError naming Image, holding a *PanicError,
// returned before any model work; the panic of reading it went through
// Generate.
func TestGenerateRecoversImagePanics(t *testing.T) {
	p := open(t, tiny)
	r := tinyRequest()
	r.Image = image.NewPaletted(r.Image.Bounds(), nil)
	var stages []Stage
	out := noWork(&stages)
	out.Frame = frames
	var err error
	require.NotPanics(t, func() { err = p.Generate(context.Background(), r, out) })
	var re *RequestError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "Image", re.Field)
	require.ErrorContains(t, err, "pixel (0, 0) uses palette index 0, the palette has 0 colours")
	require.Empty(t, stages, "refused before any stage")
	// An image whose own At panics is a *RequestError holding a *PanicError.
	r.Image = panicAt{r.Image.Bounds()}
	err = nil
	require.NotPanics(t, func() { err = p.Generate(context.Background(), r, out) })
	require.ErrorAs(t, err, &re)
	require.Equal(t, "Image", re.Field)
	var pe *PanicError
	require.ErrorAs(t, err, &pe)
	require.Empty(t, stages, "refused before any stage")
	require.NoError(t, p.Generate(context.Background(), tinyRequest(), Output{Frame: frames}))
}

// panicAt is an image whose At panics.
type panicAt struct{ image.Rectangle }

func (panicAt) ColorModel() color.Model   { return color.RGBAModel }
func (m panicAt) Bounds() image.Rectangle { return m.Rectangle }
func (panicAt) At(int, int) color.Color   { panic("broken image") }

// TestGuidanceBeyondFloat32: a guidance scale too large for the float32 the
// experts compute in (1e39; a finite float64) is a *RequestError naming its
// field and the value given; it was refused with Field "" as an infinite
// scale the request did not hold ("got (low 3.5, high +Inf)").
func TestGuidanceBeyondFloat32(t *testing.T) {
	p := open(t, tiny)
	for _, c := range []struct {
		field string
		edit  func(r *Request)
	}{
		{"GuidanceHigh", func(r *Request) { r.GuidanceHigh = 1e39 }},
		{"GuidanceLow", func(r *Request) { r.GuidanceLow = 1e300 }},
	} {
		re := resolveField(t, p, tinyRequest(), c.edit, c.field)
		require.NotContains(t, re.Error(), "Inf", c.field)
		require.ErrorContains(t, re, "e+", c.field)
	}
	r := tinyRequest()
	r.GuidanceHigh, r.GuidanceLow = math.MaxFloat32, 1
	_, err := p.Resolve(r)
	require.NoError(t, err, "the largest float32 is a scale")
}

// TestDeviceBudgetIsBudgetError: on the GPU, Resolve plans the VAE and the
// text encoder within Options.VRAMBudget; a budget they cannot fit is a
// *BudgetError for "device memory" (as its doc says What may be, and as
// the examples tell a caller to test), wrapping the stage's own refusal
// (*vae.BudgetError here) with its message; it was that refusal alone, which
// errors.As(err, &*BudgetError) missed. The plan needs no GPU: the Pipeline
// is a CPU one made to plan as a CUDA one.
func TestDeviceBudgetIsBudgetError(t *testing.T) {
	p := open(t, tiny)
	p.device = DeviceCUDA
	for _, c := range []struct {
		budget  int64
		weights bool // the models alone exceed it: no smaller video fits
	}{{1 << 10, true}, {0, false}} {
		r := tinyRequest()
		if c.budget == 0 {
			// The smallest budget the tiny set's 16×16 video fits, with a
			// larger video that does not fit it.
			p.o.VRAMBudget = 1 << 40
			small, err := p.planStages(16, 16)
			require.NoError(t, err)
			c.budget = max(small.EncodePeak, small.TextPeak, small.DecodePeak)
			r.Width, r.Height = 512, 512
		}
		p.o.VRAMBudget = c.budget
		_, err := p.Resolve(r)
		var be *BudgetError
		require.ErrorAs(t, err, &be, "budget %d", c.budget)
		require.Equal(t, "device memory", be.What)
		require.Equal(t, c.budget, be.Budget)
		require.True(t, be.BudgetGiven)
		require.Greater(t, be.Need, be.Budget)
		require.Equal(t, r.Width, be.Width)
		require.Equal(t, r.Frames, be.Frames)
		require.NotEmpty(t, be.LargestStageOf)
		require.Equal(t, c.weights, be.WeightsExceed(), "budget %d: %+v", c.budget, be)
		if c.weights {
			require.NotEmpty(t, be.WeightsStage)
		}
		var ve *vae.BudgetError
		var te *t5.BudgetError
		require.True(t, errors.As(err, &ve) || errors.As(err, &te), "the stage's own refusal is still reachable: %v", err)
		require.Equal(t, be.Err.Error(), err.Error(), "the stage's message, which names its minimum budget")
	}
}

// TestOptionsErrors: every Options field Open refuses is an *OptionsError
// naming it, with the message it had (a GUI marks the field; a program
// falls back to the CPU on ErrNoCUDA); they were plain errors, told apart
// only by their words.
func TestOptionsErrors(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		field string
		o     Options
		msg   string
	}{
		{"Device", Options{Device: "tpu"}, `unknown device "tpu"`},
		{"VRAMBudget", Options{Device: "cpu", VRAMBudget: -1}, "the VRAM budget must not be negative"},
		{"HostBudget", Options{Device: "cpu", HostBudget: -5}, "the host budget must not be negative"},
		{"Attention", Options{Device: "cpu", Attention: "int4"}, `attention precision "int4" not understood`},
	} {
		_, err := Open(ctx, tiny, c.o)
		var oe *OptionsError
		require.ErrorAs(t, err, &oe, c.field)
		require.Equal(t, c.field, oe.Field)
		require.ErrorContains(t, err, c.msg)
		require.Equal(t, oe.Err.Error(), err.Error())
		require.NotErrorIs(t, err, ErrNoCUDA, c.field)
	}
	if cuda.Available() {
		return
	}
	_, err := Open(ctx, tiny, Options{Device: "CUDA"})
	var oe *OptionsError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "Device", oe.Field)
	require.ErrorIs(t, err, ErrNoCUDA)
	require.EqualError(t, err, "wan22: this binary was built without CUDA: build it with `make cuda` (go build -tags cuda), or use the CPU")
	// 8-bit attention with the device left to Open: the AttentionError says
	// why there is no GPU, ErrNoCUDA among it.
	_, err = Open(ctx, tiny, Options{Attention: AttentionINT8})
	var ae *AttentionError
	require.ErrorAs(t, err, &ae)
	require.ErrorIs(t, err, ErrNoCUDA)
	require.ErrorContains(t, err, "8-bit attention needs the CUDA backend, and no usable GPU was found; choose bf16 attention (the default) to run on the CPU: this binary was built without CUDA (build it with `make cuda`)")
}

// TestZeroErrorsDoNotPanic: the package's error types, made by a caller
// (a test double, a GUI's own check) with some fields left zero, say what
// they can; RequestError's and OptionsError's Error panicked on a nil Err,
// while the others' did not.
func TestZeroErrorsDoNotPanic(t *testing.T) {
	for _, err := range []error{
		&RequestError{}, &RequestError{Field: "Prompt"}, &OptionsError{}, &OptionsError{Field: "Device"},
		&ModelError{}, &AttentionError{}, &OutputError{}, &PanicError{}, &BudgetError{},
	} {
		require.NotPanics(t, func() { _ = err.Error() }, "%T", err)
		require.NotEmpty(t, err.Error(), "%T", err)
	}
	require.Equal(t, "wan22: Prompt is refused", (&RequestError{Field: "Prompt"}).Error())
	require.Equal(t, "wan22: the options are refused", (&OptionsError{}).Error())
}

// TestDistillStepsFromTimesteps: with DistillSolver and Steps left 0, the
// steps are the timesteps listed, so too many of them is a *RequestError on
// Timesteps, the field the caller gave; it named Steps, which the caller
// left empty.
func TestDistillStepsFromTimesteps(t *testing.T) {
	p := open(t, tiny)
	many := make([]int, 20000)
	for i := range many {
		many[i] = 1000 - i/20
	}
	re := resolveField(t, p, tinyRequest(), func(r *Request) { r.Solver, r.Steps, r.Timesteps = DistillSolver, 0, many }, "Timesteps")
	require.ErrorContains(t, re, "20000")
	resolveField(t, p, tinyRequest(), func(r *Request) { r.Solver, r.Steps, r.Timesteps = DistillSolver, 20000, many }, "Steps")
}
