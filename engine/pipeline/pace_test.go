package pipeline

import (
	"testing"
	"time"

	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/scheduler"
)

// TestPaceTracker: the ETA's estimate of a step is its expert's time per DiT forward so far times the step's
// forwards; an expert that has not run goes at the run's pace per forward; nothing before the first step.
func TestPaceTracker(t *testing.T) {
	var p paceTracker
	if got := p.step(HighNoise, 2); got != 0 {
		t.Errorf("before any step: %v, want 0", got)
	}
	p.add(HighNoise, 2, 4*time.Second) // a guided step: 2 s a forward
	p.add(HighNoise, 2, 4*time.Second)
	for _, c := range []struct {
		s    Stage
		fwd  int
		want time.Duration
	}{
		{HighNoise, 2, 4 * time.Second},
		{HighNoise, 1, 2 * time.Second},
		{LowNoise, 1, 2 * time.Second}, // not run yet: the run's pace
	} {
		if got := p.step(c.s, c.fwd); got != c.want {
			t.Errorf("after two high-noise steps, step(%v, %d) = %v, want %v", c.s, c.fwd, got, c.want)
		}
	}
	p.add(LowNoise, 1, 3*time.Second) // a slower expert (swapped blocks), unguided
	if got := p.step(LowNoise, 1); got != 3*time.Second {
		t.Errorf("low-noise at its own pace: %v, want 3s", got)
	}
	if got := p.step(HighNoise, 2); got != 4*time.Second {
		t.Errorf("high-noise keeps its pace: %v, want 4s", got)
	}
	if forwards(scheduler.Pass{Uncond: true}) != 2 || forwards(scheduler.Pass{}) != 1 {
		t.Error("forwards: 2 with guidance, 1 without")
	}
}

// TestETAPerExpert: with the low-noise expert unguided (--cfg 3.5,1) the ETA after the high-noise steps counts
// the remaining steps at one forward each, half a guided step, rather than at the run's mean step.
func TestETAPerExpert(t *testing.T) {
	m := tinyModels(t)
	o := baseOptions()
	o.Steps, o.SwitchStep = 6, 3
	o.Guidance.High, o.Guidance.Low = 3.5, 1
	var evs []Event
	o.Progress = func(ev Event) {
		if ev.PerStep > 0 {
			evs = append(evs, ev)
		}
	}
	if err := I2V(t.Context(), cpu.New(), m, testImage(o), o, func([]float32, int) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 6 {
		t.Fatalf("%d step events, want 6", len(evs))
	}
	last := evs[len(evs)-1]
	if last.ETA != 0 {
		t.Errorf("ETA after the last step %v, want 0", last.ETA)
	}
	// After step 3 (the last high-noise one): three unguided steps remain, each estimated at the high-noise pace per
	// forward (the low-noise expert has not run), i.e. half of a guided step.
	ev := evs[2]
	perFwd := ev.PerStep / 2 // three guided steps so far: PerStep is 2 forwards
	want := 3 * perFwd
	if diff := ev.ETA - want; diff < -time.Millisecond || diff > time.Millisecond {
		t.Errorf("ETA after step 3: %v, want %v (3 unguided steps at %v a forward; the run-mean estimate was %v)", ev.ETA, want, perFwd, 3*ev.PerStep)
	}
}
