package main

import (
	"fmt"
	"io"
	"time"

	"github.com/wan22/wan22"
	"github.com/wan22/wan22/blockswap"
)

// stageTotals is one stage's line of the run summary, gathered from the progress events.
type stageTotals struct {
	Stage      string           `json:"stage"`
	Seconds    float64          `json:"seconds"`              // from the stage's first event to its end (loads included)
	Steps      int              `json:"steps,omitempty"`      // denoising steps (experts) or frames (decode, write)
	PerStep    float64          `json:"per_step_s,omitempty"` // mean denoising step of the stage (of this expert alone)
	PeakVRAM   int64            `json:"peak_vram,omitempty"`
	PeakPinned int64            `json:"peak_pinned,omitempty"`
	PeakRSS    int64            `json:"peak_rss,omitempty"`
	Plan       string           `json:"plan,omitempty"`
	Swap       *blockswap.Stats `json:"swap,omitempty"`

	first, end  time.Duration
	stepAtStart int
	timeAtStart time.Duration // the run's denoising time (all steps so far) when the stage began
	seen        bool
}

// stageSummary accumulates the run's progress events into per-stage totals, printed (or emitted as JSON)
// when the video is written.
type stageSummary struct {
	order  []wan22.Stage
	stages map[wan22.Stage]*stageTotals
	// stepTime is the run's denoising time so far: an event's PerStep is the
	// mean step over the whole run (both experts), so PerStep × Step is the
	// time of all steps up to it. A stage's own mean is its share of that
	// over its own steps: with --cfg 3.5,1 the low-noise expert's step takes
	// half the high-noise one's, which the run's mean would hide.
	stepTime time.Duration
}

func (s *stageSummary) add(ev wan22.Event) {
	if s.stages == nil {
		s.stages = map[wan22.Stage]*stageTotals{}
	}
	t := s.stages[ev.Stage]
	if t == nil {
		t = &stageTotals{Stage: ev.Stage.String(), first: ev.Elapsed, stepAtStart: ev.Step, timeAtStart: s.stepTime}
		s.stages[ev.Stage] = t
		s.order = append(s.order, ev.Stage)
	}
	t.end = max(t.end, ev.Elapsed)
	t.Seconds = (t.end - t.first).Seconds()
	if ev.Stage == wan22.HighNoise || ev.Stage == wan22.LowNoise {
		t.Steps = ev.Step - t.stepAtStart
	} else if ev.Steps > 0 {
		t.Steps = ev.Step
	}
	if ev.PerStep > 0 && ev.Step > 0 {
		s.stepTime = ev.PerStep * time.Duration(ev.Step)
		if n := ev.Step - t.stepAtStart; n > 0 {
			t.PerStep = (s.stepTime - t.timeAtStart).Seconds() / float64(n)
		}
	}
	t.PeakVRAM = max(t.PeakVRAM, ev.Memory.PeakVRAM)
	t.PeakPinned = max(t.PeakPinned, ev.Memory.PeakPinned)
	t.PeakRSS = max(t.PeakRSS, ev.Memory.PeakRSS)
	if ev.Plan != "" {
		t.Plan = ev.Plan
	}
	if ev.Swap != nil {
		sw := *ev.Swap
		t.Swap = &sw
	}
}

// totals lists the stages in the order they started.
func (s *stageSummary) totals() []stageTotals {
	out := make([]stageTotals, 0, len(s.order))
	for _, st := range s.order {
		out = append(out, *s.stages[st])
	}
	return out
}

// write prints the summary table: per stage its time, steps, pace, peaks and, for swapped experts, the
// bytes moved and the copy and wait times of the block manager.
func (s *stageSummary) write(w io.Writer) {
	if len(s.order) == 0 {
		return
	}
	gib := func(n int64) string {
		if n <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", float64(n)/(1<<30))
	}
	fmt.Fprintf(w, "%-12s %9s %6s %8s %9s %10s %8s %9s %7s %7s  %s\n",
		"stage", "time s", "steps", "s/step", "VRAM GiB", "pinned GiB", "RSS GiB", "moved GB", "copy s", "wait s", "plan")
	for _, t := range s.totals() {
		steps, pace := "-", "-"
		if t.Steps > 0 {
			steps = fmt.Sprint(t.Steps)
		}
		if t.PerStep > 0 {
			pace = fmt.Sprintf("%.2f", t.PerStep)
		}
		moved, cp, wait := "-", "-", "-"
		if t.Swap != nil && t.Swap.Uploads > 0 {
			moved = fmt.Sprintf("%.1f", float64(t.Swap.BytesMoved)/1e9)
			if t.Swap.Timed {
				cp, wait = fmt.Sprintf("%.3f", t.Swap.CopyTime.Seconds()), fmt.Sprintf("%.3f", t.Swap.WaitedTime.Seconds())
			}
		}
		fmt.Fprintf(w, "%-12s %9.2f %6s %8s %9s %10s %8s %9s %7s %7s  %s\n",
			t.Stage, t.Seconds, steps, pace, gib(t.PeakVRAM), gib(t.PeakPinned), gib(t.PeakRSS), moved, cp, wait, t.Plan)
	}
}
