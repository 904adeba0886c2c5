package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22"
	"github.com/wan22/wan22/internal/benchreport"
)

// TestI2VEstimateExpertTypePair: i2v's estimate uses the bench runs whose
// experts had the same pair of types as its own, the low-noise expert's
// (models.expert_type_low) as well as the high-noise one's; only the
// high-noise expert's type was passed, so that a bench of two Q8_0 experts
// timed a run of a Q8_0 high-noise and a Q4_K low-noise expert. A report
// without expert_type_low ran both experts of its expert_type.
func TestI2VEstimateExpertTypePair(t *testing.T) {
	m := tinySet(t)
	high, _, ok := expertOf(m.High)
	require.True(t, ok)
	low, _, _ := expertOf(m.Low)
	require.Equal(t, [2]string{"Q8_0", "Q4_K"}, [2]string{high, low}, "the tiny set's experts are of two types")

	f := i2vFlags{high: m.High, low: m.Low}
	s := wan22.Settings{Width: 32, Height: 16, Frames: 5, Steps: 2}
	s.Guidance.High, s.Guidance.Low = 3.5, 3.5
	estimate := func(types ...string) (float64, bool) {
		t.Helper()
		freshCache(t)
		rep := cpuBench("cpu")
		rep.Settings.Models.ExpertType = types[0]
		if len(types) > 1 {
			rep.Settings.Models.ExpertTypeLow = types[1]
		}
		_, err := benchreport.SaveHistory(rep)
		require.NoError(t, err)
		sec, _, ok := i2vEstimate("cpu", wan22.DeviceCPU, s, f)
		return sec, ok
	}

	for _, c := range []struct {
		name  string
		types []string // the report's expert_type and expert_type_low
		ok    bool
	}{
		{"the same pair", []string{"Q8_0", "Q4_K"}, true},
		{"the same pair, in other case", []string{"q8_0", "q4_k"}, true},
		{"types unknown", []string{""}, true},
		{"the high-noise type unknown", []string{"", "Q4_K"}, true},
		{"no expert_type_low: both Q8_0", []string{"Q8_0"}, false},
		{"another low-noise type", []string{"Q8_0", "F16"}, false},
		{"the pair the other way round", []string{"Q4_K", "Q8_0"}, false},
		{"another high-noise type", []string{"F16", "Q4_K"}, false},
	} {
		sec, ok := estimate(c.types...)
		require.Equal(t, c.ok, ok, "%s %q: estimate %v s", c.name, c.types, sec)
		if ok {
			require.Equal(t, 20.0, sec, c.name) // cpuBench's run: 12 s + 3 s + 5 s
		}
	}

	// One file as both experts: its type is both experts', and a report
	// without expert_type_low is of that pair.
	f.low = m.High
	sec, ok := estimate("Q8_0")
	require.True(t, ok)
	require.Equal(t, 20.0, sec)
	_, ok = estimate("Q8_0", "Q4_K")
	require.False(t, ok)

	// A low-noise expert whose type cannot be read matches any.
	f.low = m.VAE
	_, ok = estimate("Q8_0", "F16")
	require.True(t, ok)
}
