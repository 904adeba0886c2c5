package benchreport

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
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
			Solver: "unipc", Shift: 5, GuidanceHigh: 3.5, GuidanceLow: 3.5, Boundary: 0.9, VideoFormat: "avi",
			Models: Models{Kind: "synthetic", ExpertType: "Q8_0", SameExpert: true}},
	}
	for _, budget := range []int64{32 << 30, 24 << 30} {
		for i, frames := range []int{81, 161} {
			k := float64(i + 1)
			run := Run{Width: 832, Height: 480, Frames: frames, Tokens: 32760 * (i + 1), VRAMBudget: budget, Status: StatusOK,
				HighSteps: []float64{10 * k, 8 * k}, LowSteps: []float64{9 * k, 8 * k}, PerStepHigh: 8 * k, PerStepLow: 8 * k,
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
		"832x480", "1280x720", "does not fit: needs at least 30.00 GiB", "failed: step 1: boom",
		"vae-encode", "video-write", "350.0", "240.0", "200.0", "20.00 GiB", "30 of 40 blocks resident",
		"4.00 GiB", // bytes moved per step: 8 GiB in the 2 measured high steps
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
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
