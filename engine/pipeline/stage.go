package pipeline

import (
	"fmt"
	"time"

	"github.com/wan22/wan22/blockswap"
)

// Stage is one step of a generation. Each model stage loads its model when it
// starts and frees it completely when it ends.
type Stage int

// The stages, in the order they run.
const (
	VAEEncode  Stage = iota // the VAE encoder makes the conditioning latent from the image
	TextEncode              // umT5 encodes the prompt and the negative prompt
	HighNoise               // the high-noise expert denoises the first steps
	LowNoise                // the low-noise expert denoises the rest
	VAEDecode               // the VAE decoder streams frames out
	VideoWrite              // the frames are written out (by the caller of I2V) as VAEDecode makes them: its events interleave with VAEDecode's, with no start event of its own
)

// Stages lists every stage in order.
var Stages = []Stage{VAEEncode, TextEncode, HighNoise, LowNoise, VAEDecode, VideoWrite}

// String returns the stage's name, which is also the owner name of its
// device allocations: "vae-encode", "text-encode", "high-noise", "low-noise",
// "vae-decode", "video-write".
func (s Stage) String() string {
	switch s {
	case VAEEncode:
		return "vae-encode"
	case TextEncode:
		return "text-encode"
	case HighNoise:
		return "high-noise"
	case LowNoise:
		return "low-noise"
	case VAEDecode:
		return "vae-decode"
	case VideoWrite:
		return "video-write"
	}
	return fmt.Sprintf("Stage(%d)", int(s))
}

// MarshalText makes a Stage appear by name in JSON.
func (s Stage) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Memory is the peak memory of a run so far, in bytes; 0 where it is not
// known (no device, or a platform without the figure).
type Memory struct {
	PeakVRAM   int64 `json:"peak_vram,omitempty"`   // device memory allocated by the backend
	PeakPinned int64 `json:"peak_pinned,omitempty"` // pinned host memory (block swapping)
	PeakRSS    int64 `json:"peak_rss,omitempty"`    // the process's peak resident set (VmHWM on Linux)
}

// Event reports progress. It is delivered synchronously on the goroutine
// running the pipeline; the callback must not keep pointers into it.
type Event struct {
	Stage Stage `json:"stage"`
	// Done is set on the event that ends a stage; the others report its
	// start (a stage's first event, before any of its work; an expert's
	// carries Plan) or its progress.
	Done bool `json:"done,omitempty"`
	// Step of Steps: denoising steps done over both experts in HighNoise and
	// LowNoise; frames done of all frames in VAEDecode and VideoWrite; 0 of
	// 0 in VAEEncode and TextEncode. Step counts the run, not the stage: a
	// stage starts at the steps done before it, so LowNoise starts at the
	// steps HighNoise ran (e.g. Step 2 of 3), not at 0, and one progress bar
	// over both experts never goes back; a stage's own steps are its Step
	// less the Step of its start. HighNoise and VAEDecode start at Step 0.
	Step  int `json:"step"`
	Steps int `json:"steps"`
	// PerStep is the mean time of a denoising step so far (over both
	// experts), and ETA the time the remaining steps will take, each at the
	// pace per DiT forward of its expert so far (a step with classifier-free
	// guidance makes two forwards; an expert not run yet goes at the run's
	// pace). Both are set on the events of denoising steps only: PerStep is
	// 0 on the start and the end of every stage, so PerStep > 0 tells a
	// step's event apart.
	PerStep time.Duration `json:"per_step_ns,omitempty"`
	ETA     time.Duration `json:"eta_ns,omitempty"`
	// Elapsed is the time since the generation started.
	Elapsed time.Duration `json:"elapsed_ns"`
	Memory  Memory        `json:"memory"`
	// Plan is the expert's block residency (set on the start of HighNoise and
	// LowNoise) and Swap its block-swap counters (set when blocks are swapped).
	Plan string           `json:"plan,omitempty"`
	Swap *blockswap.Stats `json:"swap,omitempty"`
}

// ProgressFunc receives progress events.
type ProgressFunc func(Event)

// LatentFunc receives the latent x [16, T, h, w] after denoising step
// step (1-based) of steps, for previews. x is a copy, valid until the call
// returns (the next step reuses it): changing it does not change the run;
// copy it to keep it. An error stops the run and is returned.
type LatentFunc func(step, steps int, x []float32) error

// Releaser is an optional interface of the backend passed to I2V: after a
// stage has freed its model the pipeline calls Released with the stage, so
// that the backend can return the stage's memory and check that device
// memory is back to its baseline (the expert-switch check). An error fails
// the run.
type Releaser interface {
	Released(s Stage) error
}

// MemoryReporter is an optional interface of the backend passed to I2V that
// reports device peaks (VRAM and pinned host memory) for progress events.
type MemoryReporter interface {
	PeakMemory() (vram, pinned int64)
}
