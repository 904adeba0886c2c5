package scheduler

import (
	"fmt"
	"strconv"
	"strings"
)

// Distill names the step-distillation sampler (see [Distilled]) for the CLI
// and the pipeline; it is not one of the Kinds New builds.
const Distill Kind = "distill"

// DefaultDistillTimesteps is the 4-step list of the common distilled
// workflows (LightX2V's denoising_step_list for its 4-step WAN LoRAs).
var DefaultDistillTimesteps = []int{1000, 750, 500, 250}

// Distilled is the sampler of step-distilled WAN models and LoRAs (LightX2V's
// step-distill schedule). The training schedule is the 1000 sigmas
// σ_k = linspace(1, 0, 1001)[k], k < 1000, shifted by shift·σ/(1+(shift−1)·σ)
// in float32; a step list such as 1000, 750, 500, 250 picks the sigmas at
// indices 1000 − t. The model is fed the float timestep σ·1000 (937.5 for
// t = 750 at shift 5, not an integer), and each step is
//
//	x ← x − σ_i·v + σ_{i+1}·v,    σ_N = 0,
//
// so the last step returns the x0-prediction x − σ·v. It keeps no history: a
// Distilled may be reused for another generation, and steps may come in any
// order (the pipeline takes them in order). A Distilled is safe for
// concurrent use.
type Distilled struct {
	list      []int
	shift     float64
	timesteps []float64 // N float32 timesteps σ·1000, as float64
	sigmas    []float32 // N+1, the last 0
}

// DistillSigma returns σ at index k ∈ [0, 1000) of the shifted training
// schedule, in float32 as PyTorch evaluates the official code: the float32
// linspace value 1 − k/1000 (correctly rounded; PyTorch's vectorised
// linspace may differ from it by one float32 ulp), then
// float32(shift·σ) / float32(1 + float32((shift−1)·σ)).
func DistillSigma(k int, shift float64) float32 {
	s := float32(1 - float64(k)/NumTrainTimesteps)
	num := float32(float32(shift) * s)
	den := float32(1 + float32(float32(shift-1)*s))
	return num / den
}

// NewDistilled returns the distilled sampler for the step list (timesteps of
// the 1000-step training schedule, strictly decreasing, each in [1, 1000])
// and shift (finite, > 0).
func NewDistilled(list []int, shift float64) (*Distilled, error) {
	if len(list) == 0 {
		return nil, fmt.Errorf("scheduler: the distilled schedule needs a list of timesteps, e.g. %s", FormatTimesteps(DefaultDistillTimesteps))
	}
	if err := checkArgs(len(list), shift); err != nil {
		return nil, err
	}
	for i, t := range list {
		if t < 1 || t > NumTrainTimesteps {
			return nil, fmt.Errorf("scheduler: distilled timestep %d is out of range: want 1 to %d (e.g. %s)", t, NumTrainTimesteps, FormatTimesteps(DefaultDistillTimesteps))
		}
		if i > 0 && t >= list[i-1] {
			return nil, fmt.Errorf("scheduler: distilled timesteps must strictly decrease, got %d after %d", t, list[i-1])
		}
	}
	d := &Distilled{list: append([]int(nil), list...), shift: shift,
		timesteps: make([]float64, len(list)), sigmas: make([]float32, len(list)+1)}
	for i, t := range list {
		s := DistillSigma(NumTrainTimesteps-t, shift)
		d.sigmas[i] = s
		d.timesteps[i] = float64(float32(s * NumTrainTimesteps))
	}
	for i := range list {
		if !(d.sigmas[i] > d.sigmas[i+1]) || d.sigmas[i] > 1 {
			return nil, fmt.Errorf("scheduler: %w: timesteps %s with shift %v give float32 sigmas %v at %d and %v at %d, not strictly decreasing in (0, 1]",
				ErrDegenerateSchedule, FormatTimesteps(list), shift, d.sigmas[i], i, d.sigmas[i+1], i+1)
		}
	}
	return d, nil
}

// Steps returns the number of steps N.
func (d *Distilled) Steps() int { return len(d.list) }

// Shift returns the shift the schedule was built with.
func (d *Distilled) Shift() float64 { return d.shift }

// List returns a copy of the step list the sampler was built from.
func (d *Distilled) List() []int { return append([]int(nil), d.list...) }

// Timesteps returns a copy of the N timesteps to feed the model: the float32
// values σ_i·1000, not rounded to integers.
func (d *Distilled) Timesteps() []float64 { return append([]float64(nil), d.timesteps...) }

// Sigmas returns a copy of the N+1 float32 sigmas (the last is 0).
func (d *Distilled) Sigmas() []float32 { return append([]float32(nil), d.sigmas...) }

// Step takes step i: given the model output v at the sample x (fed timestep
// Timesteps()[i]), it overwrites x with x − σ_i·v + σ_{i+1}·v, evaluated in
// float32 as the official code does: (x − float32(σ_i·v)) + float32(v·σ_{i+1}),
// the second term left out on the last step.
func (d *Distilled) Step(v []float32, i int, x []float32) error {
	n := len(d.list)
	switch {
	case i < 0 || i >= n:
		return fmt.Errorf("scheduler: step %d out of range [0, %d)", i, n)
	case len(x) == 0:
		return fmt.Errorf("scheduler: step %d: empty latent", i)
	case len(v) != len(x):
		return fmt.Errorf("scheduler: step %d: model output has %d values, latent %d", i, len(v), len(x))
	}
	s, next := d.sigmas[i], d.sigmas[i+1]
	v = v[:len(x)]
	if i == n-1 {
		for j := range x {
			x[j] -= float32(s * v[j])
		}
		return nil
	}
	for j := range x {
		y := x[j] - float32(s*v[j])
		x[j] = y + float32(v[j]*next)
	}
	return nil
}

// ParseTimesteps reads a comma-separated step list such as "1000,750,500,250"
// and checks it as NewDistilled does (with shift 1).
func ParseTimesteps(s string) ([]int, error) {
	var list []int
	for _, p := range strings.Split(s, ",") {
		t, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("scheduler: timesteps %q: %q is not an integer (want a list such as %s)", s, p, FormatTimesteps(DefaultDistillTimesteps))
		}
		list = append(list, t)
	}
	if _, err := NewDistilled(list, 1); err != nil {
		return nil, err
	}
	return list, nil
}

// FormatTimesteps writes a step list as ParseTimesteps reads it.
func FormatTimesteps(list []int) string {
	parts := make([]string, len(list))
	for i, t := range list {
		parts[i] = strconv.Itoa(t)
	}
	return strings.Join(parts, ",")
}
