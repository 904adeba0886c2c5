package scheduler

import (
	"fmt"
	"math"
)

// Coefficients are the float32 weights of one solver step. With x the sample
// passed to the step, v the model output at x, and the solver's history —
// xPrev, the (corrected) sample the previous step predicted from, and m1, m2,
// the x0-predictions of the previous two steps — a step computes
//
//	m   = x − Sigma·v                                    x0-prediction
//	xc  = x                                              when !Correct
//	xc  = CXPrev·xPrev + CM·m + CM1·m1 + CM2·m2          when Correct (UniC)
//	out = PX·xc + PV·v + PM·m + PM1·m1                   the next sample
//
// and then moves its history on: xPrev = xc, m2 = m1, m1 = m. Each product is
// rounded to float32 before it is added and the sums run left to right; a
// kernel may fuse multiply-adds (the difference is an ulp or so).
//
// UniPC uses every term; DPM++ has no corrector and no PV; Euler has only PX
// and PV and keeps no history.
type Coefficients struct {
	// Sigma is σ_i, the noise level of the sample the step is given.
	Sigma float32
	// Correct says whether the UniC corrector runs (UniPC, steps ≥ 1).
	Correct bool
	// Corrector weights of xPrev, m, m1 and m2.
	CXPrev, CM, CM1, CM2 float32
	// Predictor weights of xc, v, m and m1.
	PX, PV, PM, PM1 float32
	// PredictorOrder is the order of the update to the next sample (1 or 2);
	// CorrectorOrder that of the corrector (0 when it does not run).
	PredictorOrder, CorrectorOrder int
}

// finite reports whether every weight is a finite number.
func (c *Coefficients) finite() bool {
	for _, w := range [...]float32{c.Sigma, c.CXPrev, c.CM, c.CM1, c.CM2, c.PX, c.PV, c.PM, c.PM1} {
		if math.IsNaN(float64(w)) || math.IsInf(float64(w), 0) {
			return false
		}
	}
	return true
}

// log32 is a float32 natural logarithm (correctly rounded but for double
// rounding); log32(0) = −Inf.
func log32(x float32) float32 { return float32(math.Log(float64(x))) }

// lambda32 is the half log-SNR of a flow sigma, ln(1−σ) − ln σ, in float32
// like the official 0-d tensors: −Inf at σ = 1 and +Inf at σ = 0.
func lambda32(sigma float32) float32 {
	alpha := 1 - sigma
	return log32(alpha) - log32(sigma)
}

// solve2 solves [[1, 1], [r, 1]]·ρ = b in float32 the way LAPACK's getrf/getrs
// do for a 2×2 system: LU with partial pivoting (the first row unless |r| > 1).
func solve2(r, b1, b2 float32) (rho0, rho1 float32) {
	if abs32(r) > 1 {
		// Rows swapped: [[r, 1], [1, 1]]·ρ = [b2, b1].
		l := 1 * (1 / r)
		u22 := 1 - float32(l*1)
		y2 := b1 - float32(l*b2)
		rho1 = y2 / u22
		rho0 = (b2 - float32(1*rho1)) / r
		return rho0, rho1
	}
	l := r
	u22 := 1 - float32(l*1)
	y2 := b2 - float32(l*b1)
	rho1 = y2 / u22
	rho0 = b1 - float32(1*rho1)
	return rho0, rho1
}

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }

// unipcOrder is the order of the UniPC predictor at step i of n: 1 at the
// first step (warm-up) and at the last (lower_order_final), 2 otherwise.
func unipcOrder(i, n int) int {
	return min(2, n-i, i+1)
}

// unipcCoefficients computes step i of FlowUniPC bh2 (spec §4.2) from the
// float32 sigmas (len n+1).
func unipcCoefficients(sig []float32, i int) Coefficients {
	n := len(sig) - 1
	c := Coefficients{Sigma: sig[i], PredictorOrder: unipcOrder(i, n)}
	lam := func(k int) float32 { return lambda32(sig[k]) }

	// Corrector (UniC) of the sample this step was given, from step i−1.
	if i > 0 {
		p := unipcOrder(i-1, n)
		c.Correct, c.CorrectorOrder = true, p
		alpha := 1 - sig[i]
		h := lam(i) - lam(i-1)
		hh := -h
		phi1 := float32(math.Expm1(float64(hh)))
		bh := phi1 // bh2: B(h) = expm1(−h)
		k1 := phi1/hh - 1
		b1 := float32(k1*1) / bh
		rhoD, rhoT := float32(0), float32(0.5) // weights of D = (m2 − m1)/r and of (m − m1)
		var r float32
		if p == 2 {
			k2 := k1/hh - 0.5
			b2 := float32(k2*2) / bh
			r = (lam(i-2) - lam(i-1)) / h
			rhoD, rhoT = solve2(r, b1, b2)
		}
		aPhi := float64(float32(alpha * phi1))
		aB := float64(float32(alpha * bh))
		// xc = ratio·xPrev − aPhi·m1 − aB·(rhoD·(m2 − m1)/r + rhoT·(m − m1))
		var dW float64 // weight of (m2 − m1)
		if p == 2 {
			dW = aB * float64(rhoD) / float64(r)
		}
		c.CXPrev = sig[i] / sig[i-1]
		c.CM = float32(-aB * float64(rhoT))
		c.CM1 = float32(-aPhi + dW + aB*float64(rhoT))
		c.CM2 = float32(-dW)
	}

	// Predictor (UniP) from xc to the next sample.
	alphaT := 1 - sig[i+1]
	h := lam(i+1) - lam(i)
	hh := -h
	phi1 := float32(math.Expm1(float64(hh)))
	bh := phi1
	c.PX = sig[i+1] / sig[i]
	aPhi := float64(float32(alphaT * phi1))
	if c.PredictorOrder == 1 {
		c.PM = float32(-aPhi)
		return c
	}
	// out = ratio·xc − aPhi·m − aB·0.5·(m1 − m)/r
	r := (lam(i-1) - lam(i)) / h
	dW := float64(float32(alphaT*bh)) * 0.5 / float64(r)
	c.PM = float32(-aPhi + dW)
	c.PM1 = float32(-dW)
	return c
}

// dpmCoefficients computes step i of Flow DPM++ 2M, midpoint (spec §4.3):
// first order at the first and the last step, second order otherwise.
func dpmCoefficients(sig []float32, i int) Coefficients {
	n := len(sig) - 1
	c := Coefficients{Sigma: sig[i], PredictorOrder: 2}
	if i == 0 || i == n-1 {
		c.PredictorOrder = 1
	}
	alphaT := 1 - sig[i+1]
	lamT, lamS0 := lambda32(sig[i+1]), lambda32(sig[i])
	h := lamT - lamS0
	em1 := float32(math.Exp(float64(-h))) - 1.0
	cm := float64(float32(alphaT * em1))
	c.PX = sig[i+1] / sig[i]
	if c.PredictorOrder == 1 {
		// out = ratio·x − cm·m
		c.PM = float32(-cm)
		return c
	}
	// out = ratio·x − cm·m − 0.5·cm·(1/r0)·(m − m1)
	r0 := (lamS0 - lambda32(sig[i-1])) / h
	inv := float64(1 / r0)
	dW := float64(float32(0.5*float32(cm))) * inv
	c.PM = float32(-cm - dW)
	c.PM1 = float32(dW)
	return c
}

// eulerCoefficients computes step i of flow Euler: x + (σ_{i+1} − σ_i)·v.
func eulerCoefficients(sig []float32, i int) Coefficients {
	return Coefficients{Sigma: sig[i], PX: 1, PV: sig[i+1] - sig[i], PredictorOrder: 1}
}

// checkCoefficients reports a step whose weights are not finite.
func checkCoefficients(kind Kind, sig []float32, i int, c *Coefficients) error {
	if c.finite() {
		return nil
	}
	return fmt.Errorf("scheduler: %w: %s step %d (sigma %v → %v) has non-finite coefficients %+v",
		ErrDegenerateSchedule, kind, i, sig[i], sig[i+1], *c)
}
