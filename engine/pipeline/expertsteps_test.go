package pipeline

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestExpertSteps: the steps each expert runs, by the boundary or by the
// switch step, for the solvers and the distill schedule; an expert can get
// none.
func TestExpertSteps(t *testing.T) {
	for _, c := range []struct {
		name      string
		mod       func(*Options)
		high, low int
	}{
		{"default boundary", func(*Options) {}, 2, 1},
		{"40 steps", func(o *Options) { o.Steps = 40 }, 15, 25},
		{"switch step", func(o *Options) { o.SwitchStep = 2 }, 2, 1},
		{"switch at the end", func(o *Options) { o.SwitchStep = 3 }, 3, 0},
		{"boundary 1", func(o *Options) { o.Guidance.Boundary = 1 }, 0, 3},
		{"boundary 0.01", func(o *Options) { o.Guidance.Boundary = 0.01 }, 3, 0},
		{"distill", func(o *Options) { o.Solver, o.Steps, o.Timesteps = "distill", 4, []int{1000, 750, 500, 250} }, 2, 2},
		{"distill low only", func(o *Options) { o.Solver, o.Steps, o.Timesteps = "distill", 2, []int{500, 250} }, 0, 2},
	} {
		o := baseOptions()
		c.mod(&o)
		high, low, err := o.ExpertSteps()
		require.NoError(t, err, c.name)
		require.Equal(t, [2]int{c.high, c.low}, [2]int{high, low}, c.name)
	}
	o := baseOptions()
	o.Solver = "ddim"
	_, _, err := o.ExpertSteps()
	require.ErrorContains(t, err, "ddim")
}
