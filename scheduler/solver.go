package scheduler

import (
	"fmt"
	"strings"
)

// Kind names a solver.
type Kind string

// The solvers, by the names the CLI accepts.
const (
	// UniPC is FlowUniPCMultistepScheduler: bh2, order 2, predictor and
	// corrector, on the UniPC schedule. The official default.
	UniPC Kind = "unipc"
	// DPMPP is FlowDPMSolverMultistepScheduler: dpmsolver++ 2M, midpoint, on
	// the DPM schedule (official --sample_solver dpm++).
	DPMPP Kind = "dpm++"
	// Euler is the flow Euler step x + (σ_{i+1} − σ_i)·v on the DPM schedule,
	// which starts at σ = 1 like the few-step distilled (LoRA) workflows. Not
	// in the official repository.
	Euler Kind = "euler"
)

// Kinds lists the solvers New accepts.
var Kinds = []Kind{UniPC, DPMPP, Euler}

// Solver runs one sampling schedule step by step on a float32 latent. It
// keeps the multistep history between steps, so one Solver serves one
// generation at a time; step 0 starts a new one. A Solver is not safe for
// concurrent use.
type Solver struct {
	kind     Kind
	shift    float64
	schedule Schedule
	coeffs   []Coefficients

	// History, allocated on the first step (nil for Euler): xPrev is the
	// corrected sample of the previous step (UniPC only), m1 and m2 the
	// x0-predictions of the previous two steps.
	xPrev, m1, m2 []float32
	next          int // the step index Step expects next
}

// New returns a solver of the named kind ("unipc", "dpm++" or "euler") for
// the given number of steps and shift. It fails on an unknown kind, steps
// outside [1, MaxSteps], a shift that is not finite and > 0, and (wrapping
// ErrDegenerateSchedule) a schedule whose float32 sigmas or coefficients are
// unusable.
func New(kind string, steps int, shift float64) (*Solver, error) {
	k := Kind(kind)
	var sched func(int, float64) (Schedule, error)
	var coef func([]float32, int) Coefficients
	switch k {
	case UniPC:
		sched, coef = UniPCSchedule, unipcCoefficients
	case DPMPP:
		sched, coef = DPMSchedule, dpmCoefficients
	case Euler:
		sched, coef = DPMSchedule, eulerCoefficients
	default:
		names := make([]string, len(Kinds))
		for i, k := range Kinds {
			names[i] = string(k)
		}
		return nil, fmt.Errorf("scheduler: unknown solver %q (want one of %s)", kind, strings.Join(names, ", "))
	}
	s, err := sched(steps, shift)
	if err != nil {
		return nil, err
	}
	sv := &Solver{kind: k, shift: shift, schedule: s, coeffs: make([]Coefficients, steps)}
	for i := range sv.coeffs {
		sv.coeffs[i] = coef(s.Sigmas, i)
		if err := checkCoefficients(k, s.Sigmas, i, &sv.coeffs[i]); err != nil {
			return nil, err
		}
	}
	return sv, nil
}

// Kind returns the solver's kind.
func (s *Solver) Kind() Kind { return s.kind }

// Steps returns the number of steps N.
func (s *Solver) Steps() int { return len(s.schedule.Timesteps) }

// Shift returns the shift the schedule was built with.
func (s *Solver) Shift() float64 { return s.shift }

// Timesteps returns a copy of the N integer timesteps to feed the model.
func (s *Solver) Timesteps() []int64 { return append([]int64(nil), s.schedule.Timesteps...) }

// Sigmas returns a copy of the N+1 float32 sigmas (the last is 0).
func (s *Solver) Sigmas() []float32 { return append([]float32(nil), s.schedule.Sigmas...) }

// Coefficients returns the weights of step i (see the Coefficients type).
func (s *Solver) Coefficients(i int) (Coefficients, error) {
	if i < 0 || i >= len(s.coeffs) {
		return Coefficients{}, fmt.Errorf("scheduler: step %d out of range [0, %d)", i, len(s.coeffs))
	}
	return s.coeffs[i], nil
}

// Step takes step i: given the model output v at the sample x (fed timestep
// Timesteps()[i]), it overwrites x with the sample for step i+1, or with the
// final latent after the last step. Steps must be taken in order 0, 1, …,
// N−1; step 0 starts a new generation and allocates the history for len(x)
// floats if needed, and later steps allocate nothing.
//
// The official schedulers find the first step's index by looking its timestep
// up (taking the second match when it repeats); taking i directly agrees with
// them whenever the integer timesteps are distinct, as in every official
// setting. Very long schedules (hundreds of steps) can repeat timesteps.
func (s *Solver) Step(v []float32, i int, x []float32) error {
	n := len(s.coeffs)
	switch {
	case i < 0 || i >= n:
		return fmt.Errorf("scheduler: step %d out of range [0, %d)", i, n)
	case i != 0 && i != s.next:
		return fmt.Errorf("scheduler: step %d out of order: the next step is %d (or 0 to start again)", i, s.next)
	case len(x) == 0:
		return fmt.Errorf("scheduler: step %d: empty latent", i)
	case len(v) != len(x):
		return fmt.Errorf("scheduler: step %d: model output has %d values, latent %d", i, len(v), len(x))
	}
	if i == 0 {
		s.reset(len(x))
	} else if s.kind != Euler && len(x) != len(s.m1) {
		return fmt.Errorf("scheduler: step %d: latent has %d values, %d at step 0", i, len(x), len(s.m1))
	}
	c := &s.coeffs[i]
	if s.kind == Euler {
		applyEuler(c, x, v)
	} else {
		s.applyMultistep(c, x, v)
	}
	s.next = i + 1
	return nil
}

// reset sizes and clears the history for a new generation on n floats.
func (s *Solver) reset(n int) {
	s.next = 0
	if s.kind == Euler {
		return
	}
	if len(s.m1) != n {
		s.m1, s.m2 = make([]float32, n), make([]float32, n)
		if s.kind == UniPC {
			s.xPrev = make([]float32, n)
		}
		return
	}
	// Zero weights multiply the history at step 0; stale non-finite values
	// from an earlier generation must not leak through 0·Inf.
	clear(s.m1)
	clear(s.m2)
	clear(s.xPrev)
}

// applyMultistep applies c to x in place for UniPC and DPM++, and moves the
// history on (xPrev = xc, m2 = m1, m1 = m).
func (s *Solver) applyMultistep(c *Coefficients, x, v []float32) {
	n := len(x)
	v, m1, m2 := v[:n], s.m1[:n], s.m2[:n]
	var xp []float32
	if s.xPrev != nil {
		xp = s.xPrev[:n]
		if !c.Correct {
			copy(xp, x) // xc = x
		}
	}
	for j := range x {
		xj, vj, p1 := x[j], v[j], m1[j]
		m := xj - float32(c.Sigma*vj)
		xc := xj
		if c.Correct {
			xc = float32(c.CXPrev*xp[j]) + float32(c.CM*m) + float32(c.CM1*p1) + float32(c.CM2*m2[j])
			xp[j] = xc
		}
		x[j] = float32(c.PX*xc) + float32(c.PV*vj) + float32(c.PM*m) + float32(c.PM1*p1)
		m2[j] = m // the new m1, once the buffers swap below
	}
	s.m1, s.m2 = s.m2, s.m1
}

// applyEuler applies c to x in place. Euler keeps no history and its only
// non-zero weights are PX and PV, so m is not formed.
func applyEuler(c *Coefficients, x, v []float32) {
	v = v[:len(x)]
	for j := range x {
		x[j] = float32(c.PX*x[j]) + float32(c.PV*v[j])
	}
}
