package wan22

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wan22/wan22/blockswap"
	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/engine/hostmem"
	"github.com/wan22/wan22/engine/imageprep"
	"github.com/wan22/wan22/engine/lora"
	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/engine/pipeline"
	"github.com/wan22/wan22/engine/t5"
	"github.com/wan22/wan22/engine/vae"
	"github.com/wan22/wan22/engine/video"
	"github.com/wan22/wan22/internal/fserr"
	"github.com/wan22/wan22/internal/plural"
	"github.com/wan22/wan22/internal/safetext"
	"github.com/wan22/wan22/scheduler"
)

// The official I2V-A14B settings (spec §1), used for the zero fields of a
// Request.
const (
	DefaultSteps    = 40
	DefaultShift    = 5.0
	DefaultGuidance = 3.5 // both experts
	DefaultBoundary = scheduler.BoundaryI2V
	DefaultSolver   = "unipc"
	DefaultFrames   = 81
	DefaultFPS      = video.DefaultFPS
	DefaultMaxArea  = 1280 * 720
)

// DefaultNegative is the official negative prompt, used when
// Request.Negative is empty and Request.NoNegative is not set.
const DefaultNegative = pipeline.DefaultNegative

// Stage is a stage of a generation; see the constants.
type Stage = pipeline.Stage

// The stages, in the order they run.
const (
	VAEEncode  = pipeline.VAEEncode
	TextEncode = pipeline.TextEncode
	HighNoise  = pipeline.HighNoise
	LowNoise   = pipeline.LowNoise
	VAEDecode  = pipeline.VAEDecode
	VideoWrite = pipeline.VideoWrite
)

// Event is a progress report: the stage, step i of n, the pace and ETA,
// peak memory and block-swap counters.
type Event = pipeline.Event

// Memory is the peak memory of a run so far.
type Memory = pipeline.Memory

// LoRA is a LoRA file (safetensors) attached at run time to one or both
// experts (Expert; the zero value, LoRABoth, is both) with a Strength: each
// adapted linear computes W·x + s·B·(A·x), s = Strength·alpha/rank, without
// touching the (quantized) base weights. Strength 1 is the LoRA as trained;
// the zero value, 0, leaves the expert as it is, so set it.
type LoRA = pipeline.LoRA

// LoRAExpert says which experts a LoRA applies to.
type LoRAExpert = pipeline.LoRAExpert

// The experts a LoRA may apply to; the zero value is both.
const (
	LoRABoth = pipeline.LoRABoth
	LoRAHigh = pipeline.LoRAHigh
	LoRALow  = pipeline.LoRALow
)

// DistillSolver is the Solver of step-distilled models and LoRAs (LightX2V's
// 4-step schedule and its kin): the model runs at the listed timesteps of
// the shifted 1000-step training schedule (Request.Timesteps, default
// 1000, 750, 500, 250), with guidance 1 unless given.
const DistillSolver = string(scheduler.Distill)

// Request is one video to generate. Every zero field takes the official
// I2V-A14B default, so a Request with an Image and a Prompt is complete.
type Request struct {
	// Image is the first frame. It is resized (bicubic, as the official
	// code) to the output size, as given: an image.Image carries no EXIF,
	// so a file's orientation is applied when it is loaded
	// (imageprep.Load turns it upright; imageprep.LoadWith with
	// LoadOptions.IgnoreOrientation keeps the stored pixels, as the
	// official code), and the size follows the image as given. Its bounds
	// must be within imageprep.Load's limits (imageprep.CheckImageSize: at
	// most 16384 pixels a side and 128 Mpx), which Resolve checks.
	Image image.Image
	// Tensor, instead of Image, is a prepared image [3, Height, Width], RGB
	// in [−1, 1] (imageprep.Tensor makes it; finite: Resolve refuses NaN
	// and Inf, and values beyond ±4, which are pixels of another scale such
	// as 0–255); Width and Height must then be given.
	Tensor []float32

	Prompt   string
	Negative string // "": DefaultNegative, unless NoNegative
	// NoNegative asks for an empty negative prompt instead of DefaultNegative
	// (Negative must then be ""): the unconditional pass sees no text.
	NoNegative bool

	Frames int // 4n+1; 0: 81
	// Width and Height give the output size (multiples of 16); when zero it
	// follows from MaxArea and the image's aspect ratio, as the official code.
	Width, Height int
	MaxArea       int // pixels; 0: 1280×720; negative is refused, even with Width and Height

	Steps  int     // 0: 40, or the length of Timesteps for DistillSolver
	Shift  float64 // 0: 5.0
	Solver string  // "unipc" (""), "dpm++", "euler" or DistillSolver ("distill"), any case
	// Timesteps is DistillSolver's step list (nil: 1000, 750, 500, 250);
	// other solvers take none.
	Timesteps []int
	// GuidanceHigh and GuidanceLow are the guidance scales of the high- and
	// low-noise experts; 0: 3.5 (1 for DistillSolver). A scale of 1 skips
	// the unconditional pass.
	GuidanceHigh, GuidanceLow float64
	// Boundary is the expert switch as a fraction of the 1000 training
	// timesteps (0: 0.9); SwitchStep > 0 switches after that many steps
	// instead.
	Boundary   float64
	SwitchStep int

	// LoRAs are attached to the experts they apply to, in order. Each file
	// is checked against its experts by Resolve, before anything loads. A
	// LoRA's Strength is taken as given, not defaulted as the Request's
	// zero fields are: 0 leaves its expert as it is; 1 is the file as
	// trained. A LoRA given to an expert the schedule runs no step on (see
	// Boundary and SwitchStep) has no effect either: Options.Log gets a
	// warning.
	LoRAs []LoRA

	Seed uint64
	// Noise is the initial latent noise [16, T, h, w], finite; it
	// overrides Seed (Settings.NoiseGiven, with Settings.Seed 0).
	Noise []float32

	// FPS is the frame rate of the video in frames per second; 0: 16.
	// Generate cannot change the rate of Output.Video: a writer has its own,
	// fixed when it is made (video.Options.FPS). When the writer reports it
	// (video.FrameRater, as a *video.File does), Generate refuses a rate
	// other than this one before any model work; a writer that does not
	// report it is not checked. With only Output.Frame, FPS is just the
	// Settings.FPS that Resolve reports.
	FPS int
}

// Output says where a generation goes. At least one of Video and Frame must
// be set. Generate calls the writer and the callbacks on its own goroutine,
// one at a time, and starts none once it has seen the run's context end or
// Close: a call already under way when Close returns on another goroutine
// finishes, and at most one more may start, so close or abort the writer
// only after Generate returns. One that returns an error or panics stops the run: Generate
// returns an *OutputError naming it (a panic's value and stack in a
// *PanicError), with every model released. A callback may call the
// Pipeline's Resolve, Device, Backend and Close, but not Generate, which
// would wait for its turn, after the run that calls it, until its context
// ends.
type Output struct {
	// Video receives every frame in order, each an *image.RGBA of Settings.Width
	// × Settings.Height. The image is reused for the next frame (it is the one
	// Frame gets), so a writer of your own must not keep it after WriteFrame
	// returns, as io.Writer's Write must not keep its slice: encode it there, or
	// copy it (a writer that collects the frames to encode them at Close would
	// hold the last frame N times). Its frame size and rate are the writer's
	// own, fixed when it is made: create it with the Settings of Resolve, e.g.
	// video.Create(ctx, path, video.Options{Width: s.Width, Height: s.Height,
	// FPS: s.FPS}). A writer that reports them (video.FrameSizer,
	// video.FrameRater: a *video.File does) is checked before any model work,
	// and a size or rate other than the request's is refused; one that does not
	// is not checked, and a wrong size then fails only when the first frame is
	// written. A writer that takes no more frames (a *video.File's Err: closed,
	// aborted, failed or cancelled) is refused before any model work too; one
	// still open takes a second Generate's frames after the first's (clips
	// chained into one video, the last frame of one the image of the next).
	// Generate does not close it: on success call Close (which completes the
	// file), on failure Abort.
	Video video.Writer
	// Frame receives every frame as it is decoded (i counts from 0), after
	// Video has written it: changing the image (drawing an overlay on a
	// preview) does not change the video. The image is reused for the next
	// frame: copy it to keep it.
	Frame func(i int, img *image.RGBA) error
	// Progress receives progress events. It returns no error; a panic in
	// it stops the run as a failing output does.
	Progress func(Event)
	// Latent receives the latent [16, T, h, w] after every denoising step
	// (for previews, see imageprep.LatentPreview; with the Settings,
	// T = (Frames−1)/4 + 1, h = Height/8, w = Width/8). The slice is a copy, valid until the callback
	// returns: changing it does not change the video; copy it to keep it.
	Latent func(step, steps int, latent []float32) error
}

// Settings is a Request with every default filled in and checked, and its
// memory estimate.
type Settings struct {
	Width, Height, Frames, FPS int
	Steps                      int
	Shift                      float64
	Solver                     string // in lower case: "unipc", "dpm++", "euler" or "distill"
	Timesteps                  []int  // DistillSolver's step list
	Guidance                   scheduler.Guidance
	SwitchStep                 int
	LoRAs                      []LoRA
	// Seed is the seed the initial noise is drawn from, Request.Seed; 0
	// when NoiseGiven, as no seed is used then.
	Seed uint64
	// NoiseGiven says that the initial noise is Request.Noise, which
	// overrides the seed: the video is not the one of any seed.
	NoiseGiven bool
	// Negative is the negative prompt the unconditional pass sees:
	// Request.Negative, DefaultNegative when that is empty, or "" with
	// Request.NoNegative. With guidance 1 on both experts there is no
	// unconditional pass, and it is unused.
	Negative string
	// Attention says how the DiT's attention is computed: "bf16", "int8"
	// or "fp8" on the GPU (Options.Attention), "f32" on the CPU. On a GPU
	// without FP8 tensor cores "fp8" runs as "int8" (the backend logs it).
	Attention string
	// Host and Device are the estimated peak memory in bytes: host memory,
	// and device memory outside the DiT (whose blocks the block manager
	// places within the budget); Device is 0 on the CPU.
	Host, Device int64
	// Budget is the host memory budget the estimate was checked against;
	// 0 when no Options.HostBudget was given and the available memory could
	// not be read (the estimate was then not checked).
	Budget int64
}

// BudgetError is a request that does not fit the memory budget. Resolve
// (and Generate, before any model work) returns it when the memory
// estimate exceeds the budget: for host memory (Options.HostBudget, or the
// memory available), and on the GPU for device memory when a stage Resolve
// plans within Options.VRAMBudget, the VAE's encode or decode in its
// smallest tiles or the text encoder streamed block by block, cannot fit
// it.
//
// Generate also returns it, for device memory, when the run finds the
// budget too small only as a stage loads or runs: an expert, whose blocks
// are planned when it loads, that does not fit even with every block
// swapped (Err wraps a *blockswap.BudgetError: errors.Is(err,
// blockswap.ErrBudget)); a device allocation the budget refuses (a
// *cuda.BudgetError: errors.Is(err, cuda.ErrOutOfBudget)); or, without
// Options.VRAMBudget, the VAE or the text encoder planned within the free
// memory that the budget leaves them. The models already loaded are
// released, as for any failed run.
type BudgetError struct {
	What string // "host memory" or "device memory"
	// Need is the memory the request needs, in bytes, and Budget the budget
	// it was checked against. For device memory both count the whole device
	// budget (Options.VRAMBudget, or the free memory less a reserve when the
	// pipeline opened) with what the run held when the stage started, so
	// that a budget of Need fits the stage; for an allocation the budget
	// refused, Need is what was allocated with it: at least that.
	Need, Budget   int64
	Width, Height  int
	Frames         int
	LargestStageOf string // the stage that needs the most (for device memory: the one that does not fit)
	// BudgetGiven says that Budget is the caller's limit (Options.HostBudget
	// for host memory, Options.VRAMBudget for device memory), not the memory
	// available when the run was checked.
	BudgetGiven bool
	// Weights is the most any stage needs for its models alone, in bytes:
	// the weights with their dequantized copies and LoRAs, and the runtime,
	// with no video. Above Budget, no smaller video fits. WeightsStage names
	// that stage in messages, WeightsIn is it (to branch on). For device
	// memory it is what the stage needs for the smallest video (16×16; for
	// an expert, its weights that stay on the device and two block slots,
	// without activations), set only when that does not fit either, and
	// where the stage tells it (not for a refused allocation).
	Weights      int64
	WeightsStage string
	WeightsIn    Stage
	// Err is the engine's own refusal of device memory, whose message Error
	// returns: the stage's plan (a *vae.BudgetError or *t5.BudgetError,
	// which name the smallest budget that fits), and from Generate the run's
	// error that wraps it, a *blockswap.BudgetError (naming the smallest
	// budget the expert needs) or a *cuda.BudgetError; nil for host memory.
	Err error
}

// Unwrap returns Err.
func (e *BudgetError) Unwrap() error { return e.Err }

// WeightsExceed reports whether the models alone (Weights) exceed the
// budget, so that only a larger budget or smaller (quantized) model files,
// not a smaller or shorter video, can make the request fit.
func (e *BudgetError) WeightsExceed() bool { return e.Weights > e.Budget }

func (e *BudgetError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	verb := "need"
	if e.Frames == 1 {
		verb = "needs"
	}
	frames := fmt.Sprintf("%d frames", e.Frames)
	if e.Frames == 1 {
		frames = "1 frame"
	}
	limit := fmt.Sprintf("the %s budget of %s", e.What, memSize(e.Budget))
	if !e.BudgetGiven {
		limit = fmt.Sprintf("the %s of %s available", memSize(e.Budget), e.What)
	}
	msg := fmt.Sprintf("%s of %dx%d %s about %s of %s (the %s stage), more than %s", frames, e.Width, e.Height, verb, memSize(e.Need), e.What, e.LargestStageOf, limit)
	more := "raise the budget"
	if !e.BudgetGiven {
		more = "free memory"
	}
	if e.WeightsExceed() {
		return fmt.Sprintf("%s; the models alone, without any video, need about %s (the %s stage), so no smaller video fits: %s or use smaller (quantized) model files",
			msg, memSize(e.Weights), e.WeightsStage, more)
	}
	return fmt.Sprintf("%s: make the video smaller or use fewer frames, or %s", msg, more)
}

// memSize writes a memory size for messages: "2.35 GiB", or "1.0 MiB" below
// a tenth of a GiB, which would round to "0.00 GiB" or near, or "16 bytes"
// below a MiB (a budget given in GiB where bytes are wanted, e.g.
// Options.HostBudget 16, would read "0.0 MiB" and hide the mistake).
func memSize(n int64) string {
	switch {
	case n >= 1<<30/10:
		return gib(n)
	case n < 1<<20:
		return plural.Count(n, "byte")
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// Resolve fills in the defaults of r, checks it and estimates its memory
// against the budget. Generate calls it before any model work; call it
// yourself to show what will run before running it. After Close it returns
// ErrClosed. A model file that can no longer be read as Open read it
// (moved, deleted or cut short since) is a *ModelError, as from Open.
//
// Without Options.HostBudget the host budget is the memory available when
// Resolve is called: called while a Generate runs, it counts what that run
// holds as taken, and may refuse with a *BudgetError a request that fits
// once the run has returned. Generate resolves again when its turn comes.
// Before it refuses, the memory this process's heap holds unused (an
// earlier run's models, freed but not yet returned to the system) is
// returned (debug.FreeOSMemory) and the memory available read again.
func (p *Pipeline) Resolve(r Request) (Settings, error) {
	s, err := p.settings(r)
	if err != nil {
		return s, err
	}
	return s, p.estimate(&s)
}

// settings is Resolve without the memory estimate: r's defaults filled in
// and every field checked, the LoRAs against their experts.
func (p *Pipeline) settings(r Request) (Settings, error) {
	if err := p.usable(); err != nil {
		return Settings{}, err
	}
	if err := p.modelsReadable(); err != nil {
		return Settings{}, err
	}
	s := Settings{
		Width: r.Width, Height: r.Height, Frames: orInt(r.Frames, DefaultFrames), FPS: orInt(r.FPS, DefaultFPS),
		// The solver's name is taken in any case, as Options.Device is.
		Steps: orInt(r.Steps, DefaultSteps), Shift: orFloat(r.Shift, DefaultShift), Solver: strings.ToLower(r.Solver),
		// Copies: the Settings are the caller's to keep, apart from the request.
		SwitchStep: r.SwitchStep, Seed: r.Seed, LoRAs: slices.Clone(r.LoRAs), Timesteps: slices.Clone(r.Timesteps),
		Attention: p.attentionRuns(),
	}
	if s.Solver == "" {
		s.Solver = DefaultSolver
	}
	if r.Noise != nil {
		// The noise is the request's: no seed is drawn from.
		s.Seed, s.NoiseGiven = 0, true
	}
	guidance := DefaultGuidance
	if s.Solver == DistillSolver {
		// Distilled models run without CFG and one step per listed timestep.
		guidance = 1
		if len(s.Timesteps) == 0 {
			s.Timesteps = slices.Clone(scheduler.DefaultDistillTimesteps)
		}
		s.Steps = orInt(r.Steps, len(s.Timesteps))
	}
	// Each at most most: the experts scale in float32, where a larger guidance is +Inf.
	for _, f := range []struct {
		field, name string
		v, most     float64
	}{{"Shift", "shift", r.Shift, math.MaxFloat64}, {"GuidanceHigh", "high-noise guidance", r.GuidanceHigh, math.MaxFloat32},
		{"GuidanceLow", "low-noise guidance", r.GuidanceLow, math.MaxFloat32}, {"Boundary", "boundary", r.Boundary, math.MaxFloat64}} {
		if !finite(f.v) || f.v < 0 {
			return s, requestErr(f.field, fmt.Errorf("wan22: the %s must be a finite non-negative number, got %v", f.name, f.v))
		}
		if f.v > f.most {
			return s, requestErr(f.field, fmt.Errorf("wan22: the %s must be at most %g (the largest float32), got %v", f.name, f.most, f.v))
		}
	}
	s.Guidance = scheduler.Guidance{
		Boundary: orFloat(r.Boundary, DefaultBoundary),
		High:     float32(orFloat(r.GuidanceHigh, guidance)),
		Low:      float32(orFloat(r.GuidanceLow, guidance)),
	}
	if err := imageprep.CheckFrames(s.Frames); err != nil {
		return s, requestErr("Frames", err)
	}
	if s.FPS < 1 || s.FPS > 1000 {
		return s, requestErr("FPS", fmt.Errorf("wan22: fps must be in [1, 1000], got %d", s.FPS))
	}
	if r.NoNegative && r.Negative != "" {
		return s, requestErr("NoNegative", errors.New("wan22: the request has both a Negative prompt and NoNegative: give one"))
	}
	switch {
	case r.NoNegative:
		s.Negative = ""
	case r.Negative == "":
		s.Negative = DefaultNegative
	default:
		s.Negative = r.Negative
	}
	for _, t := range []struct{ field, name, v string }{{"Prompt", "prompt", r.Prompt}, {"Negative", "negative prompt", r.Negative}} {
		if err := checkUTF8(t.name, t.v); err != nil {
			return s, requestErr(t.field, err)
		}
	}
	if nilImage(r.Image) {
		return s, requestErr("Image", errors.New("wan22: the request's Image is a nil pointer (a failed decode?): give a decoded image"))
	}
	switch {
	case r.Image == nil && r.Tensor == nil:
		return s, requestErr("Image", errors.New("wan22: the request has no image"))
	case r.Image != nil && r.Tensor != nil:
		return s, requestErr("Tensor", errors.New("wan22: the request has both an Image and a Tensor: give one"))
	case r.Tensor != nil && (r.Width == 0 || r.Height == 0):
		return s, requestErr("Width", errors.New("wan22: a prepared Tensor needs Width and Height"))
	}
	var b image.Rectangle // the image's bounds
	if r.Image != nil {
		// Bounds is the caller's code (an image type of their own, a struct
		// embedding a nil *image.RGBA): its panic is the image's fault, as
		// one of At is when Generate reads the pixels.
		if err := catch(func() error { b = r.Image.Bounds(); return nil }); err != nil {
			return s, requestErr("Image", fmt.Errorf("wan22: the request's image panicked when asked its size (Bounds): %w: give a well-formed image (e.g. draw it into an image.RGBA)", err))
		}
		// Preparing the image costs memory by its width: Load's limits.
		if err := imageprep.CheckImageSize(b.Dx(), b.Dy()); err != nil {
			hint := ""
			if _, ok := r.Image.(*image.Uniform); ok {
				hint = " (an image.Uniform has no size: draw it into an image.RGBA of the size you want)"
			}
			return s, requestErr("Image", fmt.Errorf("wan22: the request's image %w%s", err, hint))
		}
	}
	if r.MaxArea < 0 {
		// Refused even where the size is given and MaxArea unused: no
		// request means it.
		return s, requestErr("MaxArea", fmt.Errorf("wan22: the max area must be a positive number of pixels (0: 1280×720), got %d", r.MaxArea))
	}
	if (s.Width == 0) != (s.Height == 0) {
		return s, requestErr("Width", fmt.Errorf("wan22: give both width and height, or neither (got %dx%d)", s.Width, s.Height))
	}
	if s.Width == 0 {
		var err error
		if s.Width, s.Height, err = imageprep.Size(b.Dx(), b.Dy(), orInt(r.MaxArea, DefaultMaxArea)); err != nil {
			return s, requestErr("MaxArea", err)
		}
	}
	if err := imageprep.CheckSize(s.Width, s.Height); err != nil {
		// The size is the request's own (Size makes only sound ones): the
		// side at fault, the width when both are.
		field := "Height"
		if imageprep.CheckSize(s.Width, 16) != nil {
			field = "Width"
		}
		return s, requestErr(field, err)
	}
	if r.Tensor != nil && len(r.Tensor) != 3*s.Width*s.Height {
		return s, requestErr("Tensor", fmt.Errorf("wan22: the prepared Tensor has %d values, want 3×%d×%d", len(r.Tensor), s.Height, s.Width))
	}
	if err := checkFields(r, s); err != nil {
		return s, err
	}
	o := p.options(r, s)
	o.LoRAs = nil // CheckLoRAs checks them, as the field at fault
	if err := o.Validate(); err != nil {
		return s, requestErr("", err) // what is left: fields that fail only together
	}
	if err := pipeline.CheckLoRAs(p.pipelineModels(), s.LoRAs); err != nil {
		return s, requestErr("LoRAs", err)
	}
	p.warnLoRAExperts(s.LoRAs)
	p.warnLoRAsUnused(o, s.LoRAs)
	return s, nil
}

// modelsReadable opens each model file again, as Open did (its header, and
// that its data is all there): a file moved, deleted, cut short or replaced
// by a folder since Open is the *ModelError Open would have returned, before
// any stage runs, not a stage's plain error after the stages before it.
func (p *Pipeline) modelsReadable() error {
	m := p.models
	for _, f := range []struct{ role, path string }{
		{"high-noise expert", m.High}, {"low-noise expert", m.Low}, {"text encoder", m.TextEncoder}, {"VAE", m.VAE},
	} {
		if _, err := detect(f.role, f.path); err != nil {
			return err
		}
	}
	return nil
}

// checkFields checks the fields of r whose faults the pipeline's own
// validation would report without naming the field (settings s resolved
// up to the size), so that each is a *RequestError with its Field.
func checkFields(r Request, s Settings) error {
	if s.Guidance.Boundary > 1 {
		return requestErr("Boundary", fmt.Errorf("wan22: the boundary must be in [0, 1] (a fraction of the 1000 training timesteps), got %v", s.Guidance.Boundary))
	}
	if s.Steps < 1 || s.Steps > scheduler.MaxSteps {
		if s.Solver == DistillSolver && r.Steps == 0 {
			// The steps are the timesteps listed.
			return requestErr("Timesteps", fmt.Errorf("wan22: the distill solver runs one step per timestep, at most %d, and %d are listed", scheduler.MaxSteps, s.Steps))
		}
		return requestErr("Steps", fmt.Errorf("wan22: steps must be in [1, %d], got %d", scheduler.MaxSteps, s.Steps))
	}
	if s.SwitchStep < 0 || s.SwitchStep > s.Steps {
		return requestErr("SwitchStep", fmt.Errorf("wan22: the switch step must be in [0, steps = %d] (0: switch at the boundary), got %d", s.Steps, s.SwitchStep))
	}
	known := s.Solver == DistillSolver
	for _, k := range scheduler.Kinds {
		known = known || s.Solver == string(k)
	}
	if !known {
		return requestErr("Solver", fmt.Errorf("wan22: unknown solver %q: use unipc (the default), dpm++, euler or distill (DistillSolver)", r.Solver))
	}
	if err := checkSchedule(r, s); err != nil {
		return err
	}
	if r.Noise != nil {
		g := (pipeline.Options{Frames: s.Frames, Height: s.Height, Width: s.Width}).Grid()
		if want := pipeline.LatentChannels * g.Size(); len(r.Noise) != want {
			return requestErr("Noise", fmt.Errorf("wan22: the noise has %d values, want %d×%d×%d×%d = %d", len(r.Noise), pipeline.LatentChannels, g.T, g.H, g.W, want))
		}
	}
	for _, f := range []struct {
		field string
		v     []float32
	}{{"Tensor", r.Tensor}, {"Noise", r.Noise}} {
		for i, v := range f.v {
			if !finite(float64(v)) {
				return requestErr(f.field, fmt.Errorf("wan22: the %s holds a value that is not finite (%v at index %d): every value must be a finite number", f.field, v, i))
			}
			if f.field == "Tensor" && math.Abs(float64(v)) > tensorBound {
				return requestErr(f.field, fmt.Errorf("wan22: the Tensor holds %v at index %d, far outside the [−1, 1] of a prepared image (pixels of 0–255 map to v/127.5 − 1): prepare it with imageprep.Tensor, or give the Image instead", v, i))
			}
		}
	}
	return nil
}

// tensorBound is the largest magnitude Resolve takes in Request.Tensor. A
// prepared image is RGB in [−1, 1], and bicubic resizing overshoots it by at
// most 1.375² ≈ 1.9 (the kernel's largest sum of absolute weights, squared
// over the two passes); values beyond the bound are pixels of another scale
// (0–255), which would run to the end and make a video of noise.
const tensorBound = 4

// checkSchedule builds the sampling schedule of settings s, whose faults
// the pipeline's own check reports without naming a field: a shift that
// makes it degenerate (float32 sigmas that do not strictly decrease, or
// solver coefficients that are not finite: a shift of 1e300, or of 1e-300)
// is the Shift's fault when the same schedule with the default shift is
// sound; otherwise the fault is the steps' (or the distill solver's
// timesteps'). A distill solver whose steps and timesteps differ in number,
// or timesteps given to another solver, are left to the pipeline's check,
// as fields that fail only together.
func checkSchedule(r Request, s Settings) error {
	field, build := "Steps", func(shift float64) error {
		_, err := scheduler.New(s.Solver, s.Steps, shift)
		return err
	}
	switch {
	case s.Solver == DistillSolver && len(s.Timesteps) == s.Steps:
		field, build = "Timesteps", func(shift float64) error {
			_, err := scheduler.NewDistilled(s.Timesteps, shift)
			return err
		}
	case s.Solver == DistillSolver || len(s.Timesteps) > 0:
		return nil
	}
	err := build(s.Shift)
	if err == nil {
		return nil
	}
	if errors.Is(err, scheduler.ErrDegenerateSchedule) && r.Shift != 0 && build(DefaultShift) == nil {
		return requestErr("Shift", fmt.Errorf("wan22: the shift %v makes the schedule unusable (%w): give a shift nearer the default, %v", r.Shift, err, DefaultShift))
	}
	return requestErr(field, err)
}

// checkUTF8 refuses a prompt that is not UTF-8 text (e.g. Latin-1 or
// Windows-1252 bytes read from a file or a terminal set to another
// encoding): the tokenizer would read every invalid byte as a space, so
// "café" in Latin-1 would silently become "caf ".
func checkUTF8(name, text string) error {
	if utf8.ValidString(text) {
		return nil
	}
	i := 0
	for i < len(text) {
		r, n := utf8.DecodeRuneInString(text[i:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		i += n
	}
	return fmt.Errorf("wan22: the %s is not UTF-8 text (byte 0x%02x at offset %d; in another encoding, e.g. Latin-1?): umT5 would read each such byte as a space; give it in UTF-8 (convert it, e.g. iconv -f LATIN1 -t UTF-8)", name, text[i], i)
}

// options are the pipeline options of resolved settings s.
func (p *Pipeline) options(r Request, s Settings) pipeline.Options {
	return pipeline.Options{
		Prompt: r.Prompt, Negative: s.Negative, NoNegative: s.Negative == "", Frames: s.Frames, Height: s.Height, Width: s.Width,
		Steps: s.Steps, Shift: s.Shift, Solver: s.Solver, Timesteps: s.Timesteps, Guidance: s.Guidance, SwitchStep: s.SwitchStep,
		LoRAs: s.LoRAs, Seed: s.Seed, Noise: r.Noise, Log: p.o.Log, BackendFor: p.stage,
	}
}

// estimate sets s.Host and s.Device and checks them against the budgets.
//
// The model stages run one at a time, so the peak is the largest stage. On
// the GPU the stages' activations count against the device (the DiT's are
// planned by the block manager within the budget and so not counted here),
// and the host keeps only the pipeline's buffers. On the CPU everything is
// Go heap, and the host peak of a stage is
//
//	hostRuntimeBytes + gcPeak(weights + dequantized + activations + buffers)
//
// where the terms are:
//   - hostRuntimeBytes: the Go runtime, the binary and the goroutine stacks
//     before anything loads (measured 13–15 MiB; 16 MiB).
//   - weights: the model's tensor bytes, as the CPU backend keeps them (a
//     heap copy in the file's types; the mapped file's pages are page cache,
//     which the budget, MemAvailable, counts as available).
//   - dequantized: the CPU backend dequantizes a non-F32 weight to F32 on
//     every use, so the largest matrix of the stage is held once more in F32
//     (the DiT's and umT5's FFN matrices, the VAE's widest 3×3×3 conv).
//   - activations: for the VAE, cpuVAEFloats (derived from the encoder's and
//     decoder's structure: every causal cache plus one residual block of 4
//     frames at full resolution); for umT5 and the DiT the existing per-token
//     bounds.
//   - buffers: the conditioning video [3, F, H, W], the latents and the
//     solver's history, alive through the whole run.
//   - gcPeak: the Go collector lets the heap grow to (1 + GOGC/100) times the
//     live heap before it collects (garbage is not freed when a tensor is:
//     Free drops the reference), plus gcOvershoot for what is allocated while
//     a collection runs concurrently and the runtime's own metadata; a
//     memory limit (GOMEMLIMIT) caps that growth.
//
// TestEstimateBoundsMeasuredPeak checks the CPU estimate against the peaks
// of runs of the tiny models.
func (p *Pipeline) estimate(s *Settings) error {
	F, H, W := int64(s.Frames), int64(s.Height), int64(s.Width)
	opts := pipeline.Options{Frames: s.Frames, Height: s.Height, Width: s.Width}
	g := opts.Grid()
	latent := 4 * int64(pipeline.LatentChannels+20) * int64(g.Size()) * 3 // x, y and the solver's history
	buffers := 4*3*F*H*W + latent                                         // the conditioning video [3, F, H, W] and the latents

	// The GPU's VAE bound: its widest full-resolution stage is base width
	// Dim (the real model: 96), 4 frames, with the input, the output, the
	// residual, the conv's padded copy and causal caches live at once.
	vaeGPU := 4 * 4 * int64(p.vae.Dim) * H * W * 6
	t5 := 4 * int64(512*(p.t5.Dim*6+p.t5.FFNDim*2)) // 512 tokens
	c := p.dit
	ditAct := blockswap.ActivationPeak(blockswap.Activations{
		Tokens: g.Tokens(), Dim: c.Dim, FFNDim: c.FFNDim, FFNChunk: dit.DefaultFFNChunk,
		Heads: c.Heads, TextLen: dit.TextLen, Streams: 2,
	})
	// LoRAs are held in their file's types (F32 where stacked LoRAs of
	// different types share a layer): at most twice their file size.
	var loraBytes int64
	for _, e := range []LoRAExpert{LoRAHigh, LoRALow} {
		var n int64
		for _, l := range s.LoRAs {
			if st, err := os.Stat(l.Path); err == nil && (l.Expert == e || l.Expert == LoRABoth) {
				n += 2 * st.Size()
			}
		}
		loraBytes = max(loraBytes, n)
	}
	// The CPU's dequantized copies of the largest matrix of each model.
	vd := int64(p.vae.Dim)
	vaeDequant := 4 * 27 * (4 * vd) * (4 * vd)
	t5Dequant := 4 * int64(p.t5.FFNDim) * int64(p.t5.Dim)
	ditDequant := 4 * int64(c.FFNDim) * int64(c.Dim)
	stages := []struct {
		stage   Stage
		weights int64 // the stage's model weights on the CPU: tensors, dequantized copy, LoRAs
		act     int64 // the stage's live activations on the CPU, without the buffers
		device  int64 // the stage's device memory on the GPU
	}{
		{VAEEncode, p.bytes.vae + vaeDequant, 4 * cpuVAEFloats(vae.Encoder, p.vae.Dim) * H * W, vaeGPU},
		{TextEncode, p.bytes.t5 + t5Dequant, t5, t5},
		{HighNoise, max(p.bytes.high, p.bytes.low) + loraBytes + ditDequant, ditAct, 0},
		{VAEDecode, p.bytes.vae + vaeDequant, 4 * cpuVAEFloats(vae.Decoder, p.vae.Dim) * H * W, vaeGPU},
	}
	largest := ""
	var weights int64 // the most a stage needs with its weights alone (no video), on the CPU
	weightsStage, weightsIn := "", Stage(0)
	for _, st := range stages {
		h := buffers // on the GPU the model and its activations live on the device
		if p.device == DeviceCPU {
			h = hostRuntimeBytes + gcPeak(st.weights+st.act+buffers)
			if w := hostRuntimeBytes + gcPeak(st.weights); w > weights {
				weights, weightsStage, weightsIn = w, estimateNames[st.stage], st.stage
			}
		}
		if h > s.Host {
			s.Host, largest = h, estimateNames[st.stage]
		}
		if p.device != DeviceCPU {
			s.Device = max(s.Device, st.device)
		}
	}
	s.Budget = p.o.HostBudget
	if s.Budget == 0 {
		s.Budget = availableMemory() // -1: unknown, not checked; 0: none left
		if s.Budget >= 0 && s.Host > s.Budget {
			// The system counts the heap this process keeps as taken: an
			// earlier run's models, freed but not yet collected, or
			// collected but not yet returned (the runtime returns memory
			// slowly), lower the figure by up to that run's peak, and the
			// next request of a program that makes several videos would be
			// refused. Return it, and look again, before refusing.
			debug.FreeOSMemory()
			s.Budget = availableMemory()
		}
	}
	if s.Budget >= 0 && s.Host > s.Budget {
		return &BudgetError{What: "host memory", Need: s.Host, Budget: s.Budget, Width: s.Width, Height: s.Height, Frames: s.Frames,
			LargestStageOf: largest, BudgetGiven: p.o.HostBudget > 0, Weights: weights, WeightsStage: weightsStage, WeightsIn: weightsIn}
	}
	s.Budget = max(s.Budget, 0) // unknown reads 0 in Settings, as it did
	if p.device != DeviceCPU && p.o.VRAMBudget > 0 {
		// On the GPU the VAE tiles and umT5 streams to fit the budget: plan
		// them as the stages will, and fail now, with the stage's minimum
		// budget, when one cannot fit.
		plan, err := p.planStages(s.Width, s.Height)
		if err != nil {
			return p.deviceRefusal(err, *s, 0)
		}
		s.Device = max(plan.EncodePeak, plan.TextPeak, plan.DecodePeak)
	}
	return nil
}

// availableMemory is the host memory available now (hostmem.Available: -1
// when unknown); a variable for tests.
var availableMemory = hostmem.Available

// estimateNames name the stages in messages (in the estimate, HighNoise
// stands for both experts' stages).
var estimateNames = map[Stage]string{VAEEncode: "VAE encode", TextEncode: "text encode", HighNoise: "high-noise", LowNoise: "low-noise", VAEDecode: "VAE decode"}

// shortage is a stage's refusal of device memory, as the engine reports it.
type shortage struct {
	stage  Stage
	staged bool  // stage was read from the error (else it is the stage that ran)
	need   int64 // the device bytes the stage needs (at least, for an allocation)
	left   int64 // the device bytes the budget left it
	// models is the part of need that no smaller video lowers (an expert's
	// resident weights and two block slots), or 0 where the error does not
	// tell it.
	models int64
	// whole: need and left count the whole device budget (an allocation's
	// limit), not what it left to the stage.
	whole bool
}

// shortageOf reads a refusal of device memory from err: a *vae.BudgetError or
// *t5.BudgetError (a stage planned within what the budget leaves), a
// *blockswap.BudgetError (an expert whose blocks do not fit even with every
// block swapped), or a *cuda.BudgetError for device memory (an allocation
// the budget refused, whose owner is the stage's name).
func shortageOf(err error) (shortage, bool) {
	var (
		ve *vae.BudgetError
		te *t5.BudgetError
		be *blockswap.BudgetError
		ce *cuda.BudgetError
	)
	switch {
	case errors.As(err, &ve):
		st := VAEEncode
		if ve.Half == vae.Decoder {
			st = VAEDecode
		}
		return shortage{stage: st, staged: true, need: ve.Need, left: ve.Budget}, true
	case errors.As(err, &te):
		return shortage{stage: TextEncode, staged: true, need: te.Need, left: te.Budget}, true
	case errors.As(err, &be):
		return shortage{need: be.Need, left: be.Budget, models: be.Need - be.Activations}, true
	case errors.As(err, &ce) && ce.What == "device memory":
		sh := shortage{need: ce.InUse + ce.Request, left: ce.Limit, whole: true}
		for _, st := range pipeline.Stages {
			if st.String() == ce.Owner {
				sh.stage, sh.staged = st, true
			}
		}
		return sh, true
	}
	return shortage{}, false
}

// deviceRefusal turns err, a refusal of device memory (shortageOf) for the
// video of settings s, into a *BudgetError for "device memory" wrapping it:
// Resolve's, from planning the VAE and text-encoder stages within
// Options.VRAMBudget (planStages), and Generate's, met while the run loads
// or runs a stage, at (which names the stage when the error does not).
// Need and Budget count the whole device budget: when the backend tells its
// limit (pipeline.DeviceBudgeter), what was held when the stage started is
// added to both the stage's need and what it was left. Weights is the
// models' share: for the VAE and the text encoder, planning the smallest
// video (16×16) within what the stage was left; for an expert, its resident
// weights and two block slots. Other errors come back as they are.
func (p *Pipeline) deviceRefusal(err error, s Settings, at Stage) error {
	var done *BudgetError
	if errors.As(err, &done) {
		return err
	}
	sh, ok := shortageOf(err)
	if !ok {
		return err
	}
	if !sh.staged {
		sh.stage = at
	}
	budget, held := sh.left, int64(0)
	if db, ok := p.b.(pipeline.DeviceBudgeter); ok && !sh.whole {
		if limit, _ := db.DeviceBudget(); limit > sh.left {
			budget, held = limit, limit-sh.left
		}
	}
	be := &BudgetError{What: "device memory", Need: sh.need + held, Budget: budget, BudgetGiven: p.o.VRAMBudget > 0 && budget == p.o.VRAMBudget,
		Width: s.Width, Height: s.Height, Frames: s.Frames, LargestStageOf: estimateNames[sh.stage], Err: err}
	models, in := sh.models, sh.stage
	if sh.staged && !sh.whole {
		// The VAE or the text encoder: the smallest video within what it had.
		if _, small := p.planStagesWithin(sh.left, 16, 16); small != nil {
			if ss, ok := shortageOf(small); ok {
				models, in = ss.need, ss.stage
			}
		}
	}
	if models > 0 && models+held > budget {
		be.Weights, be.WeightsStage, be.WeightsIn = models+held, estimateNames[in], in
	}
	return be
}

// hostRuntimeBytes is the host memory of the process before any model
// loads: the Go runtime, the binary's mapped text and data, goroutine stacks
// (measured VmRSS 13–15 MiB for the test binary and the CLI).
const hostRuntimeBytes = 16 << 20

// gcOvershoot is the fraction of the collector's heap goal added for what is
// allocated while a concurrent collection runs and for the runtime's own
// metadata (spans, mark bits): measured at most 4% beyond the goal on the
// tiny models.
const gcOvershoot = 0.125

// gcPeak is the peak heap of a live heap of live bytes: the Go collector
// starts a collection only when the heap reaches (1 + GOGC/100)·live, so
// freed tensors stay in memory until then. A memory limit (GOMEMLIMIT or
// debug.SetMemoryLimit) below that makes it collect earlier, down to the live
// heap itself. GOGC=off without a limit never collects: the peak is then
// unbounded, and this counts GOGC=100.
func gcPeak(live int64) int64 {
	gogc, limit := 100.0, int64(math.MaxInt64)
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(s)
	// GOGC=off reads as the uint64 of −1 here: it counts as 100, as does 0.
	if v := s[0].Value; v.Kind() == metrics.KindUint64 && v.Uint64() > 0 && v.Uint64() <= math.MaxInt32 {
		gogc = float64(v.Uint64())
	}
	if s[1].Value.Kind() == metrics.KindUint64 && s[1].Value.Uint64() < math.MaxInt64 {
		limit = int64(s[1].Value.Uint64())
	}
	peak := int64(min(float64(live)*(1+gogc/100)*(1+gcOvershoot), math.MaxInt64/2))
	if limit < peak {
		peak = max(limit, int64(float64(live)*(1+gcOvershoot)))
	}
	return peak
}

// cpuVAEFloats is the number of float32 values the CPU backend holds at once
// per output pixel (H·W) when it encodes or decodes with a VAE of base width
// dim, derived from the structure (engine/vae: stage widths dim·[1, 2, 4, 4],
// 2 residual blocks a stage in the encoder and 3 in the decoder, a 2-frame
// causal cache of the input of every 3-tap conv, the video in chunks of 4
// frames, one latent frame at a time on decode). Per output pixel, a stage
// at 1/4ᵏ of the resolution counts 1/4ᵏ.
//
// Encode: the caches are 6 (conv1, 3 channels) + 8·dim (the 2 full-resolution
// residual blocks, 2 convs of dim inputs each) + 14·dim/4 + 28·dim/16 +
// 32·dim/64 (the lower stages) + 32·dim/64 (middle) + 8·dim/64 (head) + the
// time-downsamples' kept frames 2·dim/16 + 4·dim/64 = 6 + 14.5625·dim. The
// largest transient is a full-resolution residual block on 4 frames: its
// input (kept for the shortcut), the normalized input, the conv's output
// (4·dim each, twice over the block), the conv's new cache (2·dim) and its
// padded window (3 frames, 3·dim): 17·dim. The chunk is copied twice on its
// way in (frames, FromHost): 2·3·4.
//
// Decode: the caches are 12·dim (3 full-resolution residual blocks of dim
// channels) + 2·dim (head) + 24·dim/4 + 52·dim/16 + 56·dim/64 (the lower
// stages with their time-upsample convs) + 32·dim/64 (middle) + 32/64
// (conv1, 16 latent channels) = 0.5 + 24.625·dim; the transient is the same
// residual block, 17·dim; the decoded frames [3, 4, H, W] are copied to the
// host (2·3·4) and converted to RGBA (1).
func cpuVAEFloats(half vae.Half, dim int) int64 {
	d := float64(dim)
	if half == vae.Encoder {
		return int64(math.Ceil(6 + 14.5625*d + 17*d + 24))
	}
	return int64(math.Ceil(0.5 + 24.625*d + 17*d + 25))
}

// planStages plans the VAE and text-encoder stages within the VRAM budget
// (pipeline.PlanStages) from the text encoder file's header.
func (p *Pipeline) planStages(width, height int) (pipeline.StagePlan, error) {
	return p.planStagesWithin(p.o.VRAMBudget, width, height)
}

// planStagesWithin is planStages within budget device bytes.
func (p *Pipeline) planStagesWithin(budget int64, width, height int) (pipeline.StagePlan, error) {
	src, _, err := modelfile.Open(p.models.TextEncoder)
	if err != nil {
		return pipeline.StagePlan{}, fmt.Errorf("text encoder: %w", err)
	}
	defer src.Close()
	tc, tt, err := t5.Inspect(src)
	if err != nil {
		return pipeline.StagePlan{}, fmt.Errorf("text encoder %s: %w", safetext.Path(p.models.TextEncoder), err)
	}
	return pipeline.PlanStages(budget, vae.Config{Dim: p.vae.Dim, ZDim: 16}, tc, tt, height, width)
}

// Generate makes the video of r and writes it to out. The image is prepared
// (resized to the output size) first, then the stages run one model at a
// time. Frames go to out as they are decoded. A cancelled ctx stops the run
// within one DiT block, one prompt or one frame group and returns an error
// that wraps ctx's (test it with errors.Is(err, context.Canceled) or
// context.DeadlineExceeded) with every model released. A nil ctx is an
// error (ErrNilContext); after Close it returns ErrClosed, and a run that
// Close stops returns an error wrapping ErrClosed. Besides Resolve's
// refusals, a VRAM budget that a stage finds too small only as it loads or
// runs (an expert's blocks, an allocation) stops the run with a
// *BudgetError for "device memory", with every model released.
//
// Generates on one Pipeline run one at a time: called while another runs,
// Generate checks r at once (a *RequestError does not wait), then waits for
// the other to return before it estimates the memory (which needs the
// memory the other run frees), checks out's writer (which the other may be
// writing to) and starts; while it waits, the end of ctx returns ctx's
// error (wrapped) and Close returns ErrClosed.
//
// The outputs (out's writer and callbacks) are called on the goroutine of
// Generate, one at a time, between the steps of the run: a slow one slows
// the run, and a cancellation takes effect when it returns. One that
// returns an error or panics stops the run with an *OutputError naming it;
// when ctx had ended by then (a writer that watches ctx and fails for it),
// that error wraps ctx's too.
func (p *Pipeline) Generate(ctx context.Context, r Request, out Output) (err error) {
	if err := p.usable(); err != nil {
		return err
	}
	if ctx == nil {
		return nilContext("Generate")
	}
	if out.Video == nil && out.Frame == nil {
		return requestErr("Output", errors.New("wan22: the output has neither a Video writer nor a Frame callback"))
	}
	if f, ok := out.Video.(*video.File); ok && f == nil {
		return requestErr("Output.Video", errors.New("wan22: Output.Video is a nil *video.File (did video.Create fail? check its error)"))
	}
	// A request that cannot run is refused now, not after the running
	// Generate it would wait for: only the memory estimate needs the turn
	// (and the writer, which the running Generate may be writing to, is
	// checked on this one's turn).
	if _, err := p.settings(r); err != nil {
		return err
	}
	// The run stops when ctx ends, when Close is called, or when
	// Output.Progress fails (g.stop).
	run, stop, err := p.begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		// Joined only with an error of its own: the run's error comes back
		// as it is, for a caller's type switch or comparison.
		if ferr := p.finish(); ferr != nil {
			err = errors.Join(err, ferr)
		}
	}()
	defer stop(nil)
	s, err := p.Resolve(r) // again: the files may have changed while this Generate waited
	if err != nil {
		return err
	}
	if run.Err() != nil {
		// Ended before the run started (Ctrl-C as it waited, or before it
		// was called): the context's error, not checkWriter's refusal of
		// a *video.File made with that context, which it ended too.
		if errors.Is(context.Cause(run), ErrClosed) {
			return fmt.Errorf("%w: Close stopped this Generate", ErrClosed)
		}
		return ctx.Err()
	}
	// checkWriter calls the writer's methods: a panic there is the writer's,
	// as in WriteFrame.
	if err := catch(func() error { return checkWriter(out.Video, s, r.FPS != 0) }); err != nil {
		if pe, ok := err.(*PanicError); ok {
			return &OutputError{Output: "Video", Frame: -1, Step: -1, Err: pe}
		}
		return err
	}
	img := r.Tensor
	if img == nil {
		err := catch(func() (err error) {
			img, err = imageprep.Tensor(r.Image, s.Width, s.Height)
			return err
		})
		if pe, ok := err.(*PanicError); ok {
			// The image's own methods, or pixels the reader cannot take (an
			// image.Paletted whose palette lacks an index).
			return requestErr("Image", fmt.Errorf("wan22: reading the request's image panicked: %w: give a well-formed image (e.g. draw it into an image.RGBA)", pe))
		}
		if err != nil {
			// A pixel without a colour (an image.Paletted index its palette
			// lacks); the size was checked by Resolve. Tensor's error names
			// its package and function ("imageprep: Tensor: the image's
			// pixel …"), which the caller did not call: say the pixel's fault
			// as the request's.
			if inner := errors.Unwrap(err); inner != nil {
				err = inner
			}
			return requestErr("Image", fmt.Errorf("wan22: the request's image: %w: give a well-formed image (e.g. draw it into an image.RGBA)", err))
		}
	}
	g := &guard{ctx: ctx, run: run, stop: stop}
	o := p.options(r, s)
	// at is the stage whose model loaded last, to name it in a refusal of
	// device memory that does not.
	var at atomic.Int32
	stageFor := o.BackendFor
	o.BackendFor = func(st Stage) engine.Backend {
		at.Store(int32(st))
		if stageFor == nil {
			return nil // the pipeline's backend
		}
		return stageFor(st)
	}
	start := time.Now()
	o.Start = start // one clock for the pipeline's events and the VideoWrite ones
	o.Progress = g.progress(out.Progress)
	o.Latent = g.latent(out.Latent)
	var rgba *image.RGBA
	written := 0
	emit := func(f []float32, first int) error {
		n := len(f) / (3 * s.Width * s.Height)
		for i := range n {
			var err error
			if rgba, err = video.FrameRGBA(rgba, f, n, i, s.Height, s.Width); err != nil {
				return p.nonFinite(err, first+i)
			}
			// The writer first: Frame may draw on the image (an overlay
			// for a preview), which must not reach the video.
			if out.Video != nil {
				if err := g.call("Video", first+i, -1, func() error { return out.Video.WriteFrame(rgba) }); err != nil {
					return err
				}
			}
			if out.Frame != nil {
				if err := g.call("Frame", first+i, -1, func() error { return out.Frame(first+i, rgba) }); err != nil {
					return err
				}
			}
			written++
		}
		if o.Progress != nil {
			o.Progress(Event{Stage: VideoWrite, Step: written, Steps: s.Frames, Elapsed: time.Since(start), Done: written == s.Frames, Memory: pipeline.Peaks(p.b)})
		}
		return nil
	}
	err = pipeline.I2V(run, p.b, p.pipelineModels(), img, o, emit)
	// The run's models and activations were Go heap (on the CPU, all of
	// them), freed but still resident: the runtime collects and returns them
	// only over the next minutes, during which the program held up to the
	// run's peak and a waiting Generate's Resolve counted it as taken. Give
	// it back now, while the turn is still this run's.
	debug.FreeOSMemory()
	switch {
	case g.failed != nil:
		// Progress failed: the run stopped for it (or had just ended).
		return g.failed
	case err != nil && errors.Is(context.Cause(run), ErrClosed):
		// Close came first (the cause keeps the first), even if ctx ended
		// after it.
		return fmt.Errorf("%w: Close stopped this Generate", ErrClosed)
	}
	// The CUDA backend's errors name its Config's settings: the Options
	// fields instead (optionsErr), inside the errors that wrap them here.
	err, _ = optionsErr(err)
	return p.expertNonFinite(p.deviceRefusal(err, s, Stage(at.Load())), s.LoRAs)
}

// expertNonFinite words a latent that became NaN or Inf during denoising (a
// *pipeline.NonFiniteError, which names the expert and the step) as that
// expert's fault, a *ModelError naming its file: the image, the text and the
// VAE's encoding were finite when the expert took them, so broken weights in
// the expert file, or a LoRA attached to it, are the likely cause (the
// message also names what else can overflow a sound expert: a guidance or
// shift far from the defaults, 8-bit attention). Other errors are returned
// as they are.
func (p *Pipeline) expertNonFinite(err error, loras []LoRA) error {
	var nf *pipeline.NonFiniteError
	if !errors.As(err, &nf) {
		return err
	}
	role, path, mine := "high-noise expert", p.models.High, pipeline.LoRAHigh
	if nf.Stage == pipeline.LowNoise {
		role, path, mine = "low-noise expert", p.models.Low, pipeline.LoRALow
	}
	var attached []string
	for _, l := range loras {
		if l.Expert == mine || l.Expert == pipeline.LoRABoth {
			attached = append(attached, safetext.Path(l.Path))
		}
	}
	// A request far from the defaults can overflow a sound expert too.
	const other = "; if the guidance or shift is far from the defaults, or the attention is int8 or fp8, try the defaults first"
	msg := "its weights are likely broken: download or convert it again" + other
	if len(attached) > 0 {
		msg = fmt.Sprintf("its weights or a LoRA attached to it (%s) are likely broken: run without the LoRAs (Request.LoRAs) to tell which, and download or convert the broken file again%s",
			strings.Join(attached, ", "), other)
	}
	return &ModelError{Role: role, Path: path, Msg: msg, Err: err}
}

// usable returns ErrNilPipeline, ErrNotOpened or ErrClosed when p cannot
// run requests.
func (p *Pipeline) usable() error {
	switch {
	case p == nil:
		return ErrNilPipeline
	case p.close == nil:
		return ErrNotOpened
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	return nil
}

// RequestError is a Request, or an Output, that cannot run as given; Resolve
// and Generate return it (errors.As) before any model work. Field names the
// field at fault ("Frames", "Width", "Height", "Image", "Output.Video", …;
// "Width" too for a size given by one side only; "" when the fault is in
// how fields combine, e.g. timesteps for a solver that takes none), and Err says why and what to do (and wraps the engine's own error
// where there is one, e.g. an *imageprep.SizeError).
type RequestError struct {
	Field string
	Err   error
}

func (e *RequestError) Error() string { return refusal(e.Err, e.Field, "the request is refused") }

func (e *RequestError) Unwrap() error { return e.Err }

// requestErr makes a *RequestError.
func requestErr(field string, err error) error { return &RequestError{Field: field, Err: err} }

// checkWriter refuses a video writer that reports a frame size or rate
// (video.FrameSizer, video.FrameRater) other than the resolved settings s,
// or that takes no more frames (a *video.File's Err);
// fpsGiven says whether the request gave its rate (else it is the default).
func checkWriter(w video.Writer, s Settings, fpsGiven bool) error {
	if sz, ok := w.(video.FrameSizer); ok {
		if ww, wh := sz.FrameSize(); ww != s.Width || wh != s.Height {
			return requestErr("Output.Video", fmt.Errorf("wan22: the video writer takes frames of %d×%d but the request makes %d×%d: create the writer with the size Resolve gives (Settings.Width×Settings.Height, here %d×%d), or ask for %d×%d with Request.Width and Height",
				ww, wh, s.Width, s.Height, s.Width, s.Height, ww, wh))
		}
	}
	if e, ok := w.(interface{ Err() error }); ok {
		if err := e.Err(); err != nil {
			// Closed, aborted, failed or cancelled (video.File.Err): it would
			// refuse the first frame, after all the model work.
			return requestErr("Output.Video", fmt.Errorf("wan22: the video writer takes no more frames (%w): create a new one (video.Create), or keep it open until the last Generate that writes to it", err))
		}
	}
	if fr, ok := w.(video.FrameRater); ok && fr.FPS() != s.FPS {
		rate := fmt.Sprintf("%d fps", s.FPS)
		if !fpsGiven {
			rate += " (the default)"
		}
		return requestErr("Output.Video", fmt.Errorf("wan22: the request's frame rate is %s but the video writer's is %d fps, and Generate cannot change a writer's rate: create the writer with video.Options.FPS %d, or set Request.FPS to %d",
			rate, fr.FPS(), s.FPS, fr.FPS()))
	}
	return nil
}

// nonFinite words a decoded frame's NaN or Inf (a *video.NonFiniteError) as
// the VAE's fault: the pipeline checks the latent after every denoising step,
// so the decoder made it from a finite latent, and broken weights in the VAE
// file are the likely cause. Other errors are returned as they are.
func (p *Pipeline) nonFinite(err error, frame int) error {
	var nf *video.NonFiniteError
	if !errors.As(err, &nf) {
		return err
	}
	nf.Frame = frame // the video's count, not the decoded chunk's
	return &ModelError{Role: "VAE", Path: p.models.VAE, Err: err,
		Msg: fmt.Sprintf("decoded frame %d holds non-finite values (NaN or Inf) from a finite latent: the VAE's weights are likely broken: download or convert the VAE again", frame)}
}

// checkExpertContent refuses two expert files with the same content (a copy
// of one expert given as the other), unless Options.AllowSameExpert; see
// sameContent. Open runs it once, after the same-path check.
func (p *Pipeline) checkExpertContent() error {
	if p.o.AllowSameExpert {
		return nil
	}
	m := p.models
	same, failed, err := sameContent(m.High, m.Low)
	if err != nil {
		role := "low-noise expert"
		if failed == m.High {
			role = "high-noise expert"
		}
		// The path once, as the other ModelErrors name it (fserr.Named's
		// "PATH: CAUSE", whose path Error drops), not the os package's
		// "open PATH: CAUSE" with the path raw.
		return &ModelError{Role: role, Path: failed, Msg: "cannot be read to compare it with the other expert", Err: fserr.Named(failed, err)}
	}
	if same {
		return &ModelError{Role: "low-noise expert", Path: m.Low, Msg: fmt.Sprintf("has the same content as the high-noise expert %s (a copy of one file): give the low-noise expert's file", safetext.Path(m.High))}
	}
	return nil
}

// Sampling of sameContent: files up to sampleWhole bytes are compared
// whole; larger ones in their first and last sampleEnds bytes (the header,
// metadata and tensor table, and the last tensors) and sampleCount ranges
// of sampleSpan bytes spread evenly between them.
const (
	sampleWhole = 4 << 20
	sampleEnds  = 1 << 20
	sampleCount = 16
	sampleSpan  = 64 << 10
)

// sameContent reports whether files a and b hold the same bytes, as far as
// a cheap check can tell: the same size and the same bytes in sampled
// ranges (3 MiB of a 15 GB expert). Two different experts of one model and
// quantization have the same size and header, but their tensor data differ
// everywhere, so any sampled range of tensor data tells them apart. An
// error comes with the file it is about, failed (a or b).
func sameContent(a, b string) (same bool, failed string, err error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, a, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, b, err
	}
	defer fb.Close()
	sa, err := fa.Stat()
	if err != nil {
		return false, a, err
	}
	sb, err := fb.Stat()
	if err != nil {
		return false, b, err
	}
	size := sa.Size()
	if size != sb.Size() {
		return false, "", nil
	}
	type span struct{ off, n int64 }
	spans := []span{{0, size}}
	if size > sampleWhole {
		spans = []span{{0, sampleEnds}, {size - sampleEnds, sampleEnds}}
		step := (size - 2*sampleEnds) / (sampleCount + 1)
		for i := range int64(sampleCount) {
			spans = append(spans, span{sampleEnds + (i+1)*step - sampleSpan/2, sampleSpan})
		}
	}
	bufA, bufB := make([]byte, min(size, sampleEnds)), make([]byte, min(size, sampleEnds))
	for _, s := range spans {
		for off := s.off; off < s.off+s.n; off += int64(len(bufA)) {
			n := min(int64(len(bufA)), s.off+s.n-off)
			if _, err := fa.ReadAt(bufA[:n], off); err != nil {
				return false, a, err
			}
			if _, err := fb.ReadAt(bufB[:n], off); err != nil {
				return false, b, err
			}
			if !bytes.Equal(bufA[:n], bufB[:n]) {
				return false, "", nil
			}
		}
	}
	return true, "", nil
}

// warnExpertNames logs a warning (Options.Log) when the experts' file names
// say another expert than the role they are given, as in the published
// names (wan2.2_i2v_high_noise_14B_fp8_scaled.safetensors,
// Wan2.2-I2V-A14B-LowNoise-Q8_0.gguf): both named for the other role are
// swapped; both named for one role mean one of them is likely the wrong
// file; one named for the other role is that file. Names are only a hint,
// so the run goes on.
func (p *Pipeline) warnExpertNames() {
	m := p.models
	if p.o.Log == nil || p.o.AllowSameExpert {
		return
	}
	var msg string
	switch high, low := nameSays(m.High), nameSays(m.Low); {
	case high == "low" && low == "high":
		msg = "the expert files' names say they are swapped: the high-noise expert should be the high_noise file and the low-noise expert the low_noise one"
	case high == "high" && low == "high":
		msg = "both expert files are named high-noise: the low-noise expert's file looks like a second high-noise expert; give the low_noise file as the low-noise expert"
	case high == "low" && low == "low":
		msg = "both expert files are named low-noise: the high-noise expert's file looks like a second low-noise expert; give the high_noise file as the high-noise expert"
	case high == "low":
		msg = "the high-noise expert's file is named low-noise: give the high_noise file as the high-noise expert"
	case low == "high":
		msg = "the low-noise expert's file is named high-noise: give the low_noise file as the low-noise expert"
	default:
		return
	}
	p.o.Log.Warn(msg+"; running them as given", "high_noise_expert", m.High, "low_noise_expert", m.Low)
}

// warnLoRAExperts logs a warning (Options.Log) for the LoRAs given to one
// expert while their name or metadata mark them for the other
// (lora.File.ExpertHint, what wan22 inspect reports), as warnExpertNames
// does for the experts' files: LoRAs marked for each other's expert are
// swapped, one marked for the other expert is that LoRA. A LoRA for both
// experts is never warned about. Marks are only a hint, so the run goes on.
// Each warning is logged once per Pipeline: Generate resolves a request
// that the caller may have resolved already.
func (p *Pipeline) warnLoRAExperts(loras []LoRA) {
	if p.o.Log == nil {
		return
	}
	var onHigh, onLow []string // LoRAs given to the high-noise expert marked low-noise, and the reverse
	for _, l := range loras {
		if l.Expert == LoRABoth {
			continue
		}
		f, err := lora.Open(l.Path)
		if err != nil {
			continue // CheckLoRAs read it: a file gone since fails when it loads
		}
		hint := f.ExpertHint()
		f.Close()
		switch {
		case l.Expert == LoRAHigh && hint == "low":
			onHigh = append(onHigh, l.Path)
		case l.Expert == LoRALow && hint == "high":
			onLow = append(onLow, l.Path)
		}
	}
	type warning struct {
		msg  string
		args []any
	}
	var ws []warning
	if len(onHigh) > 0 && len(onLow) > 0 {
		ws = append(ws, warning{"the LoRAs' names or metadata say they are swapped: the high-noise expert's are marked low-noise and the low-noise expert's high-noise; give each LoRA to the expert it is marked for; running them as given",
			[]any{"high_noise_lora", strings.Join(onHigh, ", "), "low_noise_lora", strings.Join(onLow, ", ")}})
	} else {
		for _, path := range onHigh {
			ws = append(ws, warning{"a LoRA given to the high-noise expert is marked low-noise by its name or metadata: give it to the low-noise expert; running it as given", []any{"high_noise_lora", path}})
		}
		for _, path := range onLow {
			ws = append(ws, warning{"a LoRA given to the low-noise expert is marked high-noise by its name or metadata: give it to the high-noise expert; running it as given", []any{"low_noise_lora", path}})
		}
	}
	for _, w := range ws {
		p.warnOnce(w.msg, w.args...)
	}
}

// warnLoRAsUnused logs a warning (Options.Log) for each LoRA given to one
// expert alone while the schedule of options o runs no step on that expert
// (a boundary or switch step that leaves it out): the expert never loads,
// and the LoRA has no effect. A run without an expert's steps can be meant
// (a sweep of switch steps, a schedule tried with a pair of LoRAs), and
// leaving a LoRA out changes nothing else, so it is not refused, as a
// Strength of 0 is not; the user learns that the file is not used. A LoRA
// for both experts always reaches the one that runs. Each warning is logged
// once per Pipeline, as warnLoRAExperts's.
func (p *Pipeline) warnLoRAsUnused(o pipeline.Options, loras []LoRA) {
	if p.o.Log == nil || len(loras) == 0 {
		return
	}
	high, low, err := o.ExpertSteps()
	if err != nil {
		return // settings checked the schedule
	}
	for _, l := range loras {
		name, other, key := "high-noise", "low-noise", "high_noise_lora"
		if l.Expert == LoRALow {
			name, other, key = "low-noise", "high-noise", "low_noise_lora"
		}
		if l.Expert == LoRABoth || (l.Expert == LoRAHigh && high > 0) || (l.Expert == LoRALow && low > 0) {
			continue
		}
		// The fields named as Request.X, which the commands turn into
		// their flags (--boundary, --switch-step).
		by := fmt.Sprintf("Request.Boundary %v", o.Guidance.Boundary)
		if o.SwitchStep > 0 {
			by = fmt.Sprintf("Request.SwitchStep %d", o.SwitchStep)
		}
		p.warnOnce(fmt.Sprintf("a LoRA given to the %s expert has no effect: the schedule runs all %d steps on the %s expert (%s), so the %s expert never loads; change Request.Boundary or Request.SwitchStep to give it steps, or leave the LoRA out; running without it",
			name, o.Steps, other, by, name), key, l.Path)
	}
}

// warnOnceKeys is how many warnings a Pipeline remembers (warnOnce): a
// server that runs one Pipeline for its life, with ever new LoRA files,
// keeps no more. Past it the oldest is forgotten, and is logged again if it
// comes back; no request warns about that many files.
const warnOnceKeys = 1024

// warnOnce logs warning msg with args (Options.Log, which must be set)
// unless this Pipeline has logged it already: Generate resolves a request
// that the caller may have resolved already. It remembers the last
// warnOnceKeys warnings.
func (p *Pipeline) warnOnce(msg string, args ...any) {
	p.warnMu.Lock()
	defer p.warnMu.Unlock()
	key := fmt.Sprint(msg, args)
	if p.warned[key] {
		return
	}
	if p.warned == nil {
		p.warned = map[string]bool{}
	}
	if len(p.warnedKeys) >= warnOnceKeys {
		delete(p.warned, p.warnedKeys[0])
		p.warnedKeys = p.warnedKeys[1:] // append copies the rest to a new array once this one is full
	}
	p.warned[key] = true
	p.warnedKeys = append(p.warnedKeys, key)
	p.o.Log.Warn(msg, args...)
}

// nameSays is the expert a file's base name names, "high" or "low", or ""
// when it names neither or both. A word counts where no letter precedes it
// (any case): "LowNoise" and "_high_noise" do, "flow" and "slow" do not.
func nameSays(path string) string {
	name := strings.ToLower(filepath.Base(path))
	has := func(w string) bool {
		for i := 0; ; {
			j := strings.Index(name[i:], w)
			if j < 0 {
				return false
			}
			if i+j == 0 || !unicode.IsLetter(rune(name[i+j-1])) {
				return true
			}
			i += j + 1
		}
	}
	high, low := has("high"), has("low")
	if high == low {
		return ""
	}
	if high {
		return "high"
	}
	return "low"
}

// pipelineModels are the model files as the pipeline names them.
func (p *Pipeline) pipelineModels() pipeline.Models {
	return pipeline.Models{High: p.models.High, Low: p.models.Low, TextEncoder: p.models.TextEncoder, VAE: p.models.VAE}
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orFloat(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

// nilImage reports whether img is an interface holding a nil pointer (a
// typed nil such as a (*image.RGBA)(nil) from a failed decode), whose Bounds
// would panic.
func nilImage(img image.Image) bool {
	if img == nil {
		return false
	}
	v := reflect.ValueOf(img)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
