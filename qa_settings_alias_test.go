package wan22

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The Settings Resolve returns are the caller's to keep: changing the
// Request's Timesteps or LoRAs slices afterwards (reusing a request, as a
// GUI does between runs) does not change them.
func TestSettingsOwnTheirSlices(t *testing.T) {
	p := open(t, tiny)
	r := tinyRequest()
	r.Solver, r.Timesteps, r.Steps = DistillSolver, []int{1000, 500}, 0
	s, err := p.Resolve(r)
	require.NoError(t, err)
	r.Timesteps[0] = 750
	require.Equal(t, []int{1000, 500}, s.Timesteps)

	dir := t.TempDir()
	r = tinyRequest()
	r.LoRAs = []LoRA{{Path: zeroLoRA(t, dir, "style.safetensors", nil), Strength: 1}}
	s, err = p.Resolve(r)
	require.NoError(t, err)
	r.LoRAs[0].Strength = 0.5
	require.Equal(t, float64(1), s.LoRAs[0].Strength)
}
