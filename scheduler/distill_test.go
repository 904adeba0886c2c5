package scheduler

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// distillSigma64 is the distilled schedule's sigma for timestep t, in float64
// straight from the formula: σ = 1 − (1000 − t)/1000 = t/1000, shifted.
func distillSigma64(t int, shift float64) float64 {
	s := float64(t) / 1000
	return shift * s / (1 + (shift-1)*s)
}

func TestDistilledSigmas(t *testing.T) {
	for _, c := range []struct {
		list  []int
		shift float64
	}{
		{DefaultDistillTimesteps, 5},
		{DefaultDistillTimesteps, 1},
		{[]int{1000, 937, 833, 625, 400, 200, 50, 1}, 5},
		{[]int{999, 500}, 12},
		{[]int{1000, 750, 500, 250}, 3},
	} {
		d, err := NewDistilled(c.list, c.shift)
		require.NoError(t, err)
		require.Equal(t, len(c.list), d.Steps())
		sig, ts := d.Sigmas(), d.Timesteps()
		require.Len(t, sig, len(c.list)+1)
		require.Len(t, ts, len(c.list))
		require.Zero(t, sig[len(c.list)])
		for i, step := range c.list {
			want := distillSigma64(step, c.shift)
			// The float32 evaluation is within a few ulp of the exact value.
			assert.InDelta(t, want, float64(sig[i]), 4e-7*want, "σ at %d of %v, shift %v", step, c.list, c.shift)
			assert.InDelta(t, want*1000, ts[i], 1e-3, "timestep at %d", step)
			// The timestep is the float32 σ·1000, not an integer.
			assert.Equal(t, float64(float32(sig[i]*1000)), ts[i])
		}
	}
	// The values people quote for the 4-step LoRAs at shift 5.
	d, err := NewDistilled(DefaultDistillTimesteps, 5)
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 0.9375, float32(5.0 / 6), 0.625, 0}, d.Sigmas())
	ts := d.Timesteps()
	assert.Equal(t, 1000.0, ts[0])
	assert.Equal(t, 937.5, ts[1])
	assert.InDelta(t, 833.333, ts[2], 1e-3)
	assert.Equal(t, 625.0, ts[3])
	assert.Equal(t, DefaultDistillTimesteps, d.List())
}

// TestDistilledStepRule checks x ← x − σ_i·v + σ_{i+1}·v (σ_N = 0) against
// float64, and that on a straight flow (v = ε − x0 everywhere) the steps land
// on x0: x_σ = (1 − σ)·x0 + σ·ε at every sigma of the list.
func TestDistilledStepRule(t *testing.T) {
	d, err := NewDistilled([]int{1000, 750, 500, 250}, 5)
	require.NoError(t, err)
	sig := d.Sigmas()
	r := rand.New(rand.NewPCG(1, 2))
	n := 257
	for i := range d.Steps() {
		x, v := randLatent(r, n), randLatent(r, n)
		want := make([]float64, n)
		for j := range x {
			want[j] = float64(x[j]) - float64(sig[i])*float64(v[j]) + float64(sig[i+1])*float64(v[j])
		}
		require.NoError(t, d.Step(v, i, x))
		for j := range x {
			require.InDelta(t, want[j], float64(x[j]), 1e-5*(1+math.Abs(want[j])), "step %d value %d", i, j)
		}
	}
	// The last step returns the x0-prediction x − σ·v exactly (one float32 product).
	x, v := randLatent(r, n), randLatent(r, n)
	last := make([]float32, n)
	for j := range x {
		last[j] = x[j] - float32(sig[3]*v[j])
	}
	require.NoError(t, d.Step(v, 3, x))
	require.Equal(t, last, x)

	eps, x0 := randLatent(r, n), randLatent(r, n)
	vel := make([]float32, n)
	for j := range vel {
		vel[j] = eps[j] - x0[j]
	}
	x = append([]float32(nil), eps...) // σ_0 = 1: pure noise
	for i := range d.Steps() {
		require.NoError(t, d.Step(vel, i, x))
		s := float64(sig[i+1])
		for j := range x {
			want := (1-s)*float64(x0[j]) + s*float64(eps[j])
			require.InDelta(t, want, float64(x[j]), 2e-6*(1+math.Abs(want)), "after step %d", i)
		}
	}
}

func TestDistilledErrors(t *testing.T) {
	for name, c := range map[string]struct {
		list  []int
		shift float64
		want  string
	}{
		"empty":      {nil, 5, "needs a list of timesteps, e.g. 1000,750,500,250"},
		"zero":       {[]int{1000, 0}, 5, "timestep 0 is out of range"},
		"over":       {[]int{1001}, 5, "timestep 1001 is out of range"},
		"increasing": {[]int{500, 750}, 5, "strictly decrease, got 750 after 500"},
		"repeated":   {[]int{750, 750}, 5, "strictly decrease"},
		"shift":      {[]int{1000}, 0, "shift must be"},
		"shift NaN":  {[]int{1000}, math.NaN(), "shift must be"},
		"degenerate": {[]int{2, 1}, 1e-44, "degenerate"},
	} {
		_, err := NewDistilled(c.list, c.shift)
		require.ErrorContains(t, err, c.want, name)
	}

	d, err := NewDistilled(DefaultDistillTimesteps, 5)
	require.NoError(t, err)
	x := make([]float32, 4)
	require.ErrorContains(t, d.Step(x, 4, x), "out of range")
	require.ErrorContains(t, d.Step(x, -1, x), "out of range")
	require.ErrorContains(t, d.Step(make([]float32, 3), 0, x), "model output has 3 values, latent 4")
	require.ErrorContains(t, d.Step(nil, 0, nil), "empty latent")
}

func TestParseTimesteps(t *testing.T) {
	l, err := ParseTimesteps("1000, 750,500,250")
	require.NoError(t, err)
	require.Equal(t, []int{1000, 750, 500, 250}, l)
	require.Equal(t, "1000,750,500,250", FormatTimesteps(l))
	for s, want := range map[string]string{
		"":             `"" is not an integer`,
		"1000,,500":    `"" is not an integer`,
		"1000;750":     `"1000;750" is not an integer`,
		"1000,7.5":     `"7.5" is not an integer`,
		"250,500":      "strictly decrease",
		"1000,750,0":   "out of range",
		"1000,750,-10": "out of range",
	} {
		_, err := ParseTimesteps(s)
		require.ErrorContains(t, err, want, s)
	}
}
