package benchreport

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wan22/wan22/blockswap"
)

// WriteTable prints the report for a terminal: what was measured and how
// it was extrapolated, the stage times per run, then memory and block swaps
// per run, and the PyTorch column when the report has one. The HTML page
// (WriteHTML) shows the same lines and tables.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	b.WriteString(r.titleLine() + "\n")
	for _, l := range r.headerLines() {
		b.WriteString(l + "\n")
	}
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	times := r.timesTable()
	if err := times.write(w); err != nil {
		return err
	}
	if l := r.torchLine(); l != "" {
		fmt.Fprintln(w, l)
	}
	mem := r.memoryTable()
	if len(mem.rows) == 0 {
		return nil // no run completed: no memory to show, not a header alone
	}
	fmt.Fprintln(w)
	return mem.write(w)
}

// titleLine is the table's first line: the device, the models, the experts'
// types and the attention.
func (r *Report) titleLine() string {
	s := r.Settings
	var b strings.Builder
	fmt.Fprintf(&b, "wan22 bench on %s (%s), %s models", orDash(s.Backend), s.Device, s.Models.Kind)
	if t := expertsLabel(r); t != "-" {
		fmt.Fprintf(&b, ", %s experts", t)
		if r.perRunModels() {
			b.WriteString(" (per run)")
		}
	}
	if s.Models.SameExpert {
		b.WriteString(" (one file for both)")
	}
	fmt.Fprintf(&b, ", %s attention", s.AttentionRan())
	return b.String()
}

// unitsLine says what the columns of the times table hold.
const unitsLine = "times in seconds; high-noise includes its load; switch is the low-noise expert's load; est = the whole run at the full schedule"

// headerLines are the lines under the title: what the runs measured of the
// schedule, the reports a merged report was made of, the timesteps, the
// expert switch, the LoRAs, and what the columns hold.
func (r *Report) headerLines() []string {
	s := r.Settings
	lines := []string{r.scheduleLine()}
	if len(r.Sources) > 0 {
		lines = append(lines, r.sourcesLine())
	}
	if len(s.Timesteps) > 0 && len(s.Timesteps) <= maxTimestepsShown {
		// The scheduler's timesteps, not the distill solver's --timesteps
		// that the bench's first line names.
		lines = append(lines, fmt.Sprintf("timesteps %s (shift %g applied)", formatTimesteps(s.Timesteps), s.Shift))
	}
	if s.SwitchStep > 0 {
		lines = append(lines, fmt.Sprintf("experts switch after step %d", s.SwitchStep))
	}
	for _, l := range s.LoRAs {
		lines = append(lines, l.String())
	}
	if loraMode(s) == loraMerged {
		lines = append(lines, "LoRAs "+loraMerged+" (--lora-merge): into F16/BF16/F32 weights; quantized weights and blocks swapped to host memory keep them at run time")
	}
	return append(lines, unitsLine)
}

// torchLine says where the PyTorch columns come from; "" without them.
func (r *Report) torchLine() string {
	if r.Torch == nil {
		return ""
	}
	return fmt.Sprintf("torch: %s, %s, one block scaled by %d blocks and %d steps with CFG (weights resident in bf16); wan22 denoise is the same part of wan22's run",
		r.Torch.GPU, r.Torch.Torch, r.Torch.Blocks, r.Torch.ScheduleSteps)
}

// table is one of the report's tables as text cells, which the terminal
// and the HTML page lay out alike.
type table struct {
	keys   int // the first columns, which name the run (runHeader)
	header []string
	rows   []tableRow
}

// tableRow is a run's row: its cells, or for a run that did not complete
// its key cells and its status.
type tableRow struct {
	Cells  []string
	Status string
}

// Header is the table's column names.
func (t table) Header() []string { return t.header }

// Rows are the table's rows.
func (t table) Rows() []tableRow { return t.rows }

// Span is the number of columns after the key columns: those a status spans.
func (t table) Span() int { return len(t.header) - t.keys }

// write lays the table out for a terminal: each column as wide as its
// widest cell and right-aligned, columnGap before every cell, a status after
// its run's key cells. (A tabwriter ends its columns at a status line, which
// has no cell under them, and laid out the rows after it on their own.)
func (t table) write(w io.Writer) error {
	width := make([]int, len(t.header))
	measure := func(cells []string) {
		for i, c := range cells {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	measure(t.header)
	for _, row := range t.rows {
		measure(row.Cells)
	}
	var b strings.Builder
	line := func(cells []string, status string) {
		for i, c := range cells {
			b.WriteString(strings.Repeat(" ", len(columnGap)+width[i]-utf8.RuneCountInString(c)))
			b.WriteString(c)
		}
		if status != "" {
			b.WriteString(columnGap + status)
		}
		b.WriteByte('\n')
	}
	line(t.header, "")
	for _, row := range t.rows {
		line(row.Cells, row.Status)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// timesTable is the stage times of every run, with the PyTorch columns
// when the report has them; a run that did not complete says why.
func (r *Report) timesTable() table {
	t := table{keys: len(r.runHeader()), header: append(r.runHeader(), StageNames...)}
	t.header = append(t.header, "s/step hi", "s/step lo", "measured", "est total")
	if r.Torch != nil {
		t.header = append(t.header, "torch denoise", "compiled", "wan22 denoise")
	}
	for i := range r.Runs {
		run := &r.Runs[i]
		cells := r.runCells(run)
		if run.Status != StatusOK {
			t.rows = append(t.rows, tableRow{Cells: cells, Status: statusLine(run)})
			continue
		}
		for _, n := range StageNames {
			if st, ok := run.Stage(n); ok {
				cells = append(cells, secs(st.Seconds))
			} else {
				cells = append(cells, "-")
			}
		}
		cells = append(cells, secs(run.PerStepHigh), secs(run.PerStepLow), secs(run.Measured), secs(run.Total))
		if r.Torch != nil {
			eager, ok1 := r.Torch.Find(run.Width, run.Height, run.Frames, "eager", true)
			comp, ok2 := r.Torch.Find(run.Width, run.Height, run.Frames, "compiled", true)
			cells = append(cells, torchCell(eager, ok1), torchCell(comp, ok2), secs(run.Denoise))
		}
		t.rows = append(t.rows, tableRow{Cells: cells})
	}
	return t
}

// memoryTable is the peak memory, the high-noise expert's block plan and
// its block swaps of every completed run, and the low-noise expert's too
// when a run's low-noise expert differs from its high-noise one (lowDiffers).
func (r *Report) memoryTable() table {
	swaps := []string{"swapped", "moved/step", "copy", "wait"}
	header := append(r.runHeader(), "peak VRAM", "peak pinned", "peak RSS", "high plan")
	low := slices.ContainsFunc(r.Runs, func(run Run) bool { return run.Status == StatusOK && r.lowDiffers(&run) })
	if low {
		for _, s := range swaps {
			header = append(header, s+" hi")
		}
		header = append(header, "low plan")
		for _, s := range swaps {
			header = append(header, s+" lo")
		}
	} else {
		header = append(header, swaps...)
	}
	t := table{keys: len(r.runHeader()), header: header}
	for i := range r.Runs {
		run := &r.Runs[i]
		if run.Status != StatusOK {
			continue
		}
		cells := append(r.runCells(run), gib(run.Peak.VRAM), gib(run.Peak.Pinned), gib(run.Peak.RSS), orDash(run.PlanHigh))
		cells = append(cells, swapCells(run.SwapHigh, len(run.HighSteps))...)
		if low {
			cells = append(cells, orDash(run.PlanLow))
			cells = append(cells, swapCells(run.SwapLow, len(run.LowSteps))...)
		}
		t.rows = append(t.rows, tableRow{Cells: cells})
	}
	return t
}

// lowDiffers says whether run's low-noise expert differs from its
// high-noise one in what the memory table shows: its block type or its
// block plan.
func (r *Report) lowDiffers(run *Run) bool {
	m := r.ModelsOf(run)
	return (m.ExpertTypeLow != "" && m.ExpertTypeLow != m.ExpertType) || (run.PlanLow != "" && run.PlanLow != run.PlanHigh)
}

// swapCells are an expert's block-swap cells of the memory table: the
// blocks swapped, the bytes moved per step over its steps measured, the
// copy and the wait time; "0" and dashes when it swapped none.
func swapCells(sw *blockswap.Stats, steps int) []string {
	if sw == nil || sw.Swapped == 0 {
		return []string{"0", "-", "-", "-"}
	}
	return []string{strconv.Itoa(sw.Swapped), gib(sw.BytesMoved / int64(max(steps, 1))), secs(sw.CopyTime.Seconds()), secs(sw.WaitedTime.Seconds())}
}

// columnGap is the space between the tables' columns.
const columnGap = "  "

// maxTimestepsShown is the longest schedule whose timesteps the table
// lists (the few-step schedules); the JSON has them all.
const maxTimestepsShown = 10

// formatTimesteps writes timesteps with at most two decimals, comma-separated.
func formatTimesteps(ts []float64) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = trimFloat(t)
	}
	return strings.Join(parts, ",")
}

// String describes the LoRA for the table: "LoRA FILE at strength 1 on
// the high-noise expert (synthetic)".
func (l LoRA) String() string {
	s := fmt.Sprintf("LoRA %s at strength %g on %s", l.Path, l.Strength, l.target())
	if l.Synthetic {
		s += " (synthetic"
		if r := l.SyntheticRank(); r > 0 {
			s += fmt.Sprintf(", rank %d", r)
		}
		s += ")"
	}
	return s
}

// target names the experts l is attached to: "the high-noise expert",
// "the low-noise expert" or "both experts".
func (l LoRA) target() string {
	if l.Expert == "high" || l.Expert == "low" {
		return "the " + l.Expert + "-noise expert"
	}
	return "both experts"
}

// measuredSplit is the steps measured per expert in a run, and whether
// that was the whole schedule.
type measuredSplit struct {
	high, low int
	whole     bool
}

// measuredSplits returns the distinct splits of the completed runs in
// their order, and the keys of the runs of each.
func (r *Report) measuredSplits() ([]measuredSplit, [][]string) {
	var splits []measuredSplit
	var keys [][]string
	for i := range r.Runs {
		run := &r.Runs[i]
		if run.Status != StatusOK {
			continue
		}
		h, l := run.MeasuredSteps()
		m := measuredSplit{h, l, run.Whole}
		j := slices.Index(splits, m)
		if j < 0 {
			splits, keys = append(splits, m), append(keys, nil)
			j = len(splits) - 1
		}
		keys[j] = append(keys[j], r.RunLabel(run))
	}
	return splits, keys
}

// scheduleLine says what the completed runs measured and how it relates
// to the schedule, from the runs' own counts: "measured 2 high + 2 low
// steps, extrapolated to 40 (15 high + 25 low, unipc, shift 5, CFG
// 3.5/3.5)", or "measured 1 high + 3 low steps: the whole 4-step schedule,
// nothing extrapolated (distill, shift 5, CFG 1/1)".
func (r *Report) scheduleLine() string {
	s := r.Settings
	how := fmt.Sprintf("%s, shift %g, CFG %g/%g", s.Solver, s.Shift, s.GuidanceHigh, s.GuidanceLow)
	split := fmt.Sprintf("%d high + %d low", s.ScheduleHigh, s.ScheduleLow)
	splits, keys := r.measuredSplits()
	switch {
	case len(splits) == 0:
		return fmt.Sprintf("no run completed; the schedule: %d steps (%s, %s)", s.ScheduleSteps, split, how)
	case len(splits) == 1 && splits[0].whole:
		return fmt.Sprintf("measured %d high + %d low steps: the whole %d-step schedule, nothing extrapolated (%s)",
			splits[0].high, splits[0].low, s.ScheduleSteps, how)
	case len(splits) == 1:
		return fmt.Sprintf("measured %d high + %d low steps, extrapolated to %d (%s, %s)",
			splits[0].high, splits[0].low, s.ScheduleSteps, split, how)
	}
	parts := make([]string, len(splits))
	for i, m := range splits {
		parts[i] = fmt.Sprintf("%d high + %d low steps", m.high, m.low)
		if m.whole {
			parts[i] += " (whole)"
		}
		parts[i] += " in " + strings.Join(keys[i], ", ")
	}
	return fmt.Sprintf("measured %s; the schedule: %d steps (%s, %s)", strings.Join(parts, "; "), s.ScheduleSteps, split, how)
}

// runHeader is the tables' first columns: the experts (for a report whose
// runs have their own models), size, frames and budget.
func (r *Report) runHeader() []string {
	if r.perRunModels() {
		return []string{"experts", "size", "frames", "budget"}
	}
	return []string{"size", "frames", "budget"}
}

// runCells is run's cells of the columns of runHeader.
func (r *Report) runCells(run *Run) []string {
	c := []string{fmt.Sprintf("%dx%d", run.Width, run.Height), strconv.Itoa(run.Frames), BudgetLabel(run.VRAMBudget)}
	if r.perRunModels() {
		c = append([]string{orDash(r.ModelsOf(run).ExpertsLabel())}, c...)
	}
	return c
}

// sourcesLine says which reports a merged report was made of.
func (r *Report) sourcesLine() string {
	names := make([]string, len(r.Sources))
	for i, s := range r.Sources {
		names[i] = s.File
	}
	n := "1 report"
	if len(r.Sources) != 1 {
		n = fmt.Sprintf("%d reports", len(r.Sources))
	}
	return fmt.Sprintf("merged from %s: %s", n, strings.Join(names, ", "))
}

// statusLine describes a run that did not complete.
func statusLine(run *Run) string {
	if run.Status == StatusNoFit {
		if run.MinVRAM > 0 {
			return "does not fit: needs at least " + gib(run.MinVRAM)
		}
		return "does not fit: " + run.Error
	}
	return "failed: " + run.Error
}

func torchCell(e TorchEntry, ok bool) string {
	if !ok {
		return "-"
	}
	return secs(e.Schedule)
}

// secs writes seconds with three significant figures past the point for
// short times.
func secs(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 10:
		return fmt.Sprintf("%.3f", v)
	case v < 1000:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// gib writes bytes as GiB, "-" for unknown (0).
func gib(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
