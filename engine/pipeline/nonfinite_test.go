package pipeline

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
)

// nanOut is a backend whose reads to the host are all NaN: the stage that
// runs on it makes a non-finite model output.
type nanOut struct{ engine.Backend }

func (b nanOut) ToHost(t engine.Tensor) []float32 {
	d := b.Backend.ToHost(t)
	for i := range d {
		d[i] = float32(math.NaN())
	}
	return d
}

// TestI2VNonFiniteNamesExpertAndStep: a latent that turns NaN is a
// *NonFiniteError naming the expert whose step made it and the step, over
// both experts; it was a plain error naming neither.
func TestI2VNonFiniteNamesExpertAndStep(t *testing.T) {
	m := tinyModels(t)
	for _, c := range []struct {
		stage Stage
		step  int
		msg   string
	}{
		{HighNoise, 1, "at step 1 of 3, in the high-noise expert"},
		{LowNoise, 3, "at step 3 of 3, in the low-noise expert"},
	} {
		b := cpu.New()
		o := baseOptions()
		o.SwitchStep = 2 // high-noise for steps 1 and 2, low-noise for step 3
		o.BackendFor = func(s Stage) engine.Backend {
			if s == c.stage {
				return nanOut{b}
			}
			return b
		}
		var decoded bool
		err := I2V(context.Background(), b, m, testImage(o), o, func([]float32, int) error { decoded = true; return nil })
		var nf *NonFiniteError
		require.True(t, errors.As(err, &nf), "%s: %v, want a *NonFiniteError", c.stage, err)
		require.Equal(t, NonFiniteError{Stage: c.stage, Step: c.step, Steps: 3}, *nf)
		require.ErrorContains(t, err, "the latent became non-finite (NaN or Inf) "+c.msg)
		require.False(t, decoded, "%s: a non-finite latent was decoded", c.stage)
	}
}
