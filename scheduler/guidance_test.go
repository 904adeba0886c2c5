package scheduler

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExpertBoundary(t *testing.T) {
	i2v, t2v := I2VGuidance(), T2VGuidance()
	require.NoError(t, i2v.Validate())
	require.NoError(t, t2v.Validate())
	assert.Equal(t, 900.0, i2v.Threshold())
	assert.Equal(t, 875.0, t2v.Threshold())

	for _, c := range []struct {
		g    Guidance
		t    int64
		want Expert
	}{
		{i2v, 1000, HighNoise}, {i2v, 900, HighNoise}, {i2v, 899, LowNoise}, {i2v, 0, LowNoise},
		{t2v, 876, HighNoise}, {t2v, 875, HighNoise}, {t2v, 874, LowNoise},
		{Guidance{Boundary: 0}, 0, HighNoise}, {Guidance{Boundary: 1}, 999, LowNoise}, {Guidance{Boundary: 1}, 1000, HighNoise},
	} {
		assert.Equal(t, c.want, c.g.Expert(c.t), "boundary %v, t %d", c.g.Boundary, c.t)
	}
	assert.Equal(t, "high-noise", HighNoise.String())
	assert.Equal(t, "low-noise", LowNoise.String())
	assert.Equal(t, "Expert(7)", Expert(7).String())
}

func TestGuidanceScalePerExpert(t *testing.T) {
	g := T2VGuidance() // (low 3.0, high 4.0)
	assert.Equal(t, float32(4), g.Scale(875))
	assert.Equal(t, float32(3), g.Scale(874))
	assert.Equal(t, Pass{Expert: HighNoise, Scale: 4, Uncond: true}, g.At(990))
	assert.Equal(t, Pass{Expert: LowNoise, Scale: 3, Uncond: true}, g.At(100))

	// A distilled low-noise LoRA runs without guidance: no uncond pass there.
	g = Guidance{Boundary: BoundaryI2V, Low: 1, High: 3.5}
	assert.Equal(t, Pass{Expert: HighNoise, Scale: 3.5, Uncond: true}, g.At(950))
	assert.Equal(t, Pass{Expert: LowNoise, Scale: 1, Uncond: false}, g.At(500))
	assert.False(t, NeedsUncond(1))
	assert.True(t, NeedsUncond(1.0001))
	assert.True(t, NeedsUncond(0))
}

func TestGuidanceValidate(t *testing.T) {
	for _, g := range []Guidance{
		{Boundary: -0.1, Low: 1, High: 1},
		{Boundary: 1.5, Low: 1, High: 1},
		{Boundary: math.NaN(), Low: 1, High: 1},
	} {
		require.ErrorContains(t, g.Validate(), "boundary must be in [0, 1]")
	}
	for _, g := range []Guidance{
		{Boundary: 0.9, Low: float32(math.NaN()), High: 1},
		{Boundary: 0.9, Low: 1, High: float32(math.Inf(-1))},
	} {
		require.ErrorContains(t, g.Validate(), "guidance scales must be finite")
	}
}

func TestCFG(t *testing.T) {
	cond := []float32{1, 2, -3, 0.5}
	uncond := []float32{0.5, 2, 1, -0.25}
	dst := make([]float32, 4)
	require.NoError(t, CFG(dst, cond, uncond, 3.5))
	for i := range dst {
		want := uncond[i] + float32(3.5*(cond[i]-uncond[i]))
		assert.Equal(t, want, dst[i])
		assert.InDelta(t, float64(uncond[i])+3.5*(float64(cond[i])-float64(uncond[i])), float64(dst[i]), 1e-6)
	}
	// In place over either input.
	c2 := append([]float32(nil), cond...)
	require.NoError(t, CFG(c2, c2, uncond, 3.5))
	assert.Equal(t, dst, c2)
	u2 := append([]float32(nil), uncond...)
	require.NoError(t, CFG(u2, cond, u2, 3.5))
	assert.Equal(t, dst, u2)

	// Scale 1: cond exactly, without an uncond output.
	require.NoError(t, CFG(dst, cond, nil, 1))
	assert.Equal(t, cond, dst)
	// Scale 0: uncond.
	require.NoError(t, CFG(dst, cond, uncond, 0))
	assert.Equal(t, uncond, dst)

	require.EqualError(t, CFG(dst, cond[:3], uncond, 2), "scheduler: CFG: cond has 3 values, dst 4")
	require.EqualError(t, CFG(dst, cond, nil, 2), "scheduler: CFG: uncond has 0 values, dst 4 (scale 2 needs it)")
	require.ErrorContains(t, CFG(dst, cond, uncond, float32(math.NaN())), "guidance scale must be finite")
}
