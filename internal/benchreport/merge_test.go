package benchreport

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// mergeReport is a completed report of expert type et on an H100 with one
// run per frame count at budget GiB, measured with steps per expert.
func mergeReport(et string, budget int64, steps int, frames ...int) *Report {
	r := &Report{
		Schema: Schema, Created: time.Date(2026, 12, 6, 14, 0, 0, 0, time.UTC), Command: []string{"--expert-type", et},
		Machine: Machine{OS: "linux", Arch: "amd64", CPU: "Xeon", Cores: 16, RAM: 128 << 30, Go: "go1.26.8", Backend: h100, Hostname: "vm",
			GPUs: []GPU{{Name: "NVIDIA H100 80GB HBM3", Driver: "580", CUDA: "13.0", Memory: 80 << 30}}},
		Settings: Settings{Device: "cuda", Backend: h100, MeasuredSteps: steps, ScheduleSteps: 40, ScheduleHigh: 15, ScheduleLow: 25,
			Solver: "unipc", Shift: 5, GuidanceHigh: 3.5, GuidanceLow: 3.5, Boundary: 0.9, VideoFormat: "avi",
			Models: Models{High: "synth-" + et + ".gguf", Low: "synth-" + et + ".gguf", Kind: "synthetic", ExpertType: et, SameExpert: true}},
	}
	for _, f := range frames {
		steps := make([]float64, steps)
		for i := range steps {
			steps[i] = float64(f) / 10
		}
		per := float64(f) / 10
		r.Runs = append(r.Runs, Run{Width: 832, Height: 480, Frames: f, Tokens: Tokens(f, 832, 480), VRAMBudget: budget << 30, Status: StatusOK,
			HighSteps: steps, LowSteps: steps, PerStepHigh: per, PerStepLow: per, Measured: 10 + 2*per*float64(len(steps)),
			Denoise: 40 * per, Total: 10 + 40*per, Peak: Memory{VRAM: int64(f) << 24, RSS: 1 << 30}})
	}
	return r
}

func TestMerge(t *testing.T) {
	f16 := mergeReport("F16", 32, 1, 81, 161)
	q8 := mergeReport("Q8_0", 16, 2, 81)
	q8.Created = f16.Created.Add(time.Hour)
	q8.Settings.Attention = "bf16" // the same as f16's absent one
	m, err := Merge([]Source{{"f16.json", f16}, {"q8.json", q8}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Runs) != 3 || m.Runs[0].Frames != 81 || m.Runs[1].Frames != 161 || m.Runs[2].VRAMBudget != 16<<30 {
		t.Fatalf("merged runs %+v", m.Runs)
	}
	for i, want := range []string{"F16", "F16", "Q8_0"} {
		if got := m.ModelsOf(&m.Runs[i]); got.ExpertType != want || got.High != "synth-"+want+".gguf" {
			t.Errorf("run %d: models %+v, want %s", i, got, want)
		}
	}
	// What the runs share stays in the settings, what differs is emptied.
	if s := m.Settings.Models; s.ExpertType != "" || s.High != "" || s.Kind != "synthetic" || !s.SameExpert {
		t.Errorf("shared models %+v", s)
	}
	// Older reports lack the per-run step counts: the merge fills them in.
	if m.Runs[0].MeasuredHigh != 1 || m.Runs[2].MeasuredLow != 2 || m.Settings.MeasuredSteps != 2 {
		t.Errorf("measured steps %d, %d, settings %d", m.Runs[0].MeasuredHigh, m.Runs[2].MeasuredLow, m.Settings.MeasuredSteps)
	}
	if !m.Created.Equal(q8.Created) || len(m.Sources) != 2 || m.Sources[0].File != "f16.json" || m.Sources[1].Runs != 1 {
		t.Errorf("created %v, sources %+v", m.Created, m.Sources)
	}
	if f16.Runs[0].Models != nil || f16.Runs[0].MeasuredHigh != 0 {
		t.Error("Merge modified its input")
	}
	// The merged report survives its JSON, and a merge of merged reports keeps every part.
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Merge([]Source{{"all.json", back}, {"q8-32.json", mergeReport("Q8_0", 32, 2, 81)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Runs) != 4 || len(again.Sources) != 3 || again.ModelsOf(&again.Runs[3]).ExpertType != "Q8_0" {
		t.Errorf("re-merge: %d runs, %d sources", len(again.Runs), len(again.Sources))
	}

	// The table has a column of experts and the schedule line names the runs by it.
	var tab bytes.Buffer
	if err := m.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"F16 and Q8_0 experts (per run)", "1 high + 1 low steps in F16 832x480/81/32 GiB, F16 832x480/161/32 GiB; 2 high + 2 low steps in Q8_0 832x480/81/16 GiB",
		"merged from 2 reports: f16.json, q8.json", "experts"} {
		if !strings.Contains(tab.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, tab.String())
		}
	}

	// i2v's estimate takes each run's own expert type from a merged report.
	hist := []Report{*m}
	for _, c := range []struct {
		et     string
		budget int64
		want   float64
		ok     bool
	}{{"F16", 32 << 30, f16.Runs[0].Total, true}, {"Q8_0", 16 << 30, q8.Runs[0].Total, true}, {"Q8_0", 32 << 30, 0, false}} {
		sec, _, ok := Estimate(hist, h100, 81, 832, 480, 40, true, c.budget, c.et, "")
		if ok != c.ok || math.Abs(sec-c.want) > 1e-9 {
			t.Errorf("%s at %s: %.3f s %v, want %.3f %v", c.et, BudgetLabel(c.budget), sec, ok, c.want, c.ok)
		}
	}

	// --compare of a merged report matches runs by expert type as well.
	ratios, unmatched := Compare(f16, m)
	if len(ratios) != 2 || ratios[0].Key != "F16 832x480/81/32 GiB" || ratios[0].Total != 1 || len(unmatched) != 1 || unmatched[0] != "Q8_0 832x480/81/16 GiB" {
		t.Errorf("compare: %+v, unmatched %v", ratios, unmatched)
	}
}

// TestMergeSameModels: reports of one model set merge without per-run models.
func TestMergeSameModels(t *testing.T) {
	m, err := Merge([]Source{{"a.json", mergeReport("Q8_0", 32, 2, 81)}, {"b.json", mergeReport("Q8_0", 16, 2, 81, 161)}})
	if err != nil {
		t.Fatal(err)
	}
	if m.perRunModels() || m.Settings.Models.ExpertType != "Q8_0" || len(m.Runs) != 3 {
		t.Errorf("models %+v, per run %v, %d runs", m.Settings.Models, m.perRunModels(), len(m.Runs))
	}
	if got := m.RunLabel(&m.Runs[0]); got != "832x480/81/32 GiB" {
		t.Errorf("label %q", got)
	}
}

func TestMergeRefusals(t *testing.T) {
	base := func() *Report { return mergeReport("F16", 32, 1, 81) }
	for _, c := range []struct {
		name   string
		change func(r *Report)
		what   string
		say    []string
	}{
		{"another GPU", func(r *Report) {
			r.Settings.Backend, r.Machine.Backend = "cuda:0 NVIDIA GeForce RTX 5090", "cuda:0 NVIDIA GeForce RTX 5090"
			r.Machine.GPUs[0].Name = "NVIDIA GeForce RTX 5090"
		}, "machine", []string{"a.json ran on NVIDIA H100 80GB HBM3", "b.json on NVIDIA GeForce RTX 5090"}},
		{"another host", func(r *Report) { r.Machine.Hostname = "other" }, "machine", []string{`host "other"`}},
		{"another build", func(r *Report) { r.Machine.Commit = "abc123" }, "build", []string{"commit abc123"}},
		{"another solver", func(r *Report) { r.Settings.Solver = "distill" }, "solver", []string{"a.json ran solver unipc, b.json ran solver distill"}},
		{"8-bit attention", func(r *Report) { r.Settings.Attention = "int8" }, "attention", []string{"attention bf16", "attention int8"}},
		{"a LoRA", func(r *Report) { r.Settings.LoRAs = []LoRA{{Path: "x.safetensors", Strength: 1, Expert: "high"}} }, "LoRAs", []string{"LoRAs none", "x.safetensors"}},
		{"guidance", func(r *Report) { r.Settings.GuidanceLow = 1 }, "guidance", []string{"3.5/3.5", "3.5/1"}},
		{"the same run", func(r *Report) {}, "run", []string{"a.json and b.json both have the run F16 832x480/81/32 GiB"}},
		{"another torch reference", func(r *Report) { r.Torch = &Torch{Schema: TorchSchema, GPU: "other"} }, "the PyTorch reference", []string{"a.json", "b.json"}},
	} {
		a, b := base(), base()
		b.Runs[0].Frames = 161 // a run of its own, unless the case makes it the same
		if c.what == "run" {
			b.Runs[0].Frames = 81
		}
		if c.what == "the PyTorch reference" {
			a.Torch = &Torch{Schema: TorchSchema, GPU: "H100"}
		}
		c.change(b)
		_, err := Merge([]Source{{"a.json", a}, {"b.json", b}})
		checkMergeError(t, c.name, err, c.what, c.say)
	}
	if _, err := Merge(nil); err == nil {
		t.Error("a merge of nothing")
	}
	// Equal PyTorch references, or one, are kept.
	a, b := base(), mergeReport("Q8_0", 32, 2, 81)
	a.Torch = &Torch{Schema: TorchSchema, GPU: "H100"}
	if m, err := Merge([]Source{{"a.json", a}, {"b.json", b}}); err != nil || m.Torch == nil || m.Torch.GPU != "H100" {
		t.Errorf("one torch reference: %v", err)
	}
}

// TestMergeHTML: the chart of a merged report has every run, a line per
// expert type, size and budget, and the table names each run's experts.
func TestMergeHTML(t *testing.T) {
	m, err := Merge([]Source{{"f16.json", mergeReport("F16", 32, 1, 81, 161, 241)}, {"q8.json", mergeReport("Q8_0", 32, 2, 81, 161)}, {"q8-16.json", mergeReport("Q8_0", 16, 2, 81)}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, run := range m.Runs {
		et := m.ModelsOf(&run).ExpertType
		line := fmt.Sprintf("%s, %dx%d, VRAM %s, %d frames: ", et, run.Width, run.Height, BudgetLabel(run.VRAMBudget), run.Frames)
		if n := strings.Count(page, "<title>"+line); n != 2 { // the time and the memory chart
			t.Errorf("%d dots of %q, want 2", n, line)
		}
		row := fmt.Sprintf("<tr><td>%s</td><td>%dx%d</td><td>%d</td><td>%s</td>", et, run.Width, run.Height, run.Frames, BudgetLabel(run.VRAMBudget))
		if !strings.Contains(page, row) {
			t.Errorf("the table lacks the row %q", row)
		}
	}
	for _, legend := range []string{">F16, 832x480, VRAM 32 GiB</text>", ">Q8_0, 832x480, VRAM 32 GiB</text>", ">Q8_0, 832x480, VRAM 16 GiB</text>"} {
		if n := strings.Count(page, legend); n != 2 {
			t.Errorf("%d legends %q, want 2", n, legend)
		}
	}
	if n := strings.Count(page, "<polyline"); n != 6 {
		t.Errorf("%d lines, want 3 series × 2 charts", n)
	}
	if !strings.Contains(page, "merged from 3 reports: f16.json, q8.json, q8-16.json") {
		t.Error("the page does not say which reports it merged")
	}
}

func TestDecodeNotAReport(t *testing.T) {
	for _, in := range []string{`{"gpu": "H100", "entries": []}`, `{"schema": "wan22-torch-e2e/1"}`, `[1, 2]`, `not json`} {
		if _, err := Decode(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "not a bench report") {
			t.Errorf("%s: error %v, want one saying it is not a bench report", in, err)
		}
	}
}

// TestMergeSyntheticLoRAs: synthetic LoRAs (--synth-lora) are compared by
// rank, strength and expert, not by the temporary folder the bench wrote
// them into (an older report's rank is read from the file's name), and
// LoRAs merged at load (--lora-merge) are another workflow than LoRAs
// applied at run time.
func TestMergeSyntheticLoRAs(t *testing.T) {
	synth := func(dir string, rank int, strength float64) []LoRA {
		var ls []LoRA
		for _, e := range []string{"high", "low"} {
			name := fmt.Sprintf("%s/synth-lora-r64-dim5120-40blocks-%s-seed1.safetensors", dir, e)
			ls = append(ls, LoRA{Path: name, Strength: strength, Expert: e, Synthetic: true, Rank: rank})
		}
		return ls
	}
	withLoRAs := func(frames int, ls []LoRA, merge bool) *Report {
		r := mergeReport("Q8_0", 32, 2, frames)
		r.Settings.LoRAs, r.Settings.LoRAMerge = ls, merge
		return r
	}
	// Two runs in temporary folders of their own; one an older report without Rank.
	m, err := Merge([]Source{
		{"a.json", withLoRAs(81, synth("/tmp/wan22-bench-synth-1", 64, 1), false)},
		{"b.json", withLoRAs(161, synth("/tmp/wan22-bench-synth-2", 0, 1), false)},
	})
	if err != nil {
		t.Fatalf("synthetic LoRAs of one rank in two folders: %v", err)
	}
	if len(m.Runs) != 2 {
		t.Errorf("%d runs, want 2", len(m.Runs))
	}
	for _, c := range []struct {
		name string
		b    *Report
		what string
		say  []string
	}{
		{"another rank", withLoRAs(161, synth("/tmp/x", 16, 1), false), "LoRAs", []string{"synthetic LoRA of rank 64", "synthetic LoRA of rank 16"}},
		{"another strength", withLoRAs(161, synth("/tmp/x", 64, 0.5), false), "LoRAs", []string{"at strength 0.5"}},
		{"merged at load", withLoRAs(161, synth("/tmp/x", 64, 1), true), "LoRA mode", []string{"LoRA mode at run time", "LoRA mode merged at load"}},
	} {
		_, err := Merge([]Source{{"a.json", withLoRAs(81, synth("/tmp/y", 64, 1), false)}, {"b.json", c.b}})
		checkMergeError(t, c.name, err, c.what, c.say)
	}
	// A LoRA file given is still compared by its path.
	a, b := withLoRAs(81, []LoRA{{Path: "a.safetensors", Strength: 1, Expert: "both"}}, false), withLoRAs(161, []LoRA{{Path: "b.safetensors", Strength: 1, Expert: "both"}}, false)
	if _, err := Merge([]Source{{"a.json", a}, {"b.json", b}}); err == nil || !strings.Contains(err.Error(), "b.safetensors") {
		t.Errorf("two LoRA files merged: %v", err)
	}
}

// checkMergeError checks that err, of the merge of case name, is a
// MergeError about what whose message says every string of say.
func checkMergeError(t *testing.T, name string, err error, what string, say []string) {
	t.Helper()
	var me *MergeError
	if !errors.As(err, &me) || me.What != what {
		t.Errorf("%s: error %v, want a MergeError about %s", name, err, what)
		return
	}
	for _, s := range say {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: %q does not say %q", name, err, s)
		}
	}
}
