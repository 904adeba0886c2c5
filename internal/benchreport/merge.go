package benchreport

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Source is a report to merge and the file it was read from (the name
// Merge's errors and the merged report's Sources give).
type Source struct {
	File   string
	Report *Report
}

// SourceInfo records one report a merged report was made of: its runs are
// the next Runs of Report.Runs, in the order of Report.Sources.
type SourceInfo struct {
	File    string    `json:"file"`
	Created time.Time `json:"created"`
	Command []string  `json:"command"`
	Runs    int       `json:"runs"`
}

// MergeError is Merge's refusal: reports A and B (file names) cannot be
// one report because they differ in What, A's value being AValue and B's
// BValue; or, with What "run", both hold the run AValue. Its message is
// for the user: it names both files and says what to do.
type MergeError struct {
	A, B           string
	What           string
	AValue, BValue string
}

func (e *MergeError) Error() string {
	switch e.What {
	case "run":
		return fmt.Sprintf("%s and %s both have the run %s: merge only one of them", e.A, e.B, e.AValue)
	case "machine", "build":
		return fmt.Sprintf("%s ran on %s, %s on %s: merge reports of one machine and wan22 build only (the merged report has one %s)",
			e.A, e.AValue, e.B, e.BValue, e.What)
	}
	return fmt.Sprintf("%s ran %s %s, %s ran %s %s: one report holds one workflow (only the models and the measured steps may differ per run): merge them separately",
		e.A, e.What, e.AValue, e.B, e.What, e.BValue)
}

// Merge makes one report of several reports of the same machine, build and
// workflow, such as the parts of a table that ran as separate bench
// invocations (one per expert type, budget or size). The runs are kept in
// the order given. Models may differ between the reports: then every run
// records its own (Run.Models) and Settings.Models keeps only the fields
// all of them share. Everything else of Settings must agree (attention
// "" and "bf16" are the same), except MeasuredSteps, which becomes the
// largest (the runs' MeasuredHigh and MeasuredLow, filled in here for
// reports of older versions, are exact), and Timesteps, absent in older
// reports. At most one PyTorch reference may be among them, or several
// equal ones. Two reports holding the same run (experts, size, frames and
// budget) are refused, so a merged report never counts a run twice; of a
// run twice within one report (older builds wrote such reports) the first
// is kept and the others are left out, also of the source's Runs count.
// Created is the newest report's. Merge does not modify the reports.
func Merge(srcs []Source) (*Report, error) {
	if len(srcs) == 0 {
		return nil, errors.New("no report to merge")
	}
	first := srcs[0]
	out := &Report{Schema: Schema, Machine: first.Report.Machine, Settings: first.Report.Settings}
	out.Settings.Attention = first.Report.Settings.AttentionOrDefault()
	out.Settings.LoRAs = slices.Clone(first.Report.Settings.LoRAs)
	common, sameModels := allModels(first.Report)
	for _, s := range srcs[1:] {
		if err := mergeCheck(first, s); err != nil {
			return nil, err
		}
		m, same := allModels(s.Report)
		sameModels = sameModels && same && m == common
	}
	torchFrom := ""
	seen := map[string]string{} // run label → the file that has it
	for _, s := range srcs {
		r := s.Report
		if r.Created.After(out.Created) {
			out.Created = r.Created
		}
		if len(out.Settings.Timesteps) == 0 {
			out.Settings.Timesteps = slices.Clone(r.Settings.Timesteps)
		}
		out.Settings.MeasuredSteps = max(out.Settings.MeasuredSteps, r.Settings.MeasuredSteps)
		if r.Torch != nil {
			if out.Torch != nil && !reflect.DeepEqual(out.Torch, r.Torch) {
				return nil, &MergeError{A: torchFrom, B: s.File, What: "the PyTorch reference", AValue: torchLabel(out.Torch), BValue: torchLabel(r.Torch)}
			}
			out.Torch, torchFrom = r.Torch, s.File
		}
		before := len(out.Sources)
		if len(r.Sources) > 0 { // an earlier merge: keep its parts
			out.Sources = append(out.Sources, r.Sources...)
		} else {
			out.Sources = append(out.Sources, SourceInfo{File: s.File, Created: r.Created, Command: slices.Clone(r.Command), Runs: len(r.Runs)})
		}
		parts := partOfRuns(out.Sources[before:])
		mine := map[string]bool{} // this report's runs
		for i := range r.Runs {
			run := r.Runs[i]
			if run.Status == StatusOK && run.MeasuredHigh == 0 && run.MeasuredLow == 0 {
				run.MeasuredHigh, run.MeasuredLow = run.MeasuredSteps()
			}
			m := r.ModelsOf(&r.Runs[i])
			run.Models = nil
			if !sameModels {
				run.Models = &m
			}
			label := m.ExpertsLabel() + " " + run.Key()
			if mine[label] { // the first counts
				if i < len(parts) {
					out.Sources[before+parts[i]].Runs--
				}
				continue
			}
			mine[label] = true
			if other, dup := seen[label]; dup {
				return nil, &MergeError{A: other, B: s.File, What: "run", AValue: strings.TrimSpace(label)}
			}
			seen[label] = s.File
			out.Runs = append(out.Runs, run)
		}
	}
	if sameModels {
		out.Settings.Models = common
	} else {
		out.Settings.Models = sharedModels(out)
	}
	return out, nil
}

// partOfRuns returns, for each run of a report made of parts, the index
// of its part: the first parts[0].Runs runs are of part 0, and so on.
func partOfRuns(parts []SourceInfo) []int {
	var of []int
	for p, s := range parts {
		for range max(s.Runs, 0) {
			of = append(of, p)
		}
	}
	return of
}

// allModels returns the models every run of r ran with, and false when its
// runs have models of their own that differ.
func allModels(r *Report) (Models, bool) {
	m := r.Settings.Models
	for i := range r.Runs {
		rm := r.ModelsOf(&r.Runs[i])
		if i == 0 {
			m = rm
		} else if rm != m {
			return m, false
		}
	}
	return m, true
}

// sharedModels keeps the fields of the runs' models that all of them share;
// the others are left empty (false for SameExpert).
func sharedModels(r *Report) Models {
	var s Models
	for i := range r.Runs {
		m := r.ModelsOf(&r.Runs[i])
		if i == 0 {
			s = m
			continue
		}
		keep := func(a *string, b string) {
			if *a != b {
				*a = ""
			}
		}
		keep(&s.High, m.High)
		keep(&s.Low, m.Low)
		keep(&s.TextEncoder, m.TextEncoder)
		keep(&s.VAE, m.VAE)
		keep(&s.Kind, m.Kind)
		if s.ExpertsLabel() != m.ExpertsLabel() { // the pair of types, not the high-noise one alone
			s.ExpertType, s.ExpertTypeLow = "", ""
		}
		s.SameExpert = s.SameExpert && m.SameExpert
		if s.ExpertShape != m.ExpertShape {
			s.ExpertShape = ExpertShape{}
		}
	}
	return s
}

// mergeCheck compares b with the first report a: the machine, the build and
// every setting a run cannot carry itself.
func mergeCheck(a, b Source) error {
	ma, mb := machineLabel(a.Report), machineLabel(b.Report)
	if ma != mb {
		return &MergeError{A: a.File, B: b.File, What: "machine", AValue: ma, BValue: mb}
	}
	if ba, bb := buildLabel(a.Report.Machine), buildLabel(b.Report.Machine); ba != bb {
		return &MergeError{A: a.File, B: b.File, What: "build", AValue: ba, BValue: bb}
	}
	sa, sb := a.Report.Settings, b.Report.Settings
	type field struct {
		what string
		a, b any
	}
	for _, f := range []field{
		{"device", sa.Device, sb.Device},
		{"attention", sa.AttentionOrDefault(), sb.AttentionOrDefault()},
		{"solver", sa.Solver, sb.Solver},
		{"schedule steps", sa.ScheduleSteps, sb.ScheduleSteps},
		{"schedule split (high+low)", fmt.Sprintf("%d+%d", sa.ScheduleHigh, sa.ScheduleLow), fmt.Sprintf("%d+%d", sb.ScheduleHigh, sb.ScheduleLow)},
		{"switch step", sa.SwitchStep, sb.SwitchStep},
		{"shift", sa.Shift, sb.Shift},
		{"guidance", fmt.Sprintf("%g/%g", sa.GuidanceHigh, sa.GuidanceLow), fmt.Sprintf("%g/%g", sb.GuidanceHigh, sb.GuidanceLow)},
		{"boundary", sa.Boundary, sb.Boundary},
		{"seed", sa.Seed, sb.Seed},
		{"pinned budget", BudgetLabel(sa.PinnedBudget), BudgetLabel(sb.PinnedBudget)},
		{"video", fmt.Sprintf("%s (kept %t)", sa.VideoFormat, sa.VideoKept), fmt.Sprintf("%s (kept %t)", sb.VideoFormat, sb.VideoKept)},
		{"LoRAs", loraLabel(sa.LoRAs), loraLabel(sb.LoRAs)},
		{"LoRA mode", loraMode(sa), loraMode(sb)},
	} {
		if f.a != f.b {
			return &MergeError{A: a.File, B: b.File, What: f.what, AValue: fmt.Sprint(f.a), BValue: fmt.Sprint(f.b)}
		}
	}
	if len(sa.Timesteps) > 0 && len(sb.Timesteps) > 0 && !slices.Equal(sa.Timesteps, sb.Timesteps) {
		return &MergeError{A: a.File, B: b.File, What: "timesteps", AValue: formatTimesteps(sa.Timesteps), BValue: formatTimesteps(sb.Timesteps)}
	}
	return nil
}

// machineLabel describes the machine of r for the merge: its device, and
// the host as the report recorded it (the GPU's index on the host is not
// part of it).
func machineLabel(r *Report) string {
	m := r.Machine
	var gpus []string
	for _, g := range m.GPUs {
		gpus = append(gpus, gpuLabel(g))
	}
	return fmt.Sprintf("%s on host %q (%s/%s, %s, %d cores, %s RAM, GPUs: %s)", orDash(reportDevice(r)), m.Hostname, m.OS, m.Arch,
		orDash(m.CPU), m.Cores, BudgetLabel(m.RAM), orDash(strings.Join(gpus, "; ")))
}

// buildLabel describes the wan22 binary a report's runs were measured with.
func buildLabel(m Machine) string {
	s := fmt.Sprintf("a wan22 built with %s at commit %s", orDash(m.Go), orDash(m.Commit))
	if m.Modified {
		s += " (modified)"
	}
	return s
}

// loraLabel lists LoRAs for a comparison: "none" or their descriptions. A
// synthetic LoRA is described by its rank, strength and expert, not its
// file, which the bench wrote into a folder of its own (a temporary one by
// default), so two benches with --synth-lora 64 ran the same LoRAs.
func loraLabel(ls []LoRA) string {
	if len(ls) == 0 {
		return "none"
	}
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.String()
		if l.Synthetic {
			rank := "of unknown rank"
			if r := l.SyntheticRank(); r > 0 {
				rank = fmt.Sprintf("of rank %d", r)
			}
			parts[i] = fmt.Sprintf("synthetic LoRA %s at strength %g on %s", rank, l.Strength, l.target())
		}
	}
	return strings.Join(parts, "; ")
}

// How a report's LoRAs were applied (loraMode).
const (
	loraRunTime = "at run time"
	loraMerged  = "merged at load" // --lora-merge
)

// loraMode says how a report's LoRAs were applied: "none", loraRunTime or
// loraMerged.
func loraMode(s Settings) string {
	switch {
	case len(s.LoRAs) == 0:
		return "none"
	case s.LoRAMerge:
		return loraMerged
	}
	return loraRunTime
}

func torchLabel(t *Torch) string {
	return fmt.Sprintf("(%s, %s, %d entries)", t.GPU, t.Torch, len(t.Entries))
}

// ModelsOf returns the models run (one of r.Runs) ran with: its own in a
// merged report of several expert files, else the report's.
func (r *Report) ModelsOf(run *Run) Models {
	if run.Models != nil {
		return *run.Models
	}
	return r.Settings.Models
}

// perRunModels says whether r's runs carry models of their own (a merged
// report of several expert files or types).
func (r *Report) perRunModels() bool {
	return slices.ContainsFunc(r.Runs, func(run Run) bool { return run.Models != nil })
}

// RunLabel names a run of r for tables and comparisons: its Key, after
// its experts' types when the report's runs differ in their models
// ("F16 832x480/81/32 GiB", "Q8_0 high/F16 low 832x480/81/32 GiB").
func (r *Report) RunLabel(run *Run) string {
	if r.perRunModels() {
		return orDash(r.ModelsOf(run).ExpertsLabel()) + " " + run.Key()
	}
	return run.Key()
}

// expertTypes lists the experts' types of r's runs (Models.ExpertsLabel)
// in order of appearance, "" left out.
func (r *Report) expertTypes() []string {
	var ts []string
	if !r.perRunModels() {
		if t := r.Settings.Models.ExpertsLabel(); t != "" {
			ts = append(ts, t)
		}
		return ts
	}
	for i := range r.Runs {
		if t := r.ModelsOf(&r.Runs[i]).ExpertsLabel(); t != "" && !slices.Contains(ts, t) {
			ts = append(ts, t)
		}
	}
	return ts
}

// expertsLabel names the expert types of r's runs: "Q8_0", "F16 and Q8_0",
// "Q8_0 high/F16 low", or "-" when unknown.
func expertsLabel(r *Report) string {
	ts := r.expertTypes()
	switch len(ts) {
	case 0:
		return "-"
	case 1:
		return ts[0]
	}
	return strings.Join(ts[:len(ts)-1], ", ") + " and " + ts[len(ts)-1]
}
