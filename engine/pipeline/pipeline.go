// Package pipeline runs WAN 2.2 image-to-video end to end over a backend:
// the VAE encodes the conditioning video, umT5 encodes the prompts, the
// high-noise expert and then the low-noise expert denoise the latent (each
// loaded when its stage starts and freed completely before the next), and
// the VAE decoder streams frames to a consumer (spec §0, §3, §4).
//
// Stages load their model when they start and free it when they end, so
// peak memory is the largest stage, never the sum. Every stage watches the
// context: a cancelled run stops within one DiT block, one prompt or one
// decoded frame group and releases everything it holds.
//
// Most programs use the root package wan22, which opens the backend, checks
// the model files and prepares the image; this package is the engine room.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"github.com/wan22/wan22/blockswap"
	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/engine/hostmem"
	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/engine/t5"
	"github.com/wan22/wan22/engine/tokenizer"
	"github.com/wan22/wan22/engine/vae"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/scheduler"
)

// DefaultNegative is the official negative prompt (spec §1.1), used when
// Options.Negative is empty.
const DefaultNegative = "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"

// Limits on the video size, far beyond what WAN 2.2 was trained for
// (1280×720, 81 frames), that keep a mistyped flag from asking for terabytes.
const (
	MaxSide   = 4096
	MaxFrames = 1025
)

// LatentChannels is the channel count of the denoised latent (the VAE's z).
const LatentChannels = 16

// Models names the model files of one generation.
type Models struct {
	TextEncoder string // umT5 encoder (GGUF with tokenizer metadata, or safetensors with spiece_model)
	VAE         string // WAN 2.1 VAE
	High, Low   string // the high-noise and low-noise DiT experts
}

// Options configures one generation. The root package wan22 fills in the
// official defaults; here every field is taken as given.
type Options struct {
	Prompt   string
	Negative string // empty: DefaultNegative, unless NoNegative
	// NoNegative makes the negative prompt empty instead of DefaultNegative
	// (Negative must then be empty).
	NoNegative    bool
	Frames        int // pixel frames F; (F−1) must be a multiple of 4
	Height, Width int // multiples of 16
	Steps         int
	Shift         float64
	// Solver is "unipc", "dpm++", "euler" or "distill" (the step-distilled
	// schedule of Timesteps, see scheduler.Distilled).
	Solver string
	// Timesteps is the step list of the "distill" solver (e.g. 1000, 750,
	// 500, 250), one entry per step; empty for the other solvers.
	Timesteps []int
	// Guidance holds the boundary and the guidance scale of each expert.
	Guidance scheduler.Guidance
	// SwitchStep, when positive, switches experts by step index instead of
	// by the timestep boundary: steps [0, SwitchStep) run the high-noise
	// expert, the rest the low-noise one (Guidance.Boundary is ignored).
	SwitchStep int
	// LoRAs are attached to the experts they apply to, in order, right after
	// each expert loads (see LoRA and CheckLoRAs).
	LoRAs []LoRA
	// Seed seeds the initial noise, unless Noise is given.
	Seed uint64
	// Noise, when not nil, is the initial latent noise [16, T, h, w] with
	// T = (Frames−1)/4+1, h = Height/8, w = Width/8. It is not modified.
	Noise []float32
	Log   *slog.Logger
	// BackendFor, if set, gives the backend each model stage runs on (e.g.
	// a CUDA backend view whose allocations carry the stage's name as owner,
	// or a higher-precision view for the text encoder). Nil runs everything
	// on the backend passed to I2V.
	BackendFor func(Stage) engine.Backend
	// Progress, if set, receives progress events.
	Progress ProgressFunc
	// Start is when the generation started, the origin of Event.Elapsed
	// (zero: when I2V is called). A caller that sends events of its own
	// in the same stream (wan22's VideoWrite) gives the start of its
	// clock, so that Elapsed never goes back from one event to the next.
	Start time.Time
	// Latent, if set, receives the latent after every denoising step.
	Latent LatentFunc
}

// backend returns the backend of a stage.
func (o Options) backend(b engine.Backend, s Stage) engine.Backend {
	if o.BackendFor == nil {
		return b
	}
	if sb := o.BackendFor(s); sb != nil {
		return sb
	}
	return b
}

// Grid returns the latent grid of the options: T latent frames of h×w.
func (o Options) Grid() dit.Grid {
	return dit.Grid{T: (o.Frames-1)/4 + 1, H: o.Height / vae.Scale, W: o.Width / vae.Scale}
}

// Validate checks the options.
func (o Options) Validate() error {
	switch {
	case o.Frames < 1 || (o.Frames-1)%4 != 0:
		lo := max((o.Frames-1)/4*4+1, 1)
		return fmt.Errorf("frames must be 4n+1 (1, 5, …, 81), got %d: the nearest valid counts are %d and %d", o.Frames, lo, lo+4)
	case o.Frames > MaxFrames:
		return fmt.Errorf("at most %d frames, got %d", MaxFrames, o.Frames)
	case o.Height < 16 || o.Width < 16 || o.Height%16 != 0 || o.Width%16 != 0:
		return fmt.Errorf("width and height must be positive multiples of 16, got %dx%d", o.Width, o.Height)
	case o.Height > MaxSide || o.Width > MaxSide:
		return fmt.Errorf("width and height must be at most %d, got %dx%d", MaxSide, o.Width, o.Height)
	case o.Steps < 1 || o.Steps > scheduler.MaxSteps:
		return fmt.Errorf("steps must be in [1, %d], got %d", scheduler.MaxSteps, o.Steps)
	case o.SwitchStep < 0 || o.SwitchStep > o.Steps:
		return fmt.Errorf("switch step must be in [0, steps = %d], got %d", o.Steps, o.SwitchStep)
	}
	if err := o.Guidance.Validate(); err != nil {
		return err
	}
	if _, _, err := o.sampler(); err != nil {
		return err
	}
	for _, l := range o.LoRAs {
		if err := l.validate(); err != nil {
			return err
		}
	}
	if o.Noise != nil {
		if want := LatentChannels * o.Grid().Size(); len(o.Noise) != want {
			g := o.Grid()
			return fmt.Errorf("noise has %d values, want %d×%d×%d×%d = %d", len(o.Noise), LatentChannels, g.T, g.H, g.W, want)
		}
	}
	return nil
}

// sampler is the solver of the denoising loop: a scheduler.Solver or a
// scheduler.Distilled.
type sampler interface {
	// Step overwrites x with the sample after step i, given the model
	// output v at x.
	Step(v []float32, i int, x []float32) error
}

// sampler returns the solver the options name and the timesteps it feeds
// the model, one per step.
func (o Options) sampler() (sampler, []float64, error) {
	if scheduler.Kind(o.Solver) == scheduler.Distill {
		if len(o.Timesteps) != o.Steps {
			return nil, nil, fmt.Errorf("the distill solver runs one step per listed timestep: %d timesteps (%s) for %d steps",
				len(o.Timesteps), scheduler.FormatTimesteps(o.Timesteps), o.Steps)
		}
		d, err := scheduler.NewDistilled(o.Timesteps, o.Shift)
		if err != nil {
			return nil, nil, err
		}
		return d, d.Timesteps(), nil
	}
	if len(o.Timesteps) > 0 {
		return nil, nil, fmt.Errorf("a timestep list (%s) is for the distill solver, not %q", scheduler.FormatTimesteps(o.Timesteps), o.Solver)
	}
	s, err := scheduler.New(o.Solver, o.Steps, o.Shift)
	if err != nil {
		return nil, nil, err
	}
	ts := make([]float64, s.Steps())
	for i, t := range s.Timesteps() {
		ts[i] = float64(t)
	}
	return s, ts, nil
}

// pass returns what step i at timestep t runs: by the timestep boundary,
// or by step index when SwitchStep is set. Guidance 1 needs no
// unconditional pass.
func (o Options) pass(i int, t float64) scheduler.Pass {
	high := t >= o.Guidance.Threshold()
	if o.SwitchStep > 0 {
		high = i < o.SwitchStep
	}
	p := scheduler.Pass{Expert: scheduler.LowNoise, Scale: o.Guidance.Low}
	if high {
		p = scheduler.Pass{Expert: scheduler.HighNoise, Scale: o.Guidance.High}
	}
	p.Uncond = scheduler.NeedsUncond(p.Scale)
	return p
}

// ExpertSteps returns how many denoising steps each expert runs with the
// options, as a run assigns them (by Guidance.Boundary, or SwitchStep, over
// the schedule of Steps, Shift, Solver and Timesteps). An expert given no
// step is never loaded: the LoRAs given to it alone have no effect. Its
// error is the sampler's, for Steps, Shift, Solver and Timesteps that make
// no schedule; the other options are not checked (Validate checks them: a
// SwitchStep past Steps counts every step as the high-noise expert's).
func (o Options) ExpertSteps() (high, low int, err error) {
	_, timesteps, err := o.sampler()
	if err != nil {
		return 0, 0, err
	}
	for i, t := range timesteps {
		if o.pass(i, t).Expert == scheduler.HighNoise {
			high++
		} else {
			low++
		}
	}
	return high, low, nil
}

// run is the state of one generation shared by its stages.
type run struct {
	ctx   context.Context
	b     engine.Backend
	m     Models
	o     Options
	log   *slog.Logger
	start time.Time
}

// emit sends a progress event with the elapsed time and memory filled in.
func (r *run) emit(ev Event) {
	if r.o.Progress == nil {
		return
	}
	ev.Elapsed = time.Since(r.start)
	ev.Memory = Peaks(r.b)
	r.o.Progress(ev)
}

// Peaks is the peak memory so far of a run on backend b, as events carry
// it: the device peaks when b is a MemoryReporter, and the process's peak
// resident set.
func Peaks(b engine.Backend) Memory {
	var m Memory
	if mr, ok := b.(MemoryReporter); ok {
		m.PeakVRAM, m.PeakPinned = mr.PeakMemory()
	}
	m.PeakRSS = hostmem.PeakRSS()
	return m
}

// released tells a Releaser backend that stage s has freed its model.
func (r *run) released(s Stage) error {
	if rel, ok := r.b.(Releaser); ok {
		if err := rel.Released(s); err != nil {
			return fmt.Errorf("%s: releasing the stage's memory: %w", s, err)
		}
	}
	return nil
}

// releaseAfter reports stage s released once it has ended with err: the
// release's error when err is nil; else err, the run's own error, and the
// release's error, which would be lost behind it (the backend could not free
// or trim what the stopped stage left), goes to the log as a warning.
func (r *run) releaseAfter(err error, s Stage) error {
	rerr := r.released(s)
	if err == nil {
		return rerr
	}
	if rerr != nil {
		r.log.Warn("a stage that failed or was stopped could not release its memory: the next run may have less device memory", "stage", s.String(), "err", rerr)
	}
	return err
}

// I2V generates a video from image [3, Height, Width] (RGB in [-1, 1]) and
// hands the decoded frames to emit as they are produced. A cancelled ctx
// stops the run and returns ctx's error with everything released. A latent
// that turns NaN or Inf stops it with a *NonFiniteError naming the expert and
// the step. A nil ctx or backend is an error.
func I2V(ctx context.Context, b engine.Backend, m Models, image []float32, o Options, emit vae.EmitFunc) error {
	switch {
	case ctx == nil:
		return errors.New("pipeline: I2V needs a context: pass context.Background() or a context you cancel")
	case b == nil:
		return errors.New("pipeline: I2V needs a backend (cpu.New(), or a CUDA backend)")
	}
	if err := o.Validate(); err != nil {
		return err
	}
	if len(image) != 3*o.Height*o.Width {
		return fmt.Errorf("image has %d values, want 3×%d×%d", len(image), o.Height, o.Width)
	}
	if emit == nil {
		return errors.New("pipeline: I2V needs a frame consumer (emit)")
	}
	// A wrong LoRA fails here, before any model loads.
	if err := CheckLoRAs(m, o.LoRAs); err != nil {
		return err
	}
	r := &run{ctx: ctx, b: b, m: m, o: o, log: o.Log, start: o.Start}
	if r.start.IsZero() {
		r.start = time.Now()
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	g := o.Grid()

	// Stage 1: the conditioning latent y = mask(4) ⊕ VAE(image, zeros…).
	latent, err := r.encodeCondition(image)
	if err != nil {
		return err
	}
	plane := g.T * g.H * g.W
	y := make([]float32, 20*plane)
	for c := range 4 {
		for i := range g.H * g.W {
			y[c*plane+i] = 1 // latent frame 0 is given
		}
	}
	copy(y[4*plane:], latent)

	// Stage 2: text contexts.
	negative := o.Negative
	if negative == "" && !o.NoNegative {
		negative = DefaultNegative
	}
	texts, err := r.encodePrompts(o.Prompt, negative)
	if err != nil {
		return err
	}

	// Stages 3 and 4: denoise with the two experts.
	x, err := r.sample(y, texts)
	if err != nil {
		return err
	}

	// Stage 5: decode, streaming frames.
	return r.decode(x, emit)
}

func (r *run) encodeCondition(image []float32) (cond []float32, err error) {
	o := r.o
	start := time.Now()
	src, _, err := modelfile.Open(r.m.VAE)
	if err := firstErr(r.ctx.Err(), err); err != nil {
		return nil, wrapIf(err, "VAE")
	}
	defer src.Close()
	r.emit(Event{Stage: VAEEncode})
	// A stage that fails or is stopped is released too (the backend frees
	// what it left and trims its caches), the run's error first.
	released := false
	defer func() {
		if !released {
			err = r.releaseAfter(err, VAEEncode)
		}
	}()
	budget, err := r.deviceLeft()
	if err != nil {
		return nil, fmt.Errorf("VAE encode: %w", err)
	}
	enc, err := vae.LoadEncoder(o.backend(r.b, VAEEncode), src)
	if err != nil {
		return nil, fmt.Errorf("VAE encoder %s: %w", r.m.VAE, err)
	}
	if enc.EncodeTiling, err = r.planVAE(enc.Config, vae.Encoder, budget); err != nil {
		enc.Free()
		return nil, err
	}
	// video [3, F, H, W]: frame 0 is the image, the rest are zero.
	F, HW := o.Frames, o.Height*o.Width
	video := make([]float32, 3*F*HW)
	for c := range 3 {
		copy(video[c*F*HW:c*F*HW+HW], image[c*HW:(c+1)*HW])
	}
	latent, err := enc.Encode(r.ctx, video, F, o.Height, o.Width)
	enc.Free()
	if err != nil {
		return nil, r.stageErr(err, "VAE encode")
	}
	released = true
	if err := firstErr(r.released(VAEEncode), r.ctx.Err()); err != nil {
		return nil, err
	}
	g := o.Grid()
	r.log.Info("conditioning encoded", "latent", fmt.Sprintf("16×%d×%d×%d", g.T, g.H, g.W), "elapsed", time.Since(start).Round(time.Millisecond))
	r.emit(Event{Stage: VAEEncode, Done: true})
	return latent, nil
}

// prompts are the encoded text contexts.
type prompts struct {
	cond, uncond   []float32
	condN, uncondN int
}

func (r *run) encodePrompts(prompt, negative string) (p prompts, err error) {
	start := time.Now()
	path := r.m.TextEncoder
	src, _, err := modelfile.Open(path)
	if err := firstErr(r.ctx.Err(), err); err != nil {
		return p, wrapIf(err, "text encoder")
	}
	defer src.Close()
	r.emit(Event{Stage: TextEncode})
	tok, err := t5.LoadTokenizer(src)
	if err != nil {
		return p, fmt.Errorf("text encoder %s: %w", path, err)
	}
	r.warnTruncated(tok, prompt, negative)
	budget, err := r.deviceLeft()
	if err != nil {
		return p, fmt.Errorf("text encode: %w", err)
	}
	stream, err := r.planText(src, budget)
	if err != nil {
		return p, fmt.Errorf("text encoder %s: %w", path, err)
	}
	if stream {
		return r.encodePromptsStreaming(src, tok, prompt, negative, start)
	}
	enc, err := t5.Load(r.o.backend(r.b, TextEncode), src)
	if err != nil {
		return p, fmt.Errorf("text encoder %s: %w", path, err)
	}
	p.cond, p.condN, err = t5.EncodeText(r.ctx, tok, enc, prompt)
	if err != nil {
		err = r.stageErr(err, "encoding the prompt")
	} else if err = r.ctx.Err(); err == nil {
		if p.uncond, p.uncondN, err = t5.EncodeText(r.ctx, tok, enc, negative); err != nil {
			err = r.stageErr(err, "encoding the negative prompt")
		}
	}
	enc.Free()
	if err := firstErr(r.releaseAfter(err, TextEncode), r.ctx.Err()); err != nil {
		return prompts{}, err
	}
	r.log.Info("prompts encoded", "tokens", p.condN, "negative_tokens", p.uncondN, "elapsed", time.Since(start).Round(time.Millisecond))
	r.emit(Event{Stage: TextEncode, Done: true})
	return p, nil
}

// warnCount is how far warnTruncated counts a prompt's tokens: a longer
// one is said to be longer than that, so that a prompt of megabytes is
// tokenized only as far as the count (as the encoders tokenize only as far
// as they read).
const warnCount = 16 * t5.TextLen

// warnTruncated logs a warning (Options.Log) for each prompt longer than
// umT5 reads, before either encoder path (resident or streamed) runs: both
// truncate it to t5.TextLen tokens as the official pipeline does, which is
// kept, but the words past the limit have no effect and the user should
// know: how many tokens it has, up to warnCount. The negative prompt is not
// warned about when no pass uses it (guidance 1 on both experts).
func (r *run) warnTruncated(tok *tokenizer.Tokenizer, prompt, negative string) {
	g := r.o.Guidance
	for _, pr := range []struct {
		name, text string
		used       bool
	}{
		{"prompt", prompt, true},
		{"negative prompt", negative, scheduler.NeedsUncond(g.High) || scheduler.NeedsUncond(g.Low)},
	} {
		if !pr.used {
			continue
		}
		if n := t5.PromptLengthUpTo(tok, pr.text, warnCount); n > t5.TextLen {
			length := fmt.Sprintf("%d tokens", n)
			if n > warnCount {
				length = fmt.Sprintf("more than %d tokens", warnCount)
			}
			r.log.Warn(fmt.Sprintf("the %s is %s long; umT5 reads only the first %d (the official pipeline truncates the same way): the rest has no effect — shorten it",
				pr.name, length, t5.TextLen))
		}
	}
}

// expert is one loaded DiT with its embedded prompts.
type expert struct {
	stage        Stage
	model        *dit.Model
	cond, uncond *dit.Text
	src          io.Closer // the model file, while the model streams swapped blocks from it
}

func (e *expert) free() {
	if e == nil {
		return
	}
	if e.cond != nil {
		e.cond.Free()
	}
	if e.uncond != nil {
		e.uncond.Free()
	}
	e.model.Free()
	if e.src != nil {
		_ = e.src.Close()
	}
}

// expertStage maps a scheduler expert to its stage.
func expertStage(e scheduler.Expert) Stage {
	if e == scheduler.HighNoise {
		return HighNoise
	}
	return LowNoise
}

func (r *run) loadExpert(s Stage, p prompts, cfg bool) (*expert, error) {
	path, what := r.m.expert(s)
	src, _, err := modelfile.Open(path)
	if err := firstErr(r.ctx.Err(), err); err != nil {
		return nil, wrapIf(err, what)
	}
	// LoRAs go on at load, before the prompts are embedded (one on
	// text_embedding changes the embedded text): the planner counts their
	// adapters with the blocks they belong to, and a swapped block's adapters
	// travel in its slab.
	loras, closeLoRAs, err := openLoRAs(s, r.o.LoRAs)
	if err != nil {
		// (a file gone or changed since CheckLoRAs: lora.Open's error names
		// the file, and the words are CheckLoRAs')
		src.Close()
		return nil, fmt.Errorf("LoRA for the %s: %w", what, err)
	}
	defer closeLoRAs() // LoadForRun has made the adapters by the time it returns
	run := dit.Run{Grid: r.o.Grid(), CFG: cfg, Extra: mergeBytes(src, loras), LoRAs: loras}
	m, err := dit.LoadForRun(r.ctx, r.o.backend(r.b, s), src, run)
	if err != nil {
		src.Close()
		return nil, r.stageErr(err, what+" "+path)
	}
	e := &expert{stage: s, model: m}
	if m.ReadsSource() {
		e.src = src // swapped blocks are copied from the file at every step
	} else {
		src.Close()
	}
	logMerges(s, r.o.LoRAs, m.LoadedLoRAs(), r.log)
	if names := m.AttachedLoRAs(); len(names) > 0 {
		r.log.Info("LoRAs attached", "expert", s.String(), "loras", names)
	}
	if e.cond, err = m.EmbedText(p.cond, p.condN); err == nil && cfg {
		e.uncond, err = m.EmbedText(p.uncond, p.uncondN)
	}
	if err != nil {
		e.free()
		return nil, fmt.Errorf("%s: embedding the prompts: %w", what, err)
	}
	return e, nil
}

// sample runs the denoising loop and returns the final latent.
func (r *run) sample(y []float32, p prompts) (x []float32, err error) {
	o := r.o
	solver, timesteps, err := o.sampler()
	if err != nil {
		return nil, err
	}
	g := o.Grid()
	n := LatentChannels * g.Size()
	x = make([]float32, n)
	if o.Noise != nil {
		copy(x, o.Noise)
	} else {
		rng := rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15))
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
	}
	// Whether each expert needs the unconditional pass at any of its steps.
	needCFG := map[Stage]bool{}
	for i, t := range timesteps {
		pass := o.pass(i, t)
		needCFG[expertStage(pass.Expert)] = needCFG[expertStage(pass.Expert)] || pass.Uncond
	}

	var cur *expert
	var loading Stage // the expert stage loaded or being loaded, not yet released (holding)
	var holding bool
	// endExpert frees the current expert and reports its stage done.
	endExpert := func(step int) error {
		if cur == nil {
			return nil
		}
		s := cur.stage
		cur.free()
		cur, holding = nil, false
		if err := r.released(s); err != nil {
			return err
		}
		r.emit(Event{Stage: s, Done: true, Step: step, Steps: o.Steps})
		return nil
	}
	defer func() {
		if cur != nil {
			cur.free()
		}
		if holding { // failed or stopped while loading or running it: released too, the run's error first
			err = r.releaseAfter(err, loading)
		}
	}()
	var stepTime time.Duration // denoising time so far, expert loads excluded
	var pace paceTracker       // the same per expert and model forward, for the ETA
	var latentCopy []float32   // what o.Latent is shown, reused step to step
	for i, t := range timesteps {
		if err := r.ctx.Err(); err != nil {
			return nil, err
		}
		pass := o.pass(i, t)
		s := expertStage(pass.Expert)
		if cur == nil || cur.stage != s {
			// The old expert is released completely before the new one loads.
			if err := endExpert(i); err != nil {
				return nil, err
			}
			start := time.Now()
			loading, holding = s, true
			if cur, err = r.loadExpert(s, p, needCFG[s]); err != nil {
				return nil, err
			}
			plan := planSummary(cur.model)
			r.log.Info("expert loaded", "expert", s.String(), "step", i, "plan", plan, "elapsed", time.Since(start).Round(time.Millisecond))
			r.emit(Event{Stage: s, Step: i, Steps: o.Steps, Plan: plan})
		}
		if i+1 < len(timesteps) && expertStage(o.pass(i+1, timesteps[i+1]).Expert) != s {
			// The last step of this expert: let the disk read the next expert's
			// file into the page cache meanwhile (as much as free host memory
			// holds, less 2 GiB), so the switch does not wait for a cold read.
			next, _ := r.m.expert(expertStage(o.pass(i+1, timesteps[i+1]).Expert))
			if room := hostmem.Available() - 2<<30; room > 0 {
				go func() { _ = gguf.Prefetch(next, room) }()
			}
		}
		start := time.Now()
		var uncond *dit.Text
		if pass.Uncond {
			uncond = cur.uncond
		}
		vc, vu, err := cur.model.ForwardCFG(r.ctx, x, y, g, t, cur.cond, uncond)
		if err != nil {
			if ctxErr := r.ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, fmt.Errorf("step %d: %w", i+1, err)
		}
		if pass.Uncond {
			if err := scheduler.CFG(vc, vc, vu, pass.Scale); err != nil {
				return nil, err
			}
		}
		if err := solver.Step(vc, i, x); err != nil {
			return nil, fmt.Errorf("step %d: %w", i+1, err)
		}
		if !finite(x) {
			return nil, &NonFiniteError{Stage: s, Step: i + 1, Steps: o.Steps}
		}
		took := time.Since(start)
		stepTime += took
		pace.add(s, forwards(pass), took)
		per := stepTime / time.Duration(i+1)
		r.log.Info("step", "i", i+1, "of", o.Steps, "t", t, "expert", s.String(), "cfg", pass.Scale, "elapsed", took.Round(time.Millisecond))
		eta := time.Duration(0)
		for j := i + 1; j < len(timesteps); j++ {
			pj := o.pass(j, timesteps[j])
			eta += pace.step(expertStage(pj.Expert), forwards(pj))
		}
		ev := Event{Stage: s, Step: i + 1, Steps: o.Steps, PerStep: per, ETA: eta}
		if st := cur.model.SwapStats(); st != (blockswap.Stats{}) {
			ev.Swap = &st
		}
		r.emit(ev)
		if o.Latent != nil {
			// A copy: what the callback does to it cannot change the run.
			latentCopy = append(latentCopy[:0], x...)
			if err := o.Latent(i+1, o.Steps, latentCopy); err != nil {
				return nil, err
			}
		}
	}
	if err := endExpert(o.Steps); err != nil {
		return nil, err
	}
	return x, nil
}

// planSummary is a one-line description of a model's block residency.
func planSummary(m *dit.Model) string {
	p := m.Plan()
	resident := 0
	for _, r := range p.Resident {
		if r {
			resident++
		}
	}
	if resident == len(p.Resident) {
		if resident == 1 {
			return "1 block resident"
		}
		return fmt.Sprintf("%d blocks resident", resident)
	}
	return fmt.Sprintf("%d of %d blocks resident, %d swapped", resident, len(p.Resident), len(p.Resident)-resident)
}

// decode runs the VAE decoder, streaming frames to emit.
func (r *run) decode(x []float32, emit vae.EmitFunc) (err error) {
	o := r.o
	start := time.Now()
	src, _, err := modelfile.Open(r.m.VAE)
	if err := firstErr(r.ctx.Err(), err); err != nil {
		return wrapIf(err, "VAE")
	}
	defer src.Close()
	r.emit(Event{Stage: VAEDecode, Steps: o.Frames})
	released := false // as in encodeCondition
	defer func() {
		if !released {
			err = r.releaseAfter(err, VAEDecode)
		}
	}()
	budget, err := r.deviceLeft()
	if err != nil {
		return fmt.Errorf("VAE decode: %w", err)
	}
	dec, err := vae.LoadDecoder(o.backend(r.b, VAEDecode), src)
	if err != nil {
		return fmt.Errorf("VAE decoder %s: %w", r.m.VAE, err)
	}
	if dec.Tiling, err = r.planVAE(dec.Config, vae.Decoder, budget); err != nil {
		dec.Free()
		return err
	}
	g := o.Grid()
	var emitErr error // an error of the consumer, returned as it is
	err = dec.Decode(r.ctx, x, g.T, g.H, g.W, func(f []float32, first int) error {
		if emitErr = r.ctx.Err(); emitErr != nil {
			return emitErr
		}
		done := first + len(f)/(3*o.Height*o.Width)
		r.emit(Event{Stage: VAEDecode, Step: done, Steps: o.Frames})
		if emitErr = r.ctx.Err(); emitErr != nil {
			return emitErr
		}
		emitErr = emit(f, first)
		return emitErr
	})
	dec.Free()
	switch {
	case emitErr != nil:
		return emitErr
	case err != nil:
		return r.stageErr(err, "VAE decode")
	}
	released = true
	if err := r.released(VAEDecode); err != nil {
		return err
	}
	r.log.Info("decoded", "frames", o.Frames, "elapsed", time.Since(start).Round(time.Millisecond))
	r.emit(Event{Stage: VAEDecode, Done: true, Step: o.Frames, Steps: o.Frames})
	return nil
}

// forwards is the number of DiT forwards a step makes: two with classifier-free guidance.
func forwards(p scheduler.Pass) int {
	if p.Uncond {
		return 2
	}
	return 1
}

// paceTracker is the denoising time so far per expert and per DiT forward, from which the ETA estimates the
// remaining steps: the two experts may differ in speed (a quantized expert, or one with blocks swapped) and in
// forwards per step (--cfg 3.5,1: the low-noise expert runs without guidance, half the work of a step).
type paceTracker struct {
	time     map[Stage]time.Duration
	forwards map[Stage]int
	all      time.Duration // over both experts
	allFwd   int
}

func (p *paceTracker) add(s Stage, fwd int, took time.Duration) {
	if p.time == nil {
		p.time, p.forwards = map[Stage]time.Duration{}, map[Stage]int{}
	}
	p.time[s] += took
	p.forwards[s] += fwd
	p.all += took
	p.allFwd += fwd
}

// step estimates a step of expert s making fwd forwards: at s's pace per forward so far, or at the run's for an
// expert not run yet; 0 before any step.
func (p *paceTracker) step(s Stage, fwd int) time.Duration {
	if n := p.forwards[s]; n > 0 {
		return p.time[s] / time.Duration(n) * time.Duration(fwd)
	}
	if p.allFwd == 0 {
		return 0
	}
	return p.all / time.Duration(p.allFwd) * time.Duration(fwd)
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// stageErr is err, the error of a stage's model work (what: "VAE encode"),
// as the run returns it: "what: err"; or, when err is the end of the run's
// context that stopped the work partway ("vae: Encode stopped: context
// canceled"), the context's error in its own words ("context canceled"), as
// a run stopped between the denoising steps or the stages returns it: where
// it stopped is no news to the caller who stopped it. Either way err stays
// in the chain (errors.Is, errors.As).
func (r *run) stageErr(err error, what string) error {
	if ctxErr := r.ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		return &stoppedError{ctx: ctxErr, err: err}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// stoppedError is a stage stopped by the end of the run's context (stageErr):
// said as the context's error, it wraps the stage's.
type stoppedError struct{ ctx, err error }

func (e *stoppedError) Error() string { return e.ctx.Error() }
func (e *stoppedError) Unwrap() error { return e.err }

// wrapIf prefixes err with what, unless it is a context error.
func wrapIf(err error, what string) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// NonFiniteError is the latent turning NaN or ±Inf at a denoising step:
// the expert that ran the step (its weights, a LoRA attached to it), the
// backend or the inputs are broken, and the run stops there rather than
// decode a broken video. The latent is checked after every step, so Stage is
// the expert whose step made it non-finite from a finite one. Callers test
// for it with errors.As.
type NonFiniteError struct {
	Stage       Stage // HighNoise or LowNoise
	Step, Steps int   // the step, 1-based, of the run's steps (counted over both experts)
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("the latent became non-finite (NaN or Inf) at step %d of %d, in the %s expert: its weights (or a LoRA on it) or the inputs are broken",
		e.Step, e.Steps, e.Stage)
}

// finite reports whether x holds no NaN or ±Inf.
func finite(x []float32) bool {
	for _, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}
