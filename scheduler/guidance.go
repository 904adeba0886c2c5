package scheduler

import (
	"fmt"
	"math"
)

// Expert is one of the two denoisers of a WAN 2.2 A14B model.
type Expert int

const (
	// LowNoise is the expert for t < boundary (guide_scale[0]).
	LowNoise Expert = iota
	// HighNoise is the expert for t ≥ boundary (guide_scale[1]).
	HighNoise
)

// String returns "low-noise" or "high-noise".
func (e Expert) String() string {
	switch e {
	case LowNoise:
		return "low-noise"
	case HighNoise:
		return "high-noise"
	}
	return fmt.Sprintf("Expert(%d)", int(e))
}

// Expert boundaries of WAN 2.2 A14B, as fractions of NumTrainTimesteps.
const (
	BoundaryI2V = 0.900
	BoundaryT2V = 0.875
)

// Guidance chooses the expert and the classifier-free guidance scale of each
// step (spec §4.1): the high-noise expert with scale High while
// t ≥ Boundary·1000, the low-noise expert with scale Low after.
type Guidance struct {
	// Boundary is the switch point as a fraction of NumTrainTimesteps, in
	// [0, 1]: 0 runs the high-noise expert throughout, 1 switches after t = 1000.
	Boundary float64
	// Low and High are the guidance scales of the low- and high-noise experts,
	// in the official order sample_guide_scale = (low, high).
	Low, High float32
}

// I2VGuidance is the I2V-A14B default: boundary 0.900, scales (3.5, 3.5).
func I2VGuidance() Guidance { return Guidance{Boundary: BoundaryI2V, Low: 3.5, High: 3.5} }

// T2VGuidance is the T2V-A14B default: boundary 0.875, scales (3.0, 4.0).
func T2VGuidance() Guidance { return Guidance{Boundary: BoundaryT2V, Low: 3.0, High: 4.0} }

// Validate checks that the boundary lies in [0, 1] and the scales are finite.
func (g Guidance) Validate() error {
	if !(g.Boundary >= 0 && g.Boundary <= 1) {
		return fmt.Errorf("scheduler: expert boundary must be in [0, 1], got %v", g.Boundary)
	}
	for _, s := range [...]float32{g.Low, g.High} {
		if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("scheduler: guidance scales must be finite, got (low %v, high %v)", g.Low, g.High)
		}
	}
	return nil
}

// Threshold is the timestep from which the high-noise expert runs:
// Boundary·1000 in float64 (900 for I2V, 875 for T2V).
func (g Guidance) Threshold() float64 { return g.Boundary * NumTrainTimesteps }

// Expert returns the expert for timestep t.
func (g Guidance) Expert(t int64) Expert {
	if float64(t) >= g.Threshold() {
		return HighNoise
	}
	return LowNoise
}

// Scale returns the guidance scale for timestep t.
func (g Guidance) Scale(t int64) float32 {
	if g.Expert(t) == HighNoise {
		return g.High
	}
	return g.Low
}

// Pass is what the pipeline runs at one timestep.
type Pass struct {
	Expert Expert
	Scale  float32
	// Uncond says whether the unconditional forward is needed: false when
	// Scale is 1, where CFG reduces to the conditional output.
	Uncond bool
}

// At returns the pass for timestep t.
func (g Guidance) At(t int64) Pass {
	s := g.Scale(t)
	return Pass{Expert: g.Expert(t), Scale: s, Uncond: NeedsUncond(s)}
}

// HighNoiseSteps counts the timesteps that run the high-noise expert. On a
// decreasing schedule they are the first ones, so the experts swap once,
// before step HighNoiseSteps.
func (g Guidance) HighNoiseSteps(timesteps []int64) int {
	n := 0
	for _, t := range timesteps {
		if g.Expert(t) == HighNoise {
			n++
		}
	}
	return n
}

// NeedsUncond reports whether guidance with this scale needs the
// unconditional model output. At scale 1, u + 1·(c − u) is c, so the pipeline
// skips the unconditional forward and uses c as it is.
func NeedsUncond(scale float32) bool { return scale != 1 }

// CFG writes classifier-free guidance u + g·(c − u) into dst, in float32 as
// the official code does. dst may be cond or uncond. At scale 1 it copies cond
// and uncond may be nil (see NeedsUncond).
func CFG(dst, cond, uncond []float32, scale float32) error {
	if len(cond) != len(dst) {
		return fmt.Errorf("scheduler: CFG: cond has %d values, dst %d", len(cond), len(dst))
	}
	if math.IsNaN(float64(scale)) || math.IsInf(float64(scale), 0) {
		return fmt.Errorf("scheduler: CFG: guidance scale must be finite, got %v", scale)
	}
	if !NeedsUncond(scale) {
		copy(dst, cond)
		return nil
	}
	if len(uncond) != len(dst) {
		return fmt.Errorf("scheduler: CFG: uncond has %d values, dst %d (scale %v needs it)", len(uncond), len(dst), scale)
	}
	uncond = uncond[:len(dst)]
	cond = cond[:len(dst)]
	for i := range dst {
		u := uncond[i]
		dst[i] = u + float32(scale*(cond[i]-u))
	}
	return nil
}
