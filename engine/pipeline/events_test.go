package pipeline

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/cpu"
)

// TestI2VStartEvents pins what Event's doc says of a stage's start (its
// first event): Step counts the run, so the low-noise expert starts at the
// steps the high-noise one ran (2 of 3), with its Plan, and no start or end
// carries a pace. cmd/wan22's bar and stage summary rely on it; the doc said
// every start had Step 0.
func TestI2VStartEvents(t *testing.T) {
	o := baseOptions()
	o.SwitchStep = 2 // high-noise for steps 1 and 2, low-noise for step 3
	_, events, err := collect(t, cpu.New(), tinyModels(t), o)
	require.NoError(t, err)
	type mark struct {
		Stage       Stage
		Done        bool
		Step, Steps int
		Plan        bool
	}
	var marks []mark
	for _, ev := range events {
		if ev.PerStep > 0 {
			require.False(t, ev.Done, "%+v", ev)
			require.Contains(t, []Stage{HighNoise, LowNoise}, ev.Stage, "%+v", ev)
			continue
		}
		require.Zero(t, ev.ETA, "%+v", ev)
		if ev.Stage == VAEDecode && !ev.Done && ev.Step > 0 {
			continue // a decoded frame group
		}
		marks = append(marks, mark{ev.Stage, ev.Done, ev.Step, ev.Steps, ev.Plan != ""})
	}
	require.Equal(t, []mark{
		{VAEEncode, false, 0, 0, false}, {VAEEncode, true, 0, 0, false},
		{TextEncode, false, 0, 0, false}, {TextEncode, true, 0, 0, false},
		{HighNoise, false, 0, 3, true}, {HighNoise, true, 2, 3, false},
		{LowNoise, false, 2, 3, true}, {LowNoise, true, 3, 3, false},
		{VAEDecode, false, 0, 5, false}, {VAEDecode, true, 5, 5, false},
	}, marks)
}
