package scheduler

import (
	"errors"
	"fmt"
	"math"
)

// NumTrainTimesteps is the length of the training schedule; timesteps are
// sigmas times this.
const NumTrainTimesteps = 1000

// MaxSteps is the largest number of sampling steps a schedule may have.
const MaxSteps = 10000

// UniPCSigmaMax is the first unshifted sigma of the UniPC schedule: the
// training schedule's largest sigma, float32(1 − 1/1000), as a float64.
const UniPCSigmaMax = float64(float32(0.999))

// ErrDegenerateSchedule is wrapped by the errors of schedules whose float32
// sigmas (or the solver coefficients derived from them) are unusable: two
// sigmas round to the same float32, or a coefficient is not finite. This
// happens only for extreme shifts or very many steps.
var ErrDegenerateSchedule = errors.New("degenerate schedule")

// ShiftSigma applies the flow-matching timestep shift to a sigma in [0, 1]:
// shift·σ / (1 + (shift−1)·σ), in float64 and in the order the official code
// evaluates it.
func ShiftSigma(sigma, shift float64) float64 {
	num := float64(shift * sigma)
	den := 1 + float64((shift-1)*sigma)
	return num / den
}

// Schedule is the timestep and sigma schedule of one sampling run.
type Schedule struct {
	// Timesteps are the N integer timesteps the model is fed, decreasing.
	Timesteps []int64
	// Sigmas are the N+1 float32 sigmas the solver uses; Sigmas[N] is 0.
	Sigmas []float32
}

// UniPCSchedule returns the schedule of FlowUniPCMultistepScheduler (spec
// §4.2): s_k = linspace(σ_max, 0, steps+1)[k] for k < steps with
// σ_max = float32(0.999), shifted, timesteps truncated from s_k·1000, and
// float32 sigmas with a final 0.
func UniPCSchedule(steps int, shift float64) (Schedule, error) {
	return linspaceSchedule(steps, shift, UniPCSigmaMax)
}

// DPMSchedule returns the schedule the official DPM++ path uses (spec §4.3),
// which Euler shares: the shifted linspace(1, 0, steps+1)[:steps], starting at
// exactly 1.0 (so the first timestep is 1000), with a final sigma 0.
func DPMSchedule(steps int, shift float64) (Schedule, error) {
	return linspaceSchedule(steps, shift, 1)
}

// checkArgs validates a step count and a shift.
func checkArgs(steps int, shift float64) error {
	if steps < 1 || steps > MaxSteps {
		return fmt.Errorf("scheduler: steps must be in [1, %d], got %d", MaxSteps, steps)
	}
	if !(shift > 0) || math.IsInf(shift, 1) {
		return fmt.Errorf("scheduler: shift must be a finite number > 0, got %v", shift)
	}
	return nil
}

// linspaceSchedule shifts numpy's linspace(start, 0, steps+1)[:steps]
// (element k is k·step + start with step = (0 − start)/steps, in float64) and
// checks that the float32 sigmas strictly decrease to 0.
func linspaceSchedule(steps int, shift, start float64) (Schedule, error) {
	if err := checkArgs(steps, shift); err != nil {
		return Schedule{}, err
	}
	step := (0 - start) / float64(steps)
	s := Schedule{Timesteps: make([]int64, steps), Sigmas: make([]float32, steps+1)}
	for k := range steps {
		sk := float64(float64(k)*step) + start
		sk = ShiftSigma(sk, shift)
		s.Timesteps[k] = int64(sk * NumTrainTimesteps)
		s.Sigmas[k] = float32(sk)
	}
	for k := range steps {
		if !(s.Sigmas[k] > s.Sigmas[k+1]) || s.Sigmas[k] > 1 {
			return Schedule{}, fmt.Errorf("scheduler: %w: %d steps with shift %v give float32 sigmas %v at %d and %v at %d, not strictly decreasing in (0, 1]",
				ErrDegenerateSchedule, steps, shift, s.Sigmas[k], k, s.Sigmas[k+1], k+1)
		}
	}
	return s, nil
}
