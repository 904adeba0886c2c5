package pipeline

import (
	"fmt"
	"time"

	"github.com/wan22/wan22/engine/t5"
	"github.com/wan22/wan22/engine/tokenizer"
	"github.com/wan22/wan22/engine/vae"
	"github.com/wan22/wan22/gguf"
)

// The device budget holds for every stage, not only the experts (whose
// blocks the block manager places within it): before the VAE encoder, the
// text encoder and the VAE decoder load, the pipeline asks the backend how
// much device memory is left and runs the stage in a way whose estimated
// peak fits — the VAE in spatial tiles (vae.PlanTiling), umT5 streamed block
// by block (t5.PlanEncode) — or fails with the minimum budget before the
// stage runs. PlanStages makes the same decisions up front, for a front door
// that checks a request before running it.

// DeviceBudgeter is an optional interface of the backend passed to I2V:
// the device budget's limit and the bytes allocated under it now. It has no
// side effects. A backend without it that implements SwapBudgets (see
// engine.Swapper) is asked that instead; one with neither has no limit.
type DeviceBudgeter interface {
	DeviceBudget() (limit, inUse int64)
}

// swapBudgeter is the part of engine.Swapper the stages need.
type swapBudgeter interface {
	SwapBudgets() (vram, pinned int64, err error)
}

// deviceLeft returns the device bytes the next stage may use, or 0 when the
// backend has no budget. It asks the pipeline's own backend, not a stage's
// view: the CUDA backend's SwapBudgets records the caller's owner as a model
// whose release is then checked strictly against the free memory (the
// experts' check), which the VAE and text stages, the first to launch their
// kernels, are not held to.
func (r *run) deviceLeft() (int64, error) {
	switch b := r.b.(type) {
	case DeviceBudgeter:
		limit, inUse := b.DeviceBudget()
		if limit <= 0 {
			return 0, nil
		}
		return max(limit-inUse, 1), nil
	case swapBudgeter:
		vram, _, err := b.SwapBudgets()
		if err != nil {
			return 0, fmt.Errorf("reading the device budget: %w", err)
		}
		return max(vram, 1), nil
	}
	return 0, nil
}

// planVAE picks the tiling of a VAE half over the run's frames within budget
// (0: none) and logs a tiling.
func (r *run) planVAE(c vae.Config, half vae.Half, budget int64) (vae.Tiling, error) {
	g := r.o.Grid()
	t, err := vae.PlanTiling(c, half, g.H, g.W, budget)
	if err != nil {
		return t, err
	}
	if t.Size > 0 {
		rows, cols := t.Grid(g.H, g.W)
		r.log.Info(fmt.Sprintf("VAE %s tiled %d×%d to fit the %s budget", half, rows, cols, gibString(budget)),
			"tiling", t.String(), "estimate", gibString(vae.Peak(c, half, g.H, g.W, t)),
			"whole_frames", gibString(vae.Peak(c, half, g.H, g.W, vae.Tiling{})))
	}
	return t, nil
}

// planText decides whether umT5 runs resident or streamed over its two
// prompts within budget (0: none), and logs streaming.
func (r *run) planText(src gguf.Source, budget int64) (bool, error) {
	if budget <= 0 {
		return false, nil
	}
	c, typ, err := t5.Inspect(src)
	if err != nil {
		return false, err
	}
	stream, err := t5.PlanEncode(c, typ, 2, budget)
	if stream {
		r.log.Info(fmt.Sprintf("text encoder streamed block by block to fit the %s budget", gibString(budget)),
			"resident_estimate", gibString(t5.Peak(c, typ)), "streamed_estimate", gibString(t5.StreamingPeak(c, typ, 2)))
	}
	return stream, err
}

// encodePromptsStreaming is encodePrompts with umT5 streamed block by block
// (t5.EncodeTextsStreaming): both prompts go through each block while it is
// on the device.
func (r *run) encodePromptsStreaming(src gguf.Source, tok *tokenizer.Tokenizer, prompt, negative string, start time.Time) (prompts, error) {
	texts, ns, err := t5.EncodeTextsStreaming(r.ctx, tok, r.o.backend(r.b, TextEncode), src, prompt, negative)
	if err != nil {
		err = r.stageErr(err, "encoding the prompts (text encoder streamed)")
	}
	if err := firstErr(r.releaseAfter(err, TextEncode), r.ctx.Err()); err != nil {
		return prompts{}, err
	}
	p := prompts{cond: texts[0], condN: ns[0], uncond: texts[1], uncondN: ns[1]}
	r.log.Info("prompts encoded", "tokens", p.condN, "negative_tokens", p.uncondN, "streamed", true, "elapsed", time.Since(start).Round(time.Millisecond))
	r.emit(Event{Stage: TextEncode, Done: true})
	return p, nil
}

func gibString(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }

// StagePlan is how the stages outside the DiT run within a device budget.
type StagePlan struct {
	Encode, Decode vae.Tiling // the VAE's tilings (Size 0: whole frames)
	StreamText     bool       // umT5 streamed block by block
	// The estimated device peaks of the three stages as planned, in bytes.
	EncodePeak, TextPeak, DecodePeak int64
}

// PlanStages plans the VAE encode, text encode and VAE decode of a
// height×width video (pixels, multiples of 8; any frame count: these stages
// do not grow with it) within budget device bytes (≤ 0: no limit), with the
// VAE structure vc (vae.Wan21() for the real model) and the text encoder's
// configuration and weight type (t5.Inspect reads them from the file). It
// makes the decisions I2V makes when it reaches each stage, and fails with
// the stage's *vae.BudgetError or *t5.BudgetError, which name the minimum
// budget, when one cannot fit.
func PlanStages(budget int64, vc vae.Config, tc t5.Config, textType gguf.Type, height, width int) (StagePlan, error) {
	var p StagePlan
	if height <= 0 || width <= 0 || height%vae.Scale != 0 || width%vae.Scale != 0 {
		return p, fmt.Errorf("planning the stages of a %dx%d video: the sides must be positive multiples of %d", width, height, vae.Scale)
	}
	h, w := height/vae.Scale, width/vae.Scale
	var err error
	if p.Encode, err = vae.PlanTiling(vc, vae.Encoder, h, w, budget); err != nil {
		return p, err
	}
	if p.StreamText, err = t5.PlanEncode(tc, textType, 2, budget); err != nil {
		return p, err
	}
	if p.Decode, err = vae.PlanTiling(vc, vae.Decoder, h, w, budget); err != nil {
		return p, err
	}
	p.EncodePeak = vae.EncodePeak(vc, h, w, p.Encode)
	p.DecodePeak = vae.DecodePeak(vc, h, w, p.Decode)
	p.TextPeak = t5.Peak(tc, textType)
	if p.StreamText {
		p.TextPeak = t5.StreamingPeak(tc, textType, 2)
	}
	return p, nil
}
