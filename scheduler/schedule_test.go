package scheduler

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The 40-step I2V schedule of spec §4.1 (shift 5).
var (
	specI2VTimesteps = []int64{999, 994, 989, 983, 978, 972, 965, 959, 952, 944, 937, 929, 920, 911, 902,
		892, 882, 870, 859, 846, 833, 818, 803, 786, 768, 749, 728, 706, 681, 654,
		624, 591, 555, 514, 468, 416, 356, 288, 208, 113}
	specI2VSigmas = []float32{0.99979985, 0.99469477, 0.98937702, 0.98383301, 0.97804803, 0.97200602, 0.96568942,
		0.95907909, 0.95215404, 0.94489127, 0.93726546, 0.92924869, 0.9208101, 0.91191548, 0.90252686,
		0.89260185, 0.88209325, 0.87094796, 0.85910624, 0.84650087, 0.83305538, 0.81868291, 0.80328429,
		0.78674537, 0.76893473, 0.74969983, 0.7288627, 0.70621437, 0.68150812, 0.65444994, 0.62468737,
		0.59179348, 0.55524677, 0.51440299, 0.46845692, 0.41638881, 0.3568877, 0.2882396, 0.2081597,
		0.11353305, 0.0}
	// The 40-step T2V timesteps (shift 12).
	specT2VTimesteps = []int64{999, 997, 995, 993, 990, 988, 985, 982, 979, 976, 972, 969, 965, 961, 956, 952,
		947, 941, 936, 929, 922, 915, 907, 898, 888, 877, 865, 852, 837, 819, 799, 776, 749, 717, 678, 631,
		571, 492, 386, 235}
)

func TestUniPCScheduleMatchesSpec(t *testing.T) {
	s, err := UniPCSchedule(40, 5)
	require.NoError(t, err)
	assert.Equal(t, specI2VTimesteps, s.Timesteps)
	assert.Equal(t, specI2VSigmas, s.Sigmas) // the spec prints the float32 values in full

	s, err = UniPCSchedule(40, 12)
	require.NoError(t, err)
	assert.Equal(t, specT2VTimesteps, s.Timesteps)
}

func TestUniPCScheduleStart(t *testing.T) {
	// shift 1 leaves linspace(σ_max, 0) as it is: σ_0 = float32(0.999), t_0 = 999.
	s, err := UniPCSchedule(10, 1)
	require.NoError(t, err)
	assert.Equal(t, float32(0.999), s.Sigmas[0])
	assert.Equal(t, int64(999), s.Timesteps[0])
	assert.Equal(t, 0.9990000128746033, UniPCSigmaMax)
	for k := 1; k < 10; k++ {
		want := UniPCSigmaMax * float64(10-k) / 10
		assert.InDelta(t, want, float64(s.Sigmas[k]), 1e-7, "sigma %d", k)
		assert.Equal(t, int64(want*1000+1e-9), s.Timesteps[k], "timestep %d", k)
	}
}

func TestDPMScheduleStartsAtOne(t *testing.T) {
	for _, shift := range []float64{1, 3, 5, 12} {
		s, err := DPMSchedule(20, shift)
		require.NoError(t, err)
		assert.Equal(t, float32(1), s.Sigmas[0])
		assert.Equal(t, int64(1000), s.Timesteps[0])
		assert.Equal(t, float32(0), s.Sigmas[20])
	}
	// shift 3 maps 0.75 to exactly 0.9 in float64: the timestep is 900, not 899.
	s, err := DPMSchedule(20, 3)
	require.NoError(t, err)
	assert.Equal(t, int64(900), s.Timesteps[5])
	assert.Equal(t, float32(0.9), s.Sigmas[5])
}

func TestShiftSigma(t *testing.T) {
	for _, shift := range []float64{0.5, 1, 3, 5, 12} {
		assert.Equal(t, 0.0, ShiftSigma(0, shift))
		assert.Equal(t, 1.0, ShiftSigma(1, shift))
		prev := 0.0
		for k := 1; k <= 100; k++ {
			s := float64(k) / 100
			got := ShiftSigma(s, shift)
			assert.InDelta(t, shift*s/(1+(shift-1)*s), got, 1e-15)
			assert.Greater(t, got, prev)
			prev = got
			if shift > 1 && k < 100 {
				assert.Greater(t, got, s, "shift > 1 raises sigmas")
			}
		}
	}
	assert.Equal(t, 0.5, ShiftSigma(0.5, 1))
	assert.InDelta(t, 0.9, ShiftSigma(0.75, 3), 1e-16)
}

func TestScheduleInvalidArguments(t *testing.T) {
	for _, build := range []func(int, float64) (Schedule, error){UniPCSchedule, DPMSchedule} {
		for _, c := range []struct {
			steps int
			shift float64
			msg   string
		}{
			{0, 5, "steps must be in [1, 10000], got 0"},
			{-3, 5, "got -3"},
			{MaxSteps + 1, 5, "got 10001"},
			{40, 0, "shift must be a finite number > 0, got 0"},
			{40, -1, "got -1"},
			{40, math.NaN(), "got NaN"},
			{40, math.Inf(1), "got +Inf"},
		} {
			_, err := build(c.steps, c.shift)
			require.Error(t, err, "steps %d shift %v", c.steps, c.shift)
			assert.Contains(t, err.Error(), c.msg)
			assert.NotErrorIs(t, err, ErrDegenerateSchedule)
		}
	}
}

func TestScheduleDegenerate(t *testing.T) {
	// A huge shift pushes every sigma to 1 in float32; a tiny one to 0.
	for _, shift := range []float64{1e12, 1e-60} {
		for _, build := range []func(int, float64) (Schedule, error){UniPCSchedule, DPMSchedule} {
			_, err := build(50, shift)
			require.ErrorIs(t, err, ErrDegenerateSchedule, "shift %v", shift)
			assert.Contains(t, err.Error(), "not strictly decreasing")
		}
	}
}

// Step counts 4..80 at the I2V (shift 5, boundary 0.9) and T2V (shift 12,
// boundary 0.875) settings: how many steps run the high-noise expert,
// computed independently in Python from the spec's formulas.
var (
	highStepsI2V = []int{2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 7, 7, 7, 8, 8, 8, 9, 9, 9, 10, 10, 10, 11, 11, 12, 12, 12,
		13, 13, 13, 14, 14, 14, 15, 15, 15, 16, 16, 17, 17, 17, 18, 18, 18, 19, 19, 19, 20, 20, 20, 21, 21, 22, 22, 22,
		23, 23, 23, 24, 24, 24, 25, 25, 25, 26, 26, 27, 27, 27, 28, 28, 28, 29, 29}
	highStepsT2V = []int{3, 4, 4, 5, 6, 6, 7, 7, 8, 9, 9, 10, 11, 11, 12, 12, 13, 14, 14, 15, 16, 16, 17, 18, 18, 19, 19,
		20, 21, 21, 22, 23, 23, 24, 24, 25, 26, 26, 27, 28, 28, 29, 30, 30, 31, 31, 32, 33, 33, 34, 35, 35, 36, 36, 37,
		38, 38, 39, 40, 40, 41, 42, 42, 43, 43, 44, 45, 45, 46, 47, 47, 48, 48, 49, 50, 50, 51}
)

func TestExpertSplit40Steps(t *testing.T) {
	s, err := New("unipc", 40, 5)
	require.NoError(t, err)
	ts := s.Timesteps()
	g := I2VGuidance()
	require.Equal(t, 15, g.HighNoiseSteps(ts))
	assert.Equal(t, int64(902), ts[14])
	assert.Equal(t, int64(892), ts[15])
	for i, t0 := range ts {
		want := LowNoise
		if i < 15 {
			want = HighNoise
		}
		assert.Equal(t, want, g.Expert(t0), "step %d (t=%d)", i, t0)
	}

	s, err = New("unipc", 40, 12)
	require.NoError(t, err)
	require.Equal(t, 26, T2VGuidance().HighNoiseSteps(s.Timesteps()))
}

func TestExpertSplitStepCounts(t *testing.T) {
	for _, c := range []struct {
		name  string
		shift float64
		g     Guidance
		want  []int
	}{
		{"i2v", 5, I2VGuidance(), highStepsI2V},
		{"t2v", 12, T2VGuidance(), highStepsT2V},
	} {
		for steps := 4; steps <= 80; steps++ {
			s, err := UniPCSchedule(steps, c.shift)
			require.NoError(t, err)
			high := c.g.HighNoiseSteps(s.Timesteps)
			assert.Equal(t, c.want[steps-4], high, "%s, %d steps", c.name, steps)

			// The experts swap exactly once: a high-noise prefix, then low noise.
			for i, ts := range s.Timesteps {
				assert.Equal(t, i < high, c.g.Expert(ts) == HighNoise, "%s, %d steps, step %d", c.name, steps, i)
			}
			// Cross-check in closed form: t_k ≥ B·1000 ⇔ s_k ≥ s*, with s* the
			// unshifted sigma of the boundary, and s_k = σ_max·(1 − k/steps).
			sStar := c.g.Boundary / (c.shift - (c.shift-1)*c.g.Boundary)
			kMax := float64(steps) * (1 - sStar/UniPCSigmaMax)
			if math.Abs(kMax-math.Round(kMax)) > 1e-6 {
				assert.Equal(t, int(math.Floor(kMax))+1, high, "%s, %d steps (closed form)", c.name, steps)
			}
		}
	}
}
