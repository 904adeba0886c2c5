// Package pipeline runs WAN 2.2 image-to-video end to end over a backend:
// the VAE encodes the conditioning video, umT5 encodes the prompts, the
// high-noise expert and then the low-noise expert denoise the latent (each
// loaded when its stage starts and freed completely before the next), and
// the VAE decoder streams frames to a consumer (spec §0, §3, §4).
//
// Stages load their model when they start and free it when they end, so
// peak memory is the largest stage, never the sum.
package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/engine/t5"
	"github.com/wan22/wan22/engine/vae"
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

// Models names the model files of one generation.
type Models struct {
	TextEncoder string // umT5 encoder (GGUF with tokenizer metadata, or safetensors with spiece_model)
	VAE         string // WAN 2.1 VAE
	High, Low   string // the high-noise and low-noise DiT experts
}

// Options configures one generation.
type Options struct {
	Prompt        string
	Negative      string // empty: DefaultNegative
	Frames        int    // pixel frames F; (F−1) must be a multiple of 4
	Height, Width int    // multiples of 16
	Steps         int
	Shift         float64
	Solver        string // "unipc", "dpm++" or "euler"
	Guidance      scheduler.Guidance
	Seed          uint64
	Log           *slog.Logger
	// BackendFor, if set, gives the backend each model runs on, by stage:
	// "vae-encoder", "text-encoder", "high-noise", "low-noise", "vae-decoder"
	// (e.g. a CUDA backend view whose allocations carry the stage as owner,
	// or a higher-precision view for the text encoder). Nil runs everything
	// on the backend passed to I2V.
	BackendFor func(stage string) engine.Backend
}

// backend returns the backend of a stage.
func (o Options) backend(b engine.Backend, stage string) engine.Backend {
	if o.BackendFor == nil {
		return b
	}
	return o.BackendFor(stage)
}

// Validate checks the options and reports the latent grid.
func (o Options) Validate() (T, h, w int, err error) {
	switch {
	case o.Frames < 1 || (o.Frames-1)%4 != 0:
		return 0, 0, 0, fmt.Errorf("frames must be 4k+1 (1, 5, …, 81), got %d", o.Frames)
	case o.Frames > MaxFrames:
		return 0, 0, 0, fmt.Errorf("at most %d frames, got %d", MaxFrames, o.Frames)
	case o.Height < 16 || o.Width < 16 || o.Height%16 != 0 || o.Width%16 != 0:
		return 0, 0, 0, fmt.Errorf("height and width must be positive multiples of 16, got %dx%d", o.Width, o.Height)
	case o.Height > MaxSide || o.Width > MaxSide:
		return 0, 0, 0, fmt.Errorf("height and width must be at most %d, got %dx%d", MaxSide, o.Width, o.Height)
	case o.Steps < 1:
		return 0, 0, 0, fmt.Errorf("steps must be at least 1, got %d", o.Steps)
	}
	if err := o.Guidance.Validate(); err != nil {
		return 0, 0, 0, err
	}
	return (o.Frames-1)/4 + 1, o.Height / vae.Scale, o.Width / vae.Scale, nil
}

// I2V generates a video from image [3, Height, Width] (RGB in [-1, 1]) and
// hands the decoded frames to emit as they are produced.
func I2V(b engine.Backend, m Models, image []float32, o Options, emit vae.EmitFunc) error {
	T, h, w, err := o.Validate()
	if err != nil {
		return err
	}
	if len(image) != 3*o.Height*o.Width {
		return fmt.Errorf("image has %d values, want 3×%d×%d", len(image), o.Height, o.Width)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	// Stage 1: the conditioning latent y = mask(4) ⊕ VAE(image, zeros…).
	start := time.Now()
	latent, err := encodeCondition(o.backend(b, "vae-encoder"), m.VAE, image, o)
	if err != nil {
		return err
	}
	plane := T * h * w
	y := make([]float32, 20*plane)
	for c := range 4 {
		for i := range h * w {
			y[c*plane+i] = 1 // latent frame 0 is given
		}
	}
	copy(y[4*plane:], latent)
	log.Info("conditioning encoded", "latent", fmt.Sprintf("16×%d×%d×%d", T, h, w), "elapsed", time.Since(start).Round(time.Millisecond))

	// Stage 2: text contexts.
	start = time.Now()
	negative := o.Negative
	if negative == "" {
		negative = DefaultNegative
	}
	cond, condN, uncond, uncondN, err := encodePrompts(o.backend(b, "text-encoder"), m.TextEncoder, o.Prompt, negative)
	if err != nil {
		return err
	}
	log.Info("prompts encoded", "tokens", condN, "negative_tokens", uncondN, "elapsed", time.Since(start).Round(time.Millisecond))

	// Stage 3: denoise with the two experts.
	x, err := sample(b, m, y, cond, condN, uncond, uncondN, T, h, w, o, log)
	if err != nil {
		return err
	}

	// Stage 4: decode, streaming frames.
	start = time.Now()
	src, _, err := modelfile.Open(m.VAE)
	if err != nil {
		return fmt.Errorf("VAE: %w", err)
	}
	defer src.Close()
	dec, err := vae.LoadDecoder(o.backend(b, "vae-decoder"), src)
	if err != nil {
		return fmt.Errorf("VAE decoder %s: %w", m.VAE, err)
	}
	defer dec.Free()
	if err := dec.Decode(x, T, h, w, emit); err != nil {
		return fmt.Errorf("VAE decode: %w", err)
	}
	log.Info("decoded", "frames", o.Frames, "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}

func encodeCondition(b engine.Backend, path string, image []float32, o Options) ([]float32, error) {
	src, _, err := modelfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("VAE: %w", err)
	}
	defer src.Close()
	enc, err := vae.LoadEncoder(b, src)
	if err != nil {
		return nil, fmt.Errorf("VAE encoder %s: %w", path, err)
	}
	defer enc.Free()
	// video [3, F, H, W]: frame 0 is the image, the rest are zero.
	F, HW := o.Frames, o.Height*o.Width
	video := make([]float32, 3*F*HW)
	for c := range 3 {
		copy(video[c*F*HW:c*F*HW+HW], image[c*HW:(c+1)*HW])
	}
	latent, err := enc.Encode(video, F, o.Height, o.Width)
	if err != nil {
		return nil, fmt.Errorf("VAE encode: %w", err)
	}
	return latent, nil
}

func encodePrompts(b engine.Backend, path, prompt, negative string) (cond []float32, condN int, uncond []float32, uncondN int, err error) {
	src, _, err := modelfile.Open(path)
	if err != nil {
		return nil, 0, nil, 0, fmt.Errorf("text encoder: %w", err)
	}
	defer src.Close()
	tok, err := t5.LoadTokenizer(src)
	if err != nil {
		return nil, 0, nil, 0, fmt.Errorf("text encoder %s: %w", path, err)
	}
	enc, err := t5.Load(b, src)
	if err != nil {
		return nil, 0, nil, 0, fmt.Errorf("text encoder %s: %w", path, err)
	}
	defer enc.Free()
	if cond, condN, err = t5.EncodeText(tok, enc, prompt); err != nil {
		return nil, 0, nil, 0, fmt.Errorf("encoding the prompt: %w", err)
	}
	if uncond, uncondN, err = t5.EncodeText(tok, enc, negative); err != nil {
		return nil, 0, nil, 0, fmt.Errorf("encoding the negative prompt: %w", err)
	}
	return cond, condN, uncond, uncondN, nil
}

// expert is one loaded DiT with its embedded prompts.
type expert struct {
	which        scheduler.Expert
	model        *dit.Model
	cond, uncond *dit.Text
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
}

func loadExpert(b engine.Backend, which scheduler.Expert, path string, cond []float32, condN int, uncond []float32, uncondN int) (*expert, error) {
	src, _, err := modelfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s expert: %w", which, err)
	}
	defer src.Close()
	m, err := dit.Load(b, src)
	if err != nil {
		return nil, fmt.Errorf("%s expert %s: %w", which, path, err)
	}
	e := &expert{which: which, model: m}
	if e.cond, err = m.EmbedText(cond, condN); err == nil {
		e.uncond, err = m.EmbedText(uncond, uncondN)
	}
	if err != nil {
		e.free()
		return nil, fmt.Errorf("%s expert: embedding the prompts: %w", which, err)
	}
	return e, nil
}

func sample(b engine.Backend, m Models, y, cond []float32, condN int, uncond []float32, uncondN, T, h, w int, o Options, log *slog.Logger) ([]float32, error) {
	solver, err := scheduler.New(o.Solver, o.Steps, o.Shift)
	if err != nil {
		return nil, err
	}
	n := 16 * T * h * w
	x := make([]float32, n)
	rng := rand.New(rand.NewPCG(o.Seed, 0x9e3779b97f4a7c15))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	vu := make([]float32, n)
	var cur *expert
	defer func() { cur.free() }()
	grid := dit.Grid{T: T, H: h, W: w}
	for i, t := range solver.Timesteps() {
		pass := o.Guidance.At(t)
		if cur == nil || cur.which != pass.Expert {
			path := m.Low
			if pass.Expert == scheduler.HighNoise {
				path = m.High
			}
			cur.free() // the old expert is released completely before the new one loads
			cur = nil
			start := time.Now()
			if cur, err = loadExpert(o.backend(b, pass.Expert.String()), pass.Expert, path, cond, condN, uncond, uncondN); err != nil {
				return nil, err
			}
			log.Info("expert loaded", "expert", pass.Expert.String(), "step", i, "elapsed", time.Since(start).Round(time.Millisecond))
		}
		start := time.Now()
		vc, err := cur.model.Forward(x, y, grid, float64(t), cur.cond, nil)
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", i, err)
		}
		if pass.Uncond {
			u, err := cur.model.Forward(x, y, grid, float64(t), cur.uncond, nil)
			if err != nil {
				return nil, fmt.Errorf("step %d (unconditional): %w", i, err)
			}
			copy(vu, u)
		}
		if err := scheduler.CFG(vc, vc, vu, pass.Scale); err != nil {
			return nil, err
		}
		if err := solver.Step(vc, i, x); err != nil {
			return nil, fmt.Errorf("step %d: %w", i, err)
		}
		if !finite(x) {
			return nil, errors.New("the latent became non-finite (NaN or Inf): the model weights or inputs are broken")
		}
		log.Info("step", "i", i+1, "of", o.Steps, "t", t, "expert", pass.Expert.String(), "cfg", pass.Scale, "elapsed", time.Since(start).Round(time.Millisecond))
	}
	return x, nil
}

func finite(x []float32) bool {
	for _, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}
