package scheduler

import (
	"github.com/wan22/wan22/internal/golden"

	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func randLatent(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// stagedRef is a test-only solver written straight from spec §4.2/§4.3: the
// official sequence of tensor operations, each rounded to float32, with the
// same float32 scalars. The Solver flattens these stages into Coefficients;
// this checks the flattening, the orders and the history.
type stagedRef struct {
	kind       Kind
	sig        []float32
	ms         [][]float32 // x0-predictions, newest last
	lastSample []float32
	lowerOrder int // lower_order_nums
	thisOrder  int
}

func (r *stagedRef) lam(k int) float32 { return lambda32(r.sig[k]) }

// axpby returns a·x − b·y elementwise in float32 (y may be nil for a·x).
func axpby(a float32, x []float32, b float32, y []float32) []float32 {
	out := make([]float32, len(x))
	for j := range x {
		out[j] = float32(a * x[j])
		if y != nil {
			out[j] -= float32(b * y[j])
		}
	}
	return out
}

func (r *stagedRef) step(v []float32, i int, x []float32) []float32 {
	n := len(r.sig) - 1
	m := make([]float32, len(x))
	for j := range x {
		m[j] = x[j] - float32(r.sig[i]*v[j])
	}
	switch r.kind {
	case Euler:
		return axpby(1, x, -(r.sig[i+1] - r.sig[i]), v)
	case DPMPP:
		r.ms = append(r.ms, m)
		h := r.lam(i+1) - r.lam(i)
		em1 := float32(math.Exp(float64(-h))) - 1.0
		cm := (1 - r.sig[i+1]) * em1
		out := axpby(r.sig[i+1]/r.sig[i], x, cm, m)
		if i > 0 && i < n-1 {
			r0 := (r.lam(i) - r.lam(i-1)) / h
			inv := 1 / r0
			half := 0.5 * cm
			m1 := r.ms[len(r.ms)-2]
			for j := range out {
				d1 := float32(inv * (m[j] - m1[j]))
				out[j] -= float32(half * d1)
			}
		}
		return out
	}
	// UniPC.
	if i > 0 {
		x = r.uniC(m, i, r.thisOrder)
	}
	r.ms = append(r.ms, m)
	r.thisOrder = min(2, n-i, r.lowerOrder+1)
	r.lastSample = x
	out := r.uniP(x, i, r.thisOrder)
	r.lowerOrder = min(r.lowerOrder+1, 2)
	return out
}

func (r *stagedRef) uniP(x []float32, i, order int) []float32 {
	m0 := r.ms[len(r.ms)-1]
	alpha := 1 - r.sig[i+1]
	h := r.lam(i+1) - r.lam(i)
	hh := -h
	phi1 := float32(math.Expm1(float64(hh)))
	out := axpby(r.sig[i+1]/r.sig[i], x, alpha*phi1, m0)
	if order == 2 {
		rk := (r.lam(i-1) - r.lam(i)) / h
		mi := r.ms[len(r.ms)-2]
		aB := alpha * phi1
		for j := range out {
			d := (mi[j] - m0[j]) / rk
			out[j] -= float32(aB * float32(0.5*d))
		}
	}
	return out
}

// uniC corrects the sample of step i from the previous one (r.lastSample);
// mt is the x0-prediction of the uncorrected sample.
func (r *stagedRef) uniC(mt []float32, i, order int) []float32 {
	m0 := r.ms[len(r.ms)-1]
	alpha := 1 - r.sig[i]
	h := r.lam(i) - r.lam(i-1)
	hh := -h
	phi1 := float32(math.Expm1(float64(hh)))
	k1 := phi1/hh - 1
	b1 := k1 / phi1
	rho0, rho1 := float32(0), float32(0.5)
	var rk float32
	if order == 2 {
		k2 := k1/hh - 0.5
		b2 := (k2 * 2) / phi1
		rk = (r.lam(i-2) - r.lam(i-1)) / h
		rho0, rho1 = solve2(rk, b1, b2)
	}
	out := axpby(r.sig[i]/r.sig[i-1], r.lastSample, alpha*phi1, m0)
	aB := alpha * phi1
	for j := range out {
		corr := float32(0)
		if order == 2 {
			mi := r.ms[len(r.ms)-2]
			corr = float32(rho0 * ((mi[j] - m0[j]) / rk))
		}
		out[j] -= float32(aB * (corr + float32(rho1*(mt[j]-m0[j]))))
	}
	return out
}

func TestSolverMatchesStagedReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	const size = 97
	worst := map[Kind]float64{}
	defer func() { t.Logf("worst %v", worst) }()
	for _, kind := range Kinds {
		for _, steps := range []int{1, 2, 3, 4, 5, 8, 13, 40, 100} {
			for _, shift := range []float64{0.5, 1, 3, 5, 12} {
				s, err := New(string(kind), steps, shift)
				require.NoError(t, err)
				ref := &stagedRef{kind: kind, sig: s.Sigmas()}
				x := randLatent(rng, size)
				xr := append([]float32(nil), x...)
				for i := range steps {
					v := randLatent(rng, size)
					require.NoError(t, s.Step(v, i, x))
					xr = ref.step(v, i, xr)
					e := golden.RelL2(x, xr)
					require.LessOrEqual(t, e, 1e-6, "%s, %d steps, shift %v, step %d", kind, steps, shift, i)
					if e > worst[kind] {
						worst[kind] = e
					}
				}
			}
		}
	}
}

// On a straight flow x_σ = (1−σ)·x0 + σ·n with the exact velocity v = n − x0,
// every x0-prediction is x0, so all solvers must land on the path at every
// step and end at x0.
func TestSolversFollowStraightFlow(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	const size = 64
	x0, noise := randLatent(rng, size), randLatent(rng, size)
	v := make([]float32, size)
	for j := range v {
		v[j] = noise[j] - x0[j]
	}
	for _, kind := range Kinds {
		for _, steps := range []int{1, 2, 3, 7, 40} {
			s, err := New(string(kind), steps, 5)
			require.NoError(t, err)
			sig := s.Sigmas()
			x := make([]float32, size)
			for j := range x {
				x[j] = float32((1-float64(sig[0]))*float64(x0[j]) + float64(sig[0])*float64(noise[j]))
			}
			for i := range steps {
				require.NoError(t, s.Step(v, i, x))
				on := make([]float32, size)
				for j := range on {
					on[j] = float32((1-float64(sig[i+1]))*float64(x0[j]) + float64(sig[i+1])*float64(noise[j]))
				}
				assert.LessOrEqual(t, golden.RelL2(x, on), 2e-6, "%s, %d steps, step %d", kind, steps, i)
			}
			assert.LessOrEqual(t, golden.RelL2(x, x0), 2e-6, "%s, %d steps: final latent", kind, steps)
		}
	}
}

func TestSolverOrders(t *testing.T) {
	orders := func(kind Kind, steps int) (pred, corr []int) {
		s, err := New(string(kind), steps, 5)
		require.NoError(t, err)
		for i := range steps {
			c, err := s.Coefficients(i)
			require.NoError(t, err)
			pred = append(pred, c.PredictorOrder)
			corr = append(corr, c.CorrectorOrder)
			assert.Equal(t, c.CorrectorOrder > 0, c.Correct)
			assert.Equal(t, s.Sigmas()[i], c.Sigma)
		}
		return pred, corr
	}
	p, c := orders(UniPC, 6)
	assert.Equal(t, []int{1, 2, 2, 2, 2, 1}, p)
	assert.Equal(t, []int{0, 1, 2, 2, 2, 2}, c)
	p, c = orders(UniPC, 2)
	assert.Equal(t, []int{1, 1}, p)
	assert.Equal(t, []int{0, 1}, c)
	p, c = orders(UniPC, 1)
	assert.Equal(t, []int{1}, p)
	assert.Equal(t, []int{0}, c)
	p, c = orders(DPMPP, 5)
	assert.Equal(t, []int{1, 2, 2, 2, 1}, p)
	assert.Equal(t, []int{0, 0, 0, 0, 0}, c)
	p, _ = orders(Euler, 3)
	assert.Equal(t, []int{1, 1, 1}, p)
}

func TestLastStepIsX0Prediction(t *testing.T) {
	for _, kind := range []Kind{UniPC, DPMPP} {
		s, err := New(string(kind), 10, 5)
		require.NoError(t, err)
		c, err := s.Coefficients(9)
		require.NoError(t, err)
		assert.Equal(t, Coefficients{Sigma: c.Sigma, Correct: c.Correct, CXPrev: c.CXPrev, CM: c.CM, CM1: c.CM1, CM2: c.CM2,
			PX: 0, PM: 1, PredictorOrder: 1, CorrectorOrder: c.CorrectorOrder}, c, "%s", kind)
	}
	s, err := New("euler", 10, 5)
	require.NoError(t, err)
	c, err := s.Coefficients(9)
	require.NoError(t, err)
	assert.Equal(t, float32(1), c.PX)
	assert.Equal(t, -c.Sigma, c.PV) // x − σ·v
}

func TestNewErrors(t *testing.T) {
	_, err := New("ddim", 40, 5)
	require.EqualError(t, err, `scheduler: unknown solver "ddim" (want one of unipc, dpm++, euler)`)
	_, err = New("unipc", 0, 5)
	require.ErrorContains(t, err, "steps must be in [1, 10000], got 0")
	_, err = New("dpm++", 40, -2)
	require.ErrorContains(t, err, "shift must be a finite number > 0, got -2")
	_, err = New("euler", 40, 1e13)
	require.ErrorIs(t, err, ErrDegenerateSchedule)

	s, err := New("unipc", 40, 5)
	require.NoError(t, err)
	assert.Equal(t, UniPC, s.Kind())
	assert.Equal(t, 40, s.Steps())
	assert.Equal(t, 5.0, s.Shift())
	_, err = s.Coefficients(40)
	require.EqualError(t, err, "scheduler: step 40 out of range [0, 40)")
	_, err = s.Coefficients(-1)
	require.Error(t, err)

	// The accessors return copies.
	s.Timesteps()[0] = 5
	s.Sigmas()[0] = 5
	assert.Equal(t, int64(999), s.Timesteps()[0])
	assert.Equal(t, float32(0.99979985), s.Sigmas()[0])
}

func TestStepErrors(t *testing.T) {
	s, err := New("unipc", 5, 5)
	require.NoError(t, err)
	x, v := make([]float32, 8), make([]float32, 8)
	require.EqualError(t, s.Step(v, 5, x), "scheduler: step 5 out of range [0, 5)")
	require.EqualError(t, s.Step(v, -1, x), "scheduler: step -1 out of range [0, 5)")
	require.EqualError(t, s.Step(v, 1, x), "scheduler: step 1 out of order: the next step is 0 (or 0 to start again)")
	require.EqualError(t, s.Step(v[:7], 0, x), "scheduler: step 0: model output has 7 values, latent 8")
	require.EqualError(t, s.Step(nil, 0, nil), "scheduler: step 0: empty latent")
	require.NoError(t, s.Step(v, 0, x))
	require.EqualError(t, s.Step(v, 2, x), "scheduler: step 2 out of order: the next step is 1 (or 0 to start again)")
	require.EqualError(t, s.Step(v[:4], 1, x[:4]), "scheduler: step 1: latent has 4 values, 8 at step 0")
	require.NoError(t, s.Step(v, 1, x))
}

func TestRestartResetsHistory(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const size, steps = 33, 6
	x0 := randLatent(rng, size)
	vs := make([][]float32, steps)
	for i := range vs {
		vs[i] = randLatent(rng, size)
	}
	run := func(s *Solver) []float32 {
		x := append([]float32(nil), x0...)
		for i := range steps {
			require.NoError(t, s.Step(vs[i], i, x))
		}
		return x
	}
	for _, kind := range Kinds {
		s, err := New(string(kind), steps, 5)
		require.NoError(t, err)
		first := run(s)
		// A diverged half run leaves non-finite history behind.
		bad := make([]float32, size)
		for j := range bad {
			bad[j] = float32(math.Inf(1))
		}
		x := append([]float32(nil), bad...)
		require.NoError(t, s.Step(bad, 0, x))
		require.NoError(t, s.Step(bad, 1, x))
		require.NoError(t, s.Step(bad, 2, x))
		assert.Equal(t, first, run(s), "%s: a restart at step 0 must reproduce the first run", kind)
	}
}

func TestStepAllocatesOnlyOnFirstStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, kind := range Kinds {
		s, err := New(string(kind), 50, 5)
		require.NoError(t, err)
		x, v := randLatent(rng, 1000), randLatent(rng, 1000)
		require.NoError(t, s.Step(v, 0, x))
		i := 1
		allocs := testing.AllocsPerRun(30, func() {
			if err := s.Step(v, i, x); err != nil {
				t.Fatal(err)
			}
			i++
		})
		assert.Zero(t, allocs, "%s: allocations per step after the first", kind)
		// A second generation on the same latent size reuses the history.
		allocs = testing.AllocsPerRun(5, func() {
			if err := s.Step(v, 0, x); err != nil {
				t.Fatal(err)
			}
		})
		assert.Zero(t, allocs, "%s: allocations of a restart on the same size", kind)
	}
}

// The []float32 path applies exactly the published coefficients.
func TestStepUsesCoefficients(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	const size = 16
	for _, kind := range Kinds {
		s, err := New(string(kind), 7, 3)
		require.NoError(t, err)
		x := randLatent(rng, size)
		var xPrev, m1, m2 [size]float32
		for i := range 7 {
			v := randLatent(rng, size)
			c, err := s.Coefficients(i)
			require.NoError(t, err)
			var want, xc, m [size]float32
			for j := range size {
				m[j] = x[j] - float32(c.Sigma*v[j])
				xc[j] = x[j]
				if c.Correct {
					xc[j] = float32(c.CXPrev*xPrev[j]) + float32(c.CM*m[j]) + float32(c.CM1*m1[j]) + float32(c.CM2*m2[j])
				}
				want[j] = float32(c.PX*xc[j]) + float32(c.PV*v[j]) + float32(c.PM*m[j]) + float32(c.PM1*m1[j])
			}
			xPrev, m2, m1 = xc, m1, m
			require.NoError(t, s.Step(v, i, x))
			assert.Equal(t, want[:], x, "%s step %d", kind, i)
		}
	}
}
