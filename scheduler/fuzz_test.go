package scheduler

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzSchedule builds every solver over arbitrary step counts and shifts.
// Invalid arguments must give an error; a valid request either fails with
// ErrDegenerateSchedule or yields strictly decreasing float32 sigmas ending at
// 0, timesteps that truncate them, finite samples when stepped with random
// finite model outputs, and a final latent equal to the last x0-prediction.
func FuzzSchedule(f *testing.F) {
	for _, c := range []struct {
		steps int
		shift float64
	}{
		{40, 5}, {20, 3}, {8, 5}, {40, 12}, {4, 5}, {1, 1}, {2, 0.5}, {3, 1e-3}, {200, 50},
		{MaxSteps, 5}, {0, 5}, {-1, 5}, {5, 0}, {5, -1}, {5, math.NaN()}, {5, math.Inf(1)}, {100, 1e6}, {50, 1e-9},
	} {
		f.Add(c.steps, c.shift, uint8(0), uint64(1))
		f.Add(c.steps, c.shift, uint8(1), uint64(2))
		f.Add(c.steps, c.shift, uint8(2), uint64(3))
	}
	f.Fuzz(func(t *testing.T, steps int, shift float64, which uint8, seed uint64) {
		checkSolver(t, Kinds[int(which)%len(Kinds)], steps, shift, seed)
	})
}

// checkSolver asserts the properties FuzzSchedule describes for one solver.
func checkSolver(t *testing.T, kind Kind, steps int, shift float64, seed uint64) {
	t.Helper()
	s, err := New(string(kind), steps, shift)
	if steps < 1 || steps > MaxSteps || !(shift > 0) || math.IsInf(shift, 1) {
		if err == nil || errors.Is(err, ErrDegenerateSchedule) {
			t.Fatalf("%s, %d steps, shift %v: want an argument error, got %v", kind, steps, shift, err)
		}
		return
	}
	if err != nil {
		if !errors.Is(err, ErrDegenerateSchedule) {
			t.Fatalf("%s, %d steps, shift %v: unexpected error %v", kind, steps, shift, err)
		}
		return
	}

	sig, ts := s.Sigmas(), s.Timesteps()
	if len(sig) != steps+1 || len(ts) != steps {
		t.Fatalf("%d steps: %d sigmas, %d timesteps", steps, len(sig), len(ts))
	}
	if sig[steps] != 0 || !(sig[0] <= 1) {
		t.Fatalf("sigmas run from %v to %v, want (..1] to 0", sig[0], sig[steps])
	}
	for i := range steps {
		if !(sig[i] > sig[i+1]) {
			t.Fatalf("sigma %d = %v, sigma %d = %v: not strictly decreasing", i, sig[i], i+1, sig[i+1])
		}
		if i > 0 && ts[i] > ts[i-1] {
			t.Fatalf("timestep %d = %d > timestep %d = %d", i, ts[i], i-1, ts[i-1])
		}
		// ts is trunc(σ64·1000), sig the float32 of σ64.
		if d := float64(sig[i])*NumTrainTimesteps - float64(ts[i]); d < -1e-3 || d > 1+1e-3 {
			t.Fatalf("timestep %d = %d does not truncate sigma %v·1000", i, ts[i], sig[i])
		}
	}

	rng := rand.New(rand.NewPCG(seed, uint64(steps)))
	const size = 5
	x, v, before := make([]float32, size), make([]float32, size), make([]float32, size)
	for j := range x {
		x[j] = float32(rng.NormFloat64())
	}
	for i := range steps {
		for j := range v {
			v[j] = float32(4 * (2*rng.Float64() - 1))
		}
		copy(before, x)
		if err := s.Step(v, i, x); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		for j, xj := range x {
			if math.IsNaN(float64(xj)) || math.IsInf(float64(xj), 0) {
				c, _ := s.Coefficients(i)
				t.Fatalf("%s, %d steps, shift %v: step %d gives x[%d] = %v (coefficients %+v)", kind, steps, shift, i, j, xj, c)
			}
		}
	}
	// Every solver ends on the last x0-prediction x − σ·v.
	for j := range x {
		if want := before[j] - float32(sig[steps-1]*v[j]); x[j] != want {
			t.Fatalf("%s, %d steps, shift %v: final x[%d] = %v, want the x0-prediction %v", kind, steps, shift, j, x[j], want)
		}
	}
}

// The same properties over a grid of practical and extreme settings: none of
// them may be degenerate.
func TestScheduleGridProperties(t *testing.T) {
	for _, kind := range Kinds {
		for _, steps := range []int{1, 2, 3, 4, 7, 10, 20, 40, 50, 80, 100, 250, 1000} {
			for _, shift := range []float64{1e-3, 0.1, 0.5, 1, 2, 3, 5, 8, 12, 17, 50, 1e3} {
				s, err := New(string(kind), steps, shift)
				require.NoError(t, err, "%s, %d steps, shift %v", kind, steps, shift)
				require.Equal(t, steps, s.Steps())
				checkSolver(t, kind, steps, shift, uint64(steps))
			}
		}
	}
}
