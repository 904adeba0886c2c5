package benchreport

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/wan22/wan22/internal/plural"
)

// Ratio compares one run of a new report with the run of the same key in
// an old one: each field is new / old (0 where either is unknown or zero).
type Ratio struct {
	Key         string  `json:"key"` // Report.RunLabel of the new run
	Total       float64 `json:"total_estimate"`
	Denoise     float64 `json:"denoise_estimate"`
	PerStepHigh float64 `json:"per_step_high"`
	PerStepLow  float64 `json:"per_step_low"`
	PeakVRAM    float64 `json:"peak_vram"`
	PeakRSS     float64 `json:"peak_rss"`
}

// Compare matches the completed runs of cur with those of old by size,
// frames and budget (Run.Key) and, when either report is a merged one whose
// runs have their own models, by expert type too; it returns their ratios
// in cur's order, and the labels (Report.RunLabel) of cur's completed runs
// old does not have. Of a run twice in one report (older builds wrote
// such reports) the first counts: old's first is matched, and cur's later
// ones are left out.
func Compare(old, cur *Report) (ratios []Ratio, unmatched []string) {
	byType := old.perRunModels() || cur.perRunModels()
	prev := map[string]*Run{}
	key := func(r *Report, run *Run) string {
		if byType {
			return r.ModelsOf(run).ExpertsLabel() + " " + run.Key()
		}
		return run.Key()
	}
	for i := range old.Runs {
		if k := key(old, &old.Runs[i]); prev[k] == nil {
			prev[k] = &old.Runs[i]
		}
	}
	done := map[string]bool{}
	for i := range cur.Runs {
		n := &cur.Runs[i]
		k := key(cur, n)
		first := !done[k]
		done[k] = true
		if !first || n.Status != StatusOK {
			continue
		}
		o := prev[k]
		if o == nil || o.Status != StatusOK {
			unmatched = append(unmatched, cur.RunLabel(n))
			continue
		}
		ratios = append(ratios, Ratio{
			Key: cur.RunLabel(n), Total: ratio(n.Total, o.Total), Denoise: ratio(n.Denoise, o.Denoise),
			PerStepHigh: ratio(n.PerStepHigh, o.PerStepHigh), PerStepLow: ratio(n.PerStepLow, o.PerStepLow),
			PeakVRAM: ratio(float64(n.Peak.VRAM), float64(o.Peak.VRAM)), PeakRSS: ratio(float64(n.Peak.RSS), float64(o.Peak.RSS)),
		})
	}
	return ratios, unmatched
}

func ratio(n, o float64) float64 {
	if n <= 0 || o <= 0 {
		return 0
	}
	return n / o
}

// WriteCompare prints the ratios of Compare(old, cur): below 1 is faster
// or smaller than the old report.
func WriteCompare(w io.Writer, oldName string, old, cur *Report) error {
	ratios, unmatched := Compare(old, cur)
	fmt.Fprintf(w, "compared with %s (%s, %s): new / old, below 1 is faster or smaller\n", oldName, createdLabel(old), orDash(old.Machine.Backend))
	if ot, ct := expertsLabel(old), expertsLabel(cur); ot != ct || old.Settings.Device != cur.Settings.Device {
		fmt.Fprintf(w, "note: the old report ran %s experts on %s, this one %s on %s\n", ot, old.Settings.Device, ct, cur.Settings.Device)
	}
	if oa, ca := old.Settings.AttentionOrDefault(), cur.Settings.AttentionOrDefault(); oa != ca {
		fmt.Fprintf(w, "note: the old report ran %s attention, this one %s: the ratios include the attention's speed-up\n", oa, ca)
	}
	if ow, cw := old.Settings.workflow(), cur.Settings.workflow(); ow != cw {
		fmt.Fprintf(w, "note: the old report ran %s, this one %s\n", ow, cw)
	}
	if len(ratios) == 0 {
		// No ratio to show: a header alone would say nothing.
		var theirs []string
		for i := range old.Runs {
			if old.Runs[i].Status == StatusOK {
				theirs = append(theirs, old.RunLabel(&old.Runs[i]))
			}
		}
		switch {
		case len(unmatched) == 0:
			fmt.Fprintln(w, "nothing to compare: no run of this bench completed")
		case len(theirs) == 0:
			fmt.Fprintf(w, "nothing to compare: no run of %s completed\n", oldName)
		default:
			fmt.Fprintf(w, "nothing to compare: %s has none of these runs (%s), only %s\n", oldName, strings.Join(unmatched, ", "), strings.Join(theirs, ", "))
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\test total\tdenoise\ts/step hi\ts/step lo\tpeak VRAM\tpeak RSS\t")
	for _, r := range ratios {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Key, x(r.Total), x(r.Denoise), x(r.PerStepHigh), x(r.PerStepLow), x(r.PeakVRAM), x(r.PeakRSS))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, k := range unmatched {
		fmt.Fprintf(w, "%s: not in %s\n", k, oldName)
	}
	return nil
}

func x(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f×", r)
}

// workflow describes the schedule, guidance and LoRAs of s in a few words,
// "a 40-step unipc schedule, CFG 3.5/3.5, no LoRA", "…, 2 LoRAs merged at
// load", to tell two reports' workflows apart (a 4-step distilled run
// against the 40-step one; LoRAs merged against the same applied at run
// time).
func (s Settings) workflow() string {
	w := fmt.Sprintf("a %d-step %s schedule", s.ScheduleSteps, s.Solver)
	if s.SwitchStep > 0 {
		w += fmt.Sprintf(" switching after step %d", s.SwitchStep)
	}
	w += fmt.Sprintf(", CFG %g/%g", s.GuidanceHigh, s.GuidanceLow)
	if len(s.LoRAs) == 0 {
		return w + ", no LoRA"
	}
	return fmt.Sprintf("%s, %s %s", w, plural.Count(len(s.LoRAs), "LoRA"), loraMode(s))
}
