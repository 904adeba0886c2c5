package benchreport

import (
	"fmt"
	"math"
	"strings"
)

// Estimate is EstimateExperts for two experts of one type, expertType
// ("Q8_0"; "" matches any).
func Estimate(history []Report, device string, frames, width, height int, steps int, cfg bool, budget int64, expertType, attention string) (seconds float64, basis string, ok bool) {
	return EstimateExperts(history, device, frames, width, height, steps, cfg, budget, expertType, expertType, attention)
}

// EstimateExperts predicts the wall time of one generation, in seconds,
// from the bench history: frames of width×height with steps denoising
// steps, CFG (two forwards per step) or not, under a VRAM budget (bytes; 0
// = all free device memory), with a high-noise expert of typeHigh and a
// low-noise expert of typeLow ("Q8_0"; "" matches any) and attention of
// precision attention ("bf16", "int8", "fp8"; "" is bf16). device is the
// backend's name as Pipeline.Backend gives it ("cuda:0 NVIDIA H100 80GB
// HBM3", "cpu"); only reports of the same GPU (or the CPU) count, and of
// those the runs whose experts have the same types, each compared where
// both are known (a merged report's runs each have their own; a report
// without models.expert_type_low ran both experts of expert_type, see
// runExpertTypes), and the same attention precision (a report of an older
// version ran bf16). basis says in words what the estimate comes from; ok
// is false when no report matches.
//
// The completed run used is, in this order of preference: the same frame
// count (else the nearest at the same size), the smallest budget at least
// budget (a budget of 0 prefers a run at 0, else the largest budget), the
// newest report. Its time is its measured non-step stages (total_estimate
// minus denoise_estimate: loads, encoders, decode, write), plus per expert
// the first step's warm-up surplus over the steady step and the steady step
// (per_step_high, per_step_low) times the requested steps of that expert.
//
// The split between the experts is the report's own when steps equals its
// schedule length, else its proportions rounded (an approximation: the
// real split depends on the solver, shift and boundary). A step time
// measured with CFG is halved without it and doubled the other way. A run of
// another frame count has its step times scaled by (L/Lrun)^1.5, L being the
// DiT's token count: an approximation for steps that attention dominates
// (quadratic in L) mixed with the linear layers; the non-step stages are
// taken as measured.
func EstimateExperts(history []Report, device string, frames, width, height int, steps int, cfg bool, budget int64, typeHigh, typeLow, attention string) (seconds float64, basis string, ok bool) {
	want := DeviceName(device)
	if attention == "" {
		attention = "bf16"
	}
	var best *estimateCandidate
	for i := range history {
		rep := &history[i]
		if want == "" || !strings.EqualFold(reportDevice(rep), want) {
			continue
		}
		if !strings.EqualFold(rep.Settings.AttentionOrDefault(), attention) {
			continue
		}
		if rep.Settings.ScheduleSteps <= 0 {
			continue
		}
		for j := range rep.Runs {
			run := &rep.Runs[j]
			if !usableRun(run) || run.Width != width || run.Height != height {
				continue
			}
			if high, low := runExpertTypes(rep.ModelsOf(run)); !sameType(high, typeHigh) || !sameType(low, typeLow) {
				continue
			}
			penalty, fits := budgetPenalty(run.VRAMBudget, budget)
			if !fits {
				continue
			}
			c := &estimateCandidate{rep: rep, run: run, frameDist: abs(run.Frames - frames), budgetPenalty: penalty}
			if best == nil || c.better(best) {
				best = c
			}
		}
	}
	if best == nil {
		return 0, "", false
	}
	return best.estimate(frames, steps, cfg, device)
}

// runExpertTypes are the block types of the high-noise and the low-noise
// expert of a run of models m ("" when unknown). A report records the
// low-noise expert's type (expert_type_low) only where it differs, so
// without it both experts had the high-noise expert's type; a report of an
// older version, which recorded the high-noise expert's only, reads so too.
func runExpertTypes(m Models) (high, low string) {
	high, low = m.ExpertType, m.ExpertTypeLow
	if low == "" {
		low = high
	}
	return high, low
}

// sameType says whether the expert types a and b may be the same: equal
// (in any case), or either unknown ("").
func sameType(a, b string) bool { return a == "" || b == "" || strings.EqualFold(a, b) }

// DeviceName is the device part of a backend's name: the GPU's name of
// "cuda:0 NVIDIA H100 80GB HBM3", or the name itself ("cpu").
func DeviceName(backend string) string {
	backend = strings.TrimSpace(backend)
	if strings.HasPrefix(backend, "cuda:") {
		if _, gpu, found := strings.Cut(backend, " "); found {
			return strings.TrimSpace(gpu)
		}
	}
	return backend
}

// reportDevice is the device a report ran on.
func reportDevice(r *Report) string {
	if d := DeviceName(r.Settings.Backend); d != "" {
		return d
	}
	return DeviceName(r.Machine.Backend)
}

// usableRun says whether a run completed with the figures Estimate needs.
func usableRun(r *Run) bool {
	return r.Status == StatusOK && len(r.HighSteps) > 0 && len(r.LowSteps) > 0 &&
		r.PerStepHigh > 0 && r.PerStepLow > 0 && r.Total > 0 && r.Denoise > 0 && r.Total >= r.Denoise
}

// budgetPenalty ranks a run's VRAM budget for a requested one (0 = all free
// memory on both sides): 0 is the same budget, larger is further off; fits
// is false for a run with less memory than requested. A request for all
// memory takes a run with a budget when there is none without, the larger
// the better.
func budgetPenalty(run, want int64) (penalty int64, fits bool) {
	const far = math.MaxInt64 / 2
	switch {
	case run == want:
		return 0, true
	case want == 0:
		return far - run, true
	case run == 0:
		return far, true
	case run > want:
		return run - want, true
	}
	return 0, false
}

// estimateCandidate is a run that Estimate may use.
type estimateCandidate struct {
	rep           *Report
	run           *Run
	frameDist     int
	budgetPenalty int64
}

// better: nearer frame count, then nearer budget, then newer report.
func (c *estimateCandidate) better(o *estimateCandidate) bool {
	if c.frameDist != o.frameDist {
		return c.frameDist < o.frameDist
	}
	if c.budgetPenalty != o.budgetPenalty {
		return c.budgetPenalty < o.budgetPenalty
	}
	return c.rep.Created.After(o.rep.Created)
}

// estimate computes the time of frames with steps from the candidate run.
func (c *estimateCandidate) estimate(frames, steps int, cfg bool, device string) (float64, string, bool) {
	s, r := &c.rep.Settings, c.run
	high, low := s.ScheduleHigh, s.ScheduleLow
	if steps != s.ScheduleSteps {
		high = int(math.Round(float64(steps) * float64(s.ScheduleHigh) / float64(s.ScheduleSteps)))
		high = min(max(high, 0), steps)
		low = steps - high
	}
	scale := 1.0
	if r.Frames != frames {
		scale = math.Pow(float64(Tokens(frames, r.Width, r.Height))/float64(Tokens(r.Frames, r.Width, r.Height)), 1.5)
	}
	total := r.Total - r.Denoise
	expert := func(n int, first, perStep, guidance float64) float64 {
		if n == 0 {
			return 0
		}
		return first - perStep + perStep*scale*cfgFactor(cfg, guidance)*float64(n)
	}
	total += expert(high, r.HighSteps[0], r.PerStepHigh, s.GuidanceHigh)
	total += expert(low, r.LowSteps[0], r.PerStepLow, s.GuidanceLow)
	if total <= 0 || math.IsNaN(total) || math.IsInf(total, 0) {
		return 0, "", false
	}

	where := "GPU"
	if DeviceName(device) == "cpu" {
		where = "CPU"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "from the bench of %s on this %s: ", c.rep.Created.UTC().Format("2006-01-02"), where)
	if r.Frames != frames {
		b.WriteString("scaled from ")
	}
	budget := BudgetLabel(r.VRAMBudget)
	if r.VRAMBudget == 0 {
		budget = "all memory"
	}
	fmt.Fprintf(&b, "%d frames %dx%d, %s", r.Frames, r.Width, r.Height, budget)
	if high != s.ScheduleHigh || low != s.ScheduleLow {
		fmt.Fprintf(&b, "; %d+%d steps for its %d+%d", high, low, s.ScheduleHigh, s.ScheduleLow)
	}
	if f := cfgFactor(cfg, s.GuidanceHigh); f != 1 && f == cfgFactor(cfg, s.GuidanceLow) {
		if f < 1 {
			b.WriteString("; without CFG: half its step time")
		} else {
			b.WriteString("; with CFG: twice its step time")
		}
	} else if f != cfgFactor(cfg, s.GuidanceLow) {
		b.WriteString("; CFG differs from one expert's: its step time scaled")
	}
	return total, b.String(), true
}

// cfgFactor is the requested step's forwards per measured step's: a step
// with CFG runs the DiT twice, one with guidance 1 once.
func cfgFactor(cfg bool, measuredGuidance float64) float64 {
	want, had := 1.0, 1.0
	if cfg {
		want = 2
	}
	if measuredGuidance != 1 {
		had = 2
	}
	return want / had
}

// Tokens is the DiT's sequence length for frames of width×height:
// ((frames−1)/4+1) latent frames × height/16 × width/16.
func Tokens(frames, width, height int) int {
	return ((frames-1)/4 + 1) * (height / 16) * (width / 16)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
