package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22"
	"github.com/wan22/wan22/blockswap"
)

// TestStageSummary: the end-of-run summary adds up the progress events per stage: times from first event
// to the end, steps of each expert (the step counter runs over both), peaks, the plan and the swap totals.
func TestStageSummary(t *testing.T) {
	var s stageSummary
	sec := func(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }
	swap := &blockswap.Stats{Uploads: 30, BytesMoved: 20e9, Timed: true, CopyTime: sec(0.4), WaitedTime: sec(0.013)}
	for _, ev := range []wan22.Event{
		{Stage: wan22.VAEEncode, Elapsed: 0},
		{Stage: wan22.VAEEncode, Done: true, Elapsed: sec(2), Memory: wan22.Memory{PeakVRAM: 7 << 30}},
		{Stage: wan22.HighNoise, Step: 0, Steps: 4, Elapsed: sec(3), Plan: "26 of 40 blocks resident, 14 swapped"},
		{Stage: wan22.HighNoise, Step: 1, Steps: 4, Elapsed: sec(9), PerStep: sec(6.2), Memory: wan22.Memory{PeakVRAM: 22 << 30, PeakPinned: 9 << 30}},
		{Stage: wan22.HighNoise, Step: 2, Steps: 4, Elapsed: sec(15), PerStep: sec(6.1), Swap: swap},
		{Stage: wan22.HighNoise, Done: true, Step: 2, Steps: 4, Elapsed: sec(15)},
		{Stage: wan22.LowNoise, Step: 2, Steps: 4, Elapsed: sec(20), Plan: "40 blocks resident"},
		{Stage: wan22.LowNoise, Done: true, Step: 4, Steps: 4, Elapsed: sec(32), PerStep: sec(6)},
	} {
		s.add(ev)
	}
	tot := s.totals()
	require.Len(t, tot, 3)
	require.Equal(t, "vae-encode", tot[0].Stage)
	require.InDelta(t, 2, tot[0].Seconds, 1e-9)
	high, low := tot[1], tot[2]
	require.Equal(t, 2, high.Steps)
	require.Equal(t, 2, low.Steps)
	require.InDelta(t, 12, high.Seconds, 1e-9)
	require.InDelta(t, 6.1, high.PerStep, 1e-9)
	require.Equal(t, int64(22<<30), high.PeakVRAM)
	require.Equal(t, int64(9<<30), high.PeakPinned)
	require.Equal(t, "26 of 40 blocks resident, 14 swapped", high.Plan)
	require.Equal(t, int64(20e9), high.Swap.BytesMoved)
	require.Nil(t, low.Swap)

	var out bytes.Buffer
	s.write(&out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 4)
	require.Contains(t, lines[0], "moved GB")
	require.Regexp(t, `^high-noise\s+12\.00\s+2\s+6\.10\s+22\.00\s+9\.00\s+-\s+20\.0\s+0\.400\s+0\.013\s+26 of 40`, lines[2])
}

// TestStageSummaryPerExpertPace: an event's PerStep is the mean step of the
// whole run so far, so the low-noise row's s/step is its own steps' mean, not
// the run's: with guidance 1 on the low-noise expert (--cfg 3.5,1) its steps
// take half as long, and the summary says so.
func TestStageSummaryPerExpertPace(t *testing.T) {
	var s stageSummary
	sec := func(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }
	evs := []wan22.Event{{Stage: wan22.HighNoise, Step: 0, Steps: 8}}
	run := 0.0
	for i := 1; i <= 8; i++ {
		stage, took := wan22.HighNoise, 1.0
		if i > 4 {
			stage, took = wan22.LowNoise, 0.5
		}
		if i == 5 {
			evs = append(evs, wan22.Event{Stage: wan22.HighNoise, Done: true, Step: 4, Steps: 8},
				wan22.Event{Stage: wan22.LowNoise, Step: 4, Steps: 8})
		}
		run += took
		evs = append(evs, wan22.Event{Stage: stage, Step: i, Steps: 8, PerStep: sec(run / float64(i))})
	}
	evs = append(evs, wan22.Event{Stage: wan22.LowNoise, Done: true, Step: 8, Steps: 8})
	for _, ev := range evs {
		s.add(ev)
	}
	tot := s.totals()
	require.Len(t, tot, 2)
	require.InDelta(t, 1, tot[0].PerStep, 1e-6)
	require.Equal(t, 4, tot[1].Steps)
	require.InDelta(t, 0.5, tot[1].PerStep, 1e-6)
}
