package benchreport

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wan22/wan22/blockswap"
)

// sample is a report with a completed run per frame count at two budgets,
// a run that does not fit and one that failed.
func sample() *Report {
	r := &Report{
		Schema: Schema, Created: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC), Command: []string{"--frames", "81,161"},
		Machine: Machine{OS: "linux", CPU: "Test CPU", Cores: 16, RAM: 128 << 30, Backend: "cuda:0 Test GPU",
			GPUs: []GPU{{Name: "Test GPU", Driver: "580.1", CUDA: "13.0", Memory: 80 << 30}}},
		Settings: Settings{Device: "cuda", Backend: "cuda:0 Test GPU", MeasuredSteps: 2, ScheduleSteps: 40, ScheduleHigh: 15, ScheduleLow: 25,
			Solver: "unipc", Shift: 5, GuidanceHigh: 3.5, GuidanceLow: 3.5, Boundary: 0.9, VideoFormat: "avi", Attention: "bf16",
			Models: Models{Kind: "synthetic", ExpertType: "Q8_0", SameExpert: true}},
	}
	for _, budget := range []int64{32 << 30, 24 << 30} {
		for i, frames := range []int{81, 161} {
			k := float64(i + 1)
			run := Run{Width: 832, Height: 480, Frames: frames, Tokens: 32760 * (i + 1), VRAMBudget: budget, Status: StatusOK,
				MeasuredHigh: 2, MeasuredLow: 2, HighSteps: []float64{10 * k, 8 * k}, LowSteps: []float64{9 * k, 8 * k}, PerStepHigh: 8 * k, PerStepLow: 8 * k,
				Measured: 60 * k, Denoise: 330 * k, Total: 350 * k, Peak: Memory{VRAM: int64(20+i) << 30, RSS: 10 << 30},
				PlanHigh: "30 of 40 blocks resident, 10 swapped", SwapHigh: &blockswap.Stats{Swapped: 10, BytesMoved: 8 << 30, CopyTime: 1500 * time.Millisecond}}
			for j, n := range StageNames {
				run.Stages = append(run.Stages, Stage{Name: n, Seconds: float64(j+1) * k, Peak: Memory{VRAM: int64(j) << 30}})
			}
			r.Runs = append(r.Runs, run)
		}
	}
	r.Runs = append(r.Runs,
		Run{Width: 1280, Height: 720, Frames: 81, VRAMBudget: 16 << 30, Status: StatusNoFit, MinVRAM: 30 << 30, Error: "blockswap: too small"},
		Run{Width: 832, Height: 480, Frames: 241, VRAMBudget: 16 << 30, Status: StatusFailed, Error: "step 1: boom"})
	return r
}

func TestRoundTrip(t *testing.T) {
	r := sample()
	r.Torch = &Torch{Schema: TorchSchema, GPU: "Test GPU", Blocks: 40, ScheduleSteps: 40,
		Entries: []TorchEntry{{Width: 832, Height: 480, Frames: 81, Tokens: 32760, Mode: "eager", CFG: true, BlockMS: 150, Step: 6, Schedule: 240}}}
	var buf bytes.Buffer
	if err := r.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip changed the report:\n got %+v\nwant %+v", got, r)
	}
	// Field names are the documented ones.
	var raw map[string]any
	buf.Reset()
	r.Encode(&buf)
	json.Unmarshal(buf.Bytes(), &raw)
	run := raw["runs"].([]any)[0].(map[string]any)
	for _, k := range []string{"width", "height", "frames", "tokens", "vram_budget", "status", "stages", "high_steps", "per_step_high", "total_estimate", "denoise_estimate", "peak", "swap_high"} {
		if _, ok := run[k]; !ok {
			t.Errorf("run JSON has no %q: %v", k, run)
		}
	}
	if !strings.Contains(buf.String(), `"measured_steps_per_expert": 2`) {
		t.Error("settings do not say how many steps were measured")
	}
	// The attention precision round-trips under its documented name.
	r.Settings.Attention = "int8"
	buf.Reset()
	r.Encode(&buf)
	if !strings.Contains(buf.String(), `"attention": "int8"`) {
		t.Errorf("settings JSON lacks the attention precision:\n%s", buf.String())
	}
	if got, err := Decode(&buf); err != nil || got.Settings.Attention != "int8" || got.Settings.AttentionOrDefault() != "int8" {
		t.Errorf("int8 attention read back as %q (%v)", got.Settings.Attention, err)
	}

	for _, bad := range []string{`{"schema":"wan22-bench/0","runs":[]}`, `not json`, `{}`} {
		if _, err := Decode(strings.NewReader(bad)); err == nil {
			t.Errorf("Decode(%q) accepted it", bad)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.json")
	if err := sample().WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if r, err := ReadFile(path); err != nil || len(r.Runs) != 6 {
		t.Fatalf("ReadFile: %v, %v", r, err)
	}
	// A failing writer leaves the old file as it was and no temporary file.
	before, _ := os.ReadFile(path)
	boom := errors.New("boom")
	if err := WriteAtomic(path, func(w io.Writer) error { w.Write([]byte("partial")); return boom }); !errors.Is(err, boom) {
		t.Fatalf("WriteAtomic: %v, want boom", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("a failed write changed the file")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
	if err := (&Report{}).WriteFile(filepath.Join(dir, "x.json")); err == nil {
		t.Error("a report without a schema was written")
	}
}

func TestTable(t *testing.T) {
	r := sample()
	r.Torch = &Torch{Schema: TorchSchema, GPU: "Test GPU", Torch: "2.11", Blocks: 40, ScheduleSteps: 40,
		Entries: []TorchEntry{{Width: 832, Height: 480, Frames: 81, Mode: "eager", CFG: true, Schedule: 240},
			{Width: 832, Height: 480, Frames: 81, Mode: "compiled", CFG: true, Schedule: 200}}}
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"measured 2 high + 2 low steps, extrapolated to 40 (15 high + 25 low",
		"Q8_0 experts (one file for both), bf16 attention\n",
		"832x480", "1280x720", "does not fit: needs at least 30.00 GiB", "failed: step 1: boom",
		"vae-encode", "video-write", "350.0", "240.0", "200.0", "20.00 GiB", "30 of 40 blocks resident",
		"4.00 GiB", // bytes moved per step: 8 GiB in the 2 measured high steps
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// A run that did not complete: its status is set off from the budget
	// column, not glued to it ("16 GiBdoes not fit").
	for _, want := range []string{"16 GiB  does not fit", "16 GiB  failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// TestBuildLine: the chart's build line names only what the machine
// recorded: no "commit " with nothing after it.
func TestBuildLine(t *testing.T) {
	for _, c := range []struct {
		m    Machine
		want string
	}{
		{Machine{Backend: "cpu", CPU: "Test CPU", Go: "go1.26", Commit: "abc123"}, "cpu · Test CPU · go1.26 · commit abc123"},
		{Machine{Backend: "cpu", Go: "go1.26", Commit: "abc123", Modified: true}, "cpu · go1.26 · commit abc123 (modified)"},
		{Machine{Backend: "cpu", CPU: "Test CPU", Go: "go1.26"}, "cpu · Test CPU · go1.26"},
		{Machine{}, ""},
	} {
		if got := buildLine(c.m); got != c.want {
			t.Errorf("buildLine(%+v) = %q, want %q", c.m, got, c.want)
		}
	}
	r := sample() // no commit recorded
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "commit") {
		t.Errorf("the page mentions a commit the report lacks:\n%s", buf.String())
	}
}

func TestHTML(t *testing.T) {
	r := sample()
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	doc := buf.String()
	for _, bad := range []string{"<script", "src=", "href=", "cdn", "@import"} {
		if strings.Contains(strings.ToLower(doc), bad) {
			t.Errorf("the page is not self-contained: it has %q", bad)
		}
	}
	// The page is well-formed XML: count the charts' elements.
	d := xml.NewDecoder(strings.NewReader(doc))
	counts := map[string]int{}
	var points []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, doc)
		}
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
			if se.Name.Local == "polyline" {
				for _, a := range se.Attr {
					if a.Name.Local == "points" {
						points = append(points, a.Value)
					}
				}
			}
		}
	}
	// Two charts (time, VRAM), two series (the budgets) of two points each.
	if counts["svg"] != 2 || counts["polyline"] != 4 || counts["circle"] != 8 {
		t.Errorf("svg %d, polyline %d, circle %d; want 2, 4, 8", counts["svg"], counts["polyline"], counts["circle"])
	}
	for _, p := range points {
		if n := len(strings.Fields(p)); n != 2 {
			t.Errorf("polyline points %q: want 2", p)
		}
		for _, xy := range strings.Fields(p) {
			var x, y float64
			if _, err := fmt.Sscanf(xy, "%f,%f", &x, &y); err != nil || x < padL || x > chartW-padR || y < padT || y > chartH-padB {
				t.Errorf("point %q outside the plot area (%v)", xy, err)
			}
		}
	}
	if !strings.Contains(doc, "does not fit: needs at least 30.00 GiB") {
		t.Error("the page's table lacks the run that does not fit")
	}
}

func TestCompare(t *testing.T) {
	old, cur := sample(), sample()
	cur.Runs[0].Total = old.Runs[0].Total / 2
	cur.Runs[0].Peak.VRAM = old.Runs[0].Peak.VRAM * 3 / 2
	cur.Runs = append(cur.Runs, Run{Width: 1280, Height: 720, Frames: 81, VRAMBudget: 32 << 30, Status: StatusOK, Total: 1})
	ratios, unmatched := Compare(old, cur)
	if len(ratios) != 4 {
		t.Fatalf("%d ratios, want 4 (the completed runs in both)", len(ratios))
	}
	if r := ratios[0]; r.Key != "832x480/81/32 GiB" || math.Abs(r.Total-0.5) > 1e-12 || math.Abs(r.PeakVRAM-1.5) > 1e-12 || r.PerStepHigh != 1 || r.PeakRSS != 1 {
		t.Errorf("first ratio %+v", r)
	}
	if !reflect.DeepEqual(unmatched, []string{"1280x720/81/32 GiB"}) {
		t.Errorf("unmatched %v", unmatched)
	}
	var buf bytes.Buffer
	if err := WriteCompare(&buf, "old.json", old, cur); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"0.500×", "1.500×", "1280x720/81/32 GiB: not in old.json"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("compare output lacks %q:\n%s", want, buf.String())
		}
	}
	if strings.Contains(buf.String(), "attention") {
		t.Errorf("a note on attention when both ran bf16:\n%s", buf.String())
	}
	// Another attention precision is a setting that differs: the output says so.
	cur.Settings.Attention = "fp8"
	buf.Reset()
	if err := WriteCompare(&buf, "old.json", old, cur); err != nil {
		t.Fatal(err)
	}
	if want := "note: the old report ran bf16 attention, this one fp8"; !strings.Contains(buf.String(), want) {
		t.Errorf("compare output lacks %q:\n%s", want, buf.String())
	}
}

func TestMachineParsers(t *testing.T) {
	cpuinfo := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9654 96-Core Processor\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 9654 96-Core Processor\n"
	if got := CPUModel([]byte(cpuinfo)); got != "AMD EPYC 9654 96-Core Processor" {
		t.Errorf("CPUModel = %q", got)
	}
	if got := CPUModel([]byte("processor : 0\nCPU part : 0xd0c\n")); got != "0xd0c" {
		t.Errorf("CPUModel(arm) = %q", got)
	}

	root := t.TempDir()
	dev := func(addr, vendor, class, speed, width string) {
		d := filepath.Join(root, addr)
		os.MkdirAll(d, 0o755)
		for k, v := range map[string]string{"vendor": vendor, "class": class, "current_link_speed": speed, "current_link_width": width,
			"max_link_speed": "32.0 GT/s PCIe", "max_link_width": "16"} {
			os.WriteFile(filepath.Join(d, k), []byte(v+"\n"), 0o644)
		}
	}
	dev("0000:17:00.0", "0x10de", "0x030200", "32.0 GT/s PCIe", "16") // the GPU
	dev("0000:17:00.1", "0x10de", "0x040300", "32.0 GT/s PCIe", "16") // its audio function
	dev("0000:00:01.0", "0x8086", "0x030000", "8.0 GT/s PCIe", "4")   // another vendor's display
	links := PCIeLinks(root)
	want := []PCIe{{Address: "0000:17:00.0", Speed: "32.0 GT/s PCIe", Width: "16", MaxSpeed: "32.0 GT/s PCIe", MaxWidth: "16"}}
	if !reflect.DeepEqual(links, want) {
		t.Errorf("PCIeLinks = %+v, want %+v", links, want)
	}
	if PCIeLinks(filepath.Join(root, "missing")) != nil {
		t.Error("a missing sysfs gave links")
	}

	gpus := ParseNvidiaSMI([]byte("NVIDIA H100 80GB HBM3, 580.159.04, 81559\n"),
		[]byte("| NVIDIA-SMI 580.159.04   Driver Version: 580.159.04   CUDA Version: 13.0     |"))
	if len(gpus) != 1 || gpus[0] != (GPU{Name: "NVIDIA H100 80GB HBM3", Driver: "580.159.04", CUDA: "13.0", Memory: 81559 << 20}) {
		t.Errorf("ParseNvidiaSMI = %+v", gpus)
	}
	m := CollectMachine("cpu", 1<<30)
	if m.Go == "" || m.Cores < 1 || m.RAM != 1<<30 || m.Backend != "cpu" {
		t.Errorf("CollectMachine = %+v", m)
	}
}

func TestReadTorch(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	good := write("good.json", `{"schema":"wan22-torch-e2e/1","gpu":"G","blocks":40,"schedule_steps":40,"entries":[
		{"width":832,"height":480,"frames":81,"tokens":32760,"mode":"eager","cfg":true,"block_ms":150,"step_seconds":12,"schedule_seconds":480}]}`)
	tr, err := ReadTorch(good)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := tr.Find(832, 480, 81, "eager", true); !ok || e.Schedule != 480 {
		t.Errorf("Find = %+v, %v", e, ok)
	}
	if _, ok := tr.Find(832, 480, 81, "compiled", true); ok {
		t.Error("found a compiled entry that is not there")
	}
	for name, s := range map[string]string{
		"schema.json":  `{"schema":"other","entries":[]}`,
		"entry.json":   `{"schema":"wan22-torch-e2e/1","entries":[{"width":832,"height":480,"frames":81}]}`,
		"garbage.json": `[1,2`,
	} {
		if _, err := ReadTorch(write(name, s)); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

// fewStep is sample as a 4-step distilled run switching after step 1, with
// a synthetic LoRA on the high-noise expert and a style LoRA on both: an
// uneven split measured whole.
func fewStep() *Report {
	r := sample()
	s := &r.Settings
	s.Solver, s.ScheduleSteps, s.ScheduleHigh, s.ScheduleLow, s.SwitchStep = "distill", 4, 1, 3, 1
	s.MeasuredSteps, s.GuidanceHigh, s.GuidanceLow = 3, 1, 1
	s.Timesteps = []float64{1000, 937.5, 833.3333, 625}
	s.LoRAs = []LoRA{{Path: "/s/synth-lora-high.safetensors", Strength: 1, Expert: "high", Synthetic: true}, {Path: "style.safetensors", Strength: 0.5, Expert: "both"}}
	for i := range r.Runs {
		run := &r.Runs[i]
		if run.Status == StatusOK {
			run.HighSteps, run.LowSteps = run.HighSteps[:1], append(run.LowSteps, 7)
			run.MeasuredHigh, run.MeasuredLow, run.Whole = 1, 3, true
		}
	}
	return r
}

// TestFewStepReport: the few-step fields survive the JSON under their
// documented names, and the table prints the uneven split as measured (1 +
// 3, not the larger count twice), the timesteps, the switch and the LoRAs.
func TestFewStepReport(t *testing.T) {
	r := fewStep()
	var buf bytes.Buffer
	if err := r.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	js := buf.String()
	got, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip changed the report:\n got %+v\nwant %+v", got, r)
	}
	for _, want := range []string{`"timesteps": [`, `"switch_step": 1`, `"measured_high": 1`, `"measured_low": 3`, `"whole": true`,
		`"path": "/s/synth-lora-high.safetensors"`, `"strength": 0.5`, `"expert": "both"`, `"synthetic": true`} {
		if !strings.Contains(js, want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	buf.Reset()
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"measured 1 high + 3 low steps: the whole 4-step schedule, nothing extrapolated (distill, shift 5, CFG 1/1)",
		"timesteps 1000,937.5,833.33,625 (shift 5 applied)\n",
		"experts switch after step 1\n",
		"LoRA /s/synth-lora-high.safetensors at strength 1 on the high-noise expert (synthetic)\n",
		"LoRA style.safetensors at strength 0.5 on both experts\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "3 high + 3 low") || strings.Contains(out, "extrapolated to") {
		t.Errorf("the table misstates the measured steps:\n%s", out)
	}
	buf.Reset()
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.UnescapeString(buf.String()), "measured 1 high + 3 low steps: the whole 4-step schedule") {
		t.Error("the chart's subtitle misstates the measured steps")
	}

	// Runs that measured differently are listed by split; with no
	// completed run the line gives the schedule alone.
	r.Runs[1].MeasuredHigh, r.Runs[1].MeasuredLow, r.Runs[1].Whole = 2, 2, false
	if line := r.scheduleLine(); !strings.HasPrefix(line, "measured 1 high + 3 low steps (whole) in 832x480/81/32 GiB, 832x480/81/24 GiB, 832x480/161/24 GiB; 2 high + 2 low steps in 832x480/161/32 GiB; the schedule: 4 steps (1 high + 3 low") {
		t.Errorf("mixed runs: %q", line)
	}
	r.Runs = r.Runs[4:]
	if line := r.scheduleLine(); !strings.HasPrefix(line, "no run completed; the schedule: 4 steps (1 high + 3 low, distill") {
		t.Errorf("no completed run: %q", line)
	}
}

// oldReport is a report as wan22 bench wrote it before the few-step
// fields (timesteps, switch_step, loras, measured_high, measured_low,
// whole): one completed run of 2 measured steps per expert.
const oldReport = `{
  "schema": "wan22-bench/1",
  "created": "2026-11-20T09:00:00Z",
  "command": ["--frames", "81"],
  "machine": {"os": "linux", "arch": "amd64", "cpu": "Test CPU", "cores": 16, "ram": 137438953472, "gpus": null, "pcie": null,
    "go": "go1.26", "commit": "", "modified": false, "backend": "cuda:0 Test GPU", "hostname": "h"},
  "settings": {"device": "cuda", "backend": "cuda:0 Test GPU",
    "models": {"high": "h.gguf", "low": "h.gguf", "text_encoder": "t.gguf", "vae": "v.safetensors", "kind": "synthetic", "expert_type": "Q8_0", "same_expert": true},
    "measured_steps_per_expert": 2, "schedule_steps": 40, "schedule_high_steps": 15, "schedule_low_steps": 25,
    "solver": "unipc", "shift": 5, "guidance_high": 3.5, "guidance_low": 3.5, "boundary": 0.9, "seed": 0, "pinned_budget": 0,
    "video_format": "avi", "video_kept": false},
  "runs": [
    {"width": 832, "height": 480, "frames": 81, "tokens": 32760, "vram_budget": 34359738368, "status": "ok",
     "stages": [{"name": "vae-encode", "seconds": 1, "peak": {"vram": 1, "pinned": 0, "rss": 1}}],
     "high_steps": [20, 16], "low_steps": [18, 16], "high_load": 3, "low_load": 3, "per_step_high": 16, "per_step_low": 16,
     "measured": 120, "denoise_estimate": 660, "total_estimate": 700,
     "peak": {"vram": 21474836480, "pinned": 0, "rss": 10737418240}, "plan_high": "40 blocks resident"}
  ]
}`

// TestOldReport: a report of the shape written before the few-step fields
// still reads, prints its measured steps from its step times, and serves
// --compare against a new few-step report, with a note that the workflows
// differ.
func TestOldReport(t *testing.T) {
	old, err := Decode(strings.NewReader(oldReport))
	if err != nil {
		t.Fatal(err)
	}
	run := &old.Runs[0]
	if h, l := run.MeasuredSteps(); h != 2 || l != 2 || run.Whole || old.Settings.Timesteps != nil || old.Settings.LoRAs != nil || old.Settings.SwitchStep != 0 {
		t.Errorf("old report read as %+v, run %+v", old.Settings, run)
	}
	var buf bytes.Buffer
	if err := old.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "measured 2 high + 2 low steps, extrapolated to 40 (15 high + 25 low, unipc, shift 5, CFG 3.5/3.5)") {
		t.Errorf("old report's table:\n%s", buf.String())
	}
	// It has no attention field: it ran bf16, and says so.
	if old.Settings.Attention != "" || old.Settings.AttentionOrDefault() != "bf16" || !strings.Contains(buf.String(), "bf16 attention") {
		t.Errorf("old report's attention %q; table:\n%s", old.Settings.Attention, buf.String())
	}
	cur := fewStep()
	ratios, _ := Compare(old, cur)
	if len(ratios) != 1 || ratios[0].Key != "832x480/81/32 GiB" || math.Abs(ratios[0].Total-350.0/700) > 1e-12 {
		t.Fatalf("ratios %+v", ratios)
	}
	buf.Reset()
	if err := WriteCompare(&buf, "old.json", old, cur); err != nil {
		t.Fatal(err)
	}
	want := "note: the old report ran a 40-step unipc schedule, CFG 3.5/3.5, no LoRA, this one a 4-step distill schedule switching after step 1, CFG 1/1, 2 LoRAs"
	if !strings.Contains(buf.String(), want) || !strings.Contains(buf.String(), "0.500×") {
		t.Errorf("compare output lacks %q:\n%s", want, buf.String())
	}
	// The same workflow gets no note.
	buf.Reset()
	WriteCompare(&buf, "old.json", old, sample())
	if strings.Contains(buf.String(), "note: the old report ran") {
		t.Errorf("a note for the same workflow and attention:\n%s", buf.String())
	}
}
