package wan22

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSettingsSeedWithNoise: Resolve reports the seed the noise is drawn
// from, and with Request.Noise, which overrides the seed, reports that the
// noise was given instead (NoiseGiven) and no seed (0), whatever
// Request.Seed holds; the video is the noise's, not the seed's.
func TestSettingsSeedWithNoise(t *testing.T) {
	p := open(t, tiny)
	r := tinyRequest()
	r.Seed = 42
	s, err := p.Resolve(r)
	require.NoError(t, err)
	require.Equal(t, uint64(42), s.Seed)
	require.False(t, s.NoiseGiven)

	r.Noise = make([]float32, 16*2*2*4)
	for i := range r.Noise {
		r.Noise[i] = float32(i%7-3) / 2
	}
	s, err = p.Resolve(r)
	require.NoError(t, err)
	require.Equal(t, uint64(0), s.Seed, "no seed is used with Request.Noise")
	require.True(t, s.NoiseGiven)

	// The noise decides the video: another seed changes nothing.
	a, err := generate(t, p, t.Context(), r)
	require.NoError(t, err)
	r.Seed = 7
	b, err := generate(t, p, t.Context(), r)
	require.NoError(t, err)
	require.Equal(t, a, b)
}
