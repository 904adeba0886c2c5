package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22"
	"github.com/wan22/wan22/blockswap"
	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/engine/lora"
	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/engine/t5"
	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/engine/vae"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/benchreport"
	"github.com/wan22/wan22/scheduler"
)

// runBenchCtx runs `wan22 bench args` and returns the exit status, stdout
// and stderr.
func runBenchCtx(ctx context.Context, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := bench(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// isolateTemp points the temporary folder at a fresh one, so a test can
// check that the bench leaves nothing in it.
func isolateTemp(t *testing.T) string {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	return dir
}

// TestBenchTiny runs the whole bench on the tiny models on the CPU and
// checks the report: every stage timed, the stages adding up to the
// measured run, the extrapolation, JSON, HTML, --compare and no leftovers.
func TestBenchTiny(t *testing.T) {
	tmp := isolateTemp(t)
	out := t.TempDir()
	js, html := filepath.Join(out, "r.json"), filepath.Join(out, "r.html")
	code, stdout, stderr := runBenchCtx(context.Background(), "--device", "cpu", "--frames", "5,9", "--size", "32x16", "--steps", "2",
		"--json", js, "--html", html)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "measured 2 high + 2 low steps, extrapolated to 40 (15 high + 25 low") {
		t.Errorf("the output does not say how the times were extrapolated:\n%s", stdout)
	}
	rep, err := benchreport.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Settings.Models.Kind != "tiny" || rep.Settings.Device != "cpu" || rep.Machine.Go == "" || len(rep.Runs) != 2 {
		t.Fatalf("report settings %+v, machine %+v, %d runs", rep.Settings, rep.Machine, len(rep.Runs))
	}
	// The schedule extrapolated to: its 40 timesteps as the scheduler gives
	// them, switching at the boundary, no LoRA.
	sol, err := scheduler.New("unipc", 40, 5)
	if err != nil {
		t.Fatal(err)
	}
	var want []float64
	for _, ts := range sol.Timesteps() {
		want = append(want, float64(ts))
	}
	if s := rep.Settings; !slices.Equal(s.Timesteps, want) || s.SwitchStep != 0 || s.LoRAs != nil {
		t.Errorf("timesteps %v (want %v), switch step %d, LoRAs %v", s.Timesteps, want, s.SwitchStep, s.LoRAs)
	}
	for _, r := range rep.Runs {
		if r.Status != benchreport.StatusOK || len(r.HighSteps) != 2 || len(r.LowSteps) != 2 || len(r.Stages) != len(benchreport.StageNames) ||
			r.MeasuredHigh != 2 || r.MeasuredLow != 2 || r.Whole {
			t.Fatalf("run %+v", r)
		}
		total := 0.0
		for i, s := range r.Stages {
			if s.Name != benchreport.StageNames[i] || !(s.Seconds > 0) {
				t.Errorf("%dx%d/%d: stage %d %+v", r.Width, r.Height, r.Frames, i, s)
			}
			total += s.Seconds
		}
		// The stages cover the run but for the image preparation and the
		// progress calls between them.
		if total > r.Measured || total < 0.8*r.Measured {
			t.Errorf("%d frames: stages add up to %.3f s of a %.3f s run", r.Frames, total, r.Measured)
		}
		high, _ := r.Stage("high-noise")
		if r.HighLoad <= 0 || r.HighLoad+r.HighSteps[0]+r.HighSteps[1] > high.Seconds {
			t.Errorf("high-noise %.3f s does not hold its load %.3f s and steps %v", high.Seconds, r.HighLoad, r.HighSteps)
		}
		wantDenoise := r.HighSteps[0] + 14*r.HighSteps[1] + r.LowSteps[0] + 24*r.LowSteps[1]
		if math.Abs(r.Denoise-wantDenoise) > 1e-9 || r.Total <= r.Measured || r.PerStepHigh != r.HighSteps[1] {
			t.Errorf("extrapolation: denoise %.3f (want %.3f), total %.3f, measured %.3f", r.Denoise, wantDenoise, r.Total, r.Measured)
		}
		if r.Peak.RSS <= 0 || r.PlanHigh != "2 blocks resident" || r.Tokens != ((r.Frames-1)/4+1)*(r.Width/16)*(r.Height/16) { // a token per 2×2 patch of the 8× smaller latent
			t.Errorf("peak %+v, plan %q, tokens %d", r.Peak, r.PlanHigh, r.Tokens)
		}
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(page, new(struct{})); err != nil || bytes.Count(page, []byte("<svg")) != 2 {
		t.Errorf("the chart is not well-formed XML with two <svg> (%v)", err)
	}

	// --compare with the report just written, without the fields older
	// versions did not write: it reads, and every ratio is printed.
	stripNewFields(t, js)
	code, stdout, stderr = runBenchCtx(context.Background(), "--device", "cpu", "--frames", "5", "--size", "32x16", "--steps", "1", "--compare", js)
	if code != 0 || !strings.Contains(stdout, "compared with "+js) || !strings.Contains(stdout, "32x16/5/all") || !strings.Contains(stdout, "×") {
		t.Errorf("--compare: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("left in the temporary folder: %v", ents)
	}
}

// stripNewFields rewrites the report at path in the shape wan22 bench wrote
// before the few-step fields (timesteps, switch_step, loras; per run
// measured_high, measured_low, whole).
func stripNewFields(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	settings := raw["settings"].(map[string]any)
	for _, k := range []string{"timesteps", "switch_step", "loras"} {
		delete(settings, k)
	}
	for _, r := range raw["runs"].([]any) {
		for _, k := range []string{"measured_high", "measured_low", "whole"} {
			delete(r.(map[string]any), k)
		}
	}
	if b, err = json.Marshal(raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("measured_high")) || bytes.Contains(b, []byte("timesteps")) {
		t.Fatal("the new fields are still there")
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tinyFiles writes the tiny models for tests that name model files.
func tinyFiles(t *testing.T) tinymodels.Paths {
	p, err := tinymodels.Write(t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBenchSameExpert: one expert file serves both experts, which wan22.Open
// refuses unless asked with AllowSameExpert, as the bench does.
func TestBenchSameExpert(t *testing.T) {
	isolateTemp(t)
	m := tinyFiles(t)
	same := wan22.Models{High: m.High, Low: m.High, TextEncoder: m.TextEncoder, VAE: m.VAE}
	if _, err := wan22.Open(context.Background(), same, wan22.Options{Device: "cpu"}); err == nil || !strings.Contains(err.Error(), "same file") {
		t.Errorf("wan22.Open with one file as both experts: %v", err)
	}
	js := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runBenchCtx(context.Background(), "--device", "cpu", "--high", m.High, "--text-encoder", m.TextEncoder, "--vae", m.VAE,
		"--frames", "5", "--size", "32x16", "--steps", "1", "--json", js)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	rep, err := benchreport.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Settings.Models
	if !s.SameExpert || s.Low != m.High || s.Kind != "real" || s.ExpertType != "Q8_0" || rep.Runs[0].Status != benchreport.StatusOK || len(rep.Runs[0].LowSteps) != 1 {
		t.Errorf("models %+v, run %+v", s, rep.Runs[0])
	}
	// Without --same-expert the low-noise expert is needed.
	code, _, stderr = runBenchCtx(context.Background(), "--device", "cpu", "--high", m.High, "--same-expert=false", "--text-encoder", m.TextEncoder, "--vae", m.VAE,
		"--frames", "5", "--size", "32x16", "--steps", "1", "--synth-dir", t.TempDir(), "--expert-type", "Q9")
	if code != 2 || !strings.Contains(stderr, "--expert-type") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

// smallSynth makes the synthetic models small for a test.
func smallSynth(t *testing.T) {
	benchSynthSizes = map[string]map[string]int{
		"dit": {"dim": 128, "layers": 1, "ffn-dim": 256, "text-dim": 64},
		"t5":  {"dim": 64, "layers": 1, "ffn-dim": 128, "heads": 2, "vocab": 1100},
	}
	t.Cleanup(func() { benchSynthSizes = nil })
}

// TestBenchSynthetic writes the missing models into --synth-dir, reuses
// them on the next run, and refuses a file of the wrong size.
func TestBenchSynthetic(t *testing.T) {
	isolateTemp(t)
	smallSynth(t)
	m := tinyFiles(t)
	dir := t.TempDir()
	args := []string{"--device", "cpu", "--vae", m.VAE, "--synth-dir", dir, "--frames", "5", "--size", "32x16", "--steps", "1", "--expert-type", "f16"}
	code, stdout, stderr := runBenchCtx(context.Background(), args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"F16 WAN i2v expert", "synthetic high-noise expert to " + filepath.Join(dir, "synth-dit-i2v-F16-seed1.gguf") + ": ", "umT5 encoder", "F16 experts (one file for both)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("synth dir holds %v, want the expert and the encoder", ents)
	}
	code, stdout, stderr = runBenchCtx(context.Background(), args...)
	if code != 0 || strings.Contains(stdout, "writing") || strings.Count(stdout, "reusing the synthetic") != 2 {
		t.Errorf("second run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// A file of another size in the way is not overwritten.
	expert := filepath.Join(dir, "synth-dit-i2v-F16-seed1.gguf")
	if err := os.WriteFile(expert, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runBenchCtx(context.Background(), args...)
	if code != 1 || !strings.Contains(stderr, "exists but is not the synthetic high-noise expert") {
		t.Errorf("wrong-size file: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(expert); string(b) != "not a model" {
		t.Error("the file in the way was overwritten")
	}
}

// TestBenchCancel: Ctrl-C in the middle of a run leaves no synthetic file,
// temporary video or folder, and no JSON or HTML.
func TestBenchCancel(t *testing.T) {
	tmp := isolateTemp(t)
	smallSynth(t)
	m := tinyFiles(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	benchProgress = func(ev wan22.Event) {
		if ev.Stage == wan22.HighNoise && ev.Step > 0 {
			cancel()
		}
	}
	defer func() { benchProgress = nil }()
	out := t.TempDir()
	code, stdout, stderr := runBenchCtx(ctx, "--device", "cpu", "--vae", m.VAE, "--frames", "5,9", "--size", "32x16", "--steps", "2",
		"--json", filepath.Join(out, "r.json"), "--html", filepath.Join(out, "r.html"))
	if code != exitInterrupted || !strings.Contains(stderr, "interrupted") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, d := range []string{tmp, out} {
		if ents, _ := os.ReadDir(d); len(ents) != 0 {
			t.Errorf("left in %s: %v", d, ents)
		}
	}
	// Cancelled before it starts: nothing is written either.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if code, _, _ := runBenchCtx(ctx2, "--device", "cpu", "--vae", m.VAE, "--frames", "5", "--size", "32x16", "--json", filepath.Join(out, "r.json")); code != exitInterrupted {
		t.Errorf("cancelled before the start: exit %d", code)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("left in %s: %v", tmp, ents)
	}
}

// fakeBudgets runs on the CPU for budgets of 32 GiB and more and fails
// smaller ones as the GPU would: the planner's error below 20 GiB, an
// unrelated failure at exactly 20.
type fakeBudgets struct {
	generator
	budget int64
}

func (f fakeBudgets) Generate(ctx context.Context, r wan22.Request, out wan22.Output) error {
	switch {
	case f.budget >= 32<<30:
		return f.generator.Generate(ctx, r, out)
	case f.budget == 20<<30:
		return errors.New("step 1: something broke")
	case f.budget == 8<<30: // the VAE's tiling plan, which pipeline.PlanStages returns as it is
		return &vae.BudgetError{Half: vae.Decoder, Width: r.Width, Height: r.Height, Need: 10 << 30, Budget: f.budget}
	}
	return fmt.Errorf("high-noise expert h.gguf: %w", &blockswap.BudgetError{Budget: f.budget, Need: 24 << 30})
}

// TestBenchBudgets: a budget at which a run does not fit is recorded with
// the minimum the planner gives, and the bench goes on; a failed run is
// recorded and makes the exit status 1.
func TestBenchBudgets(t *testing.T) {
	isolateTemp(t)
	m := tinyFiles(t)
	saved, savedCUDA := openGenerator, cudaAvailable
	defer func() { openGenerator, cudaAvailable = saved, savedCUDA }()
	cudaAvailable = func() bool { return true } // --device cuda; the runs go to the CPU
	openGenerator = func(ctx context.Context, models wan22.Models, o wan22.Options) (generator, error) {
		budget := o.VRAMBudget
		o.Device, o.VRAMBudget = "cpu", 0
		p, err := wan22.Open(ctx, models, o)
		return fakeBudgets{p, budget}, err
	}
	js := filepath.Join(t.TempDir(), "r.json")
	args := []string{"--device", "cuda", "--high", m.High, "--low", m.Low, "--text-encoder", m.TextEncoder, "--vae", m.VAE,
		"--frames", "5", "--size", "32x16", "--steps", "1", "--json", js}
	code, stdout, stderr := runBenchCtx(context.Background(), append(args, "--vram-budget", "32,16")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	rep, err := benchreport.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Runs) != 2 || rep.Runs[0].Status != benchreport.StatusOK || rep.Runs[0].VRAMBudget != 32<<30 {
		t.Fatalf("runs %+v", rep.Runs)
	}
	if r := rep.Runs[1]; r.Status != benchreport.StatusNoFit || r.MinVRAM != 24<<30 || !strings.Contains(r.Error, "too small") {
		t.Errorf("16 GiB run %+v", r)
	}
	if !strings.Contains(stdout, "does not fit: needs at least 24.00 GiB") {
		t.Errorf("the table does not show the minimum:\n%s", stdout)
	}
	if err := os.Remove(js); err != nil { // a report is never overwritten
		t.Fatal(err)
	}
	code, stdout, _ = runBenchCtx(context.Background(), append(args, "--vram-budget", "20,32")...)
	if code != 1 || !strings.Contains(stdout, "failed: step 1: something broke") {
		t.Errorf("a failed run: exit %d\n%s", code, stdout)
	}
	if rep, err := benchreport.ReadFile(js); err != nil || len(rep.Runs) != 2 || rep.Runs[1].Status != benchreport.StatusOK {
		t.Errorf("the bench did not go on after the failed run: %v", err)
	}
	// No run fits: the report is written, and the exit status says that
	// nothing was measured.
	if err := os.Remove(js); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runBenchCtx(context.Background(), append(args, "--vram-budget", "16")...)
	if code != 1 || !strings.Contains(stderr, "no run completed") || !strings.Contains(stdout, "does not fit") {
		t.Errorf("nothing fits: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// The library's refusal is recorded with the bench's own flags added.
	if err := os.Remove(js); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runBenchCtx(context.Background(), append(args, "--vram-budget", "8")...)
	if code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	rep, err = benchreport.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	want := "raise the VRAM budget to at least 10.00 GiB or lower the resolution. " +
		"In wan22 bench, raise --vram-budget (8 GiB in this run), or give 0 to use all free GPU memory"
	if r := rep.Runs[0]; r.Status != benchreport.StatusNoFit || r.MinVRAM != 10<<30 || !strings.HasSuffix(r.Error, want) {
		t.Errorf("8 GiB run %+v\nwant the error to end %q", r, want)
	}
}

// TestBenchVRAMBudgetOnCPU: a --vram-budget for a bench that runs on the
// CPU before anything opens (--device cpu, or auto in a binary without
// CUDA) is refused, as i2v and the demo refuse it, with the reason that
// applies; 0 (all free memory) is no budget, and a CUDA binary takes one.
func TestBenchVRAMBudgetOnCPU(t *testing.T) {
	isolateTemp(t)
	saved := cudaAvailable
	t.Cleanup(func() { cudaAvailable = saved })
	cudaAvailable = func() bool { return false }
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--vram-budget", "4"}, "wan22 bench: --vram-budget needs the GPU, and this binary was built without CUDA, so it runs on the CPU, which has no device memory to budget: leave --vram-budget out"},
		{[]string{"--device", "AUTO", "--vram-budget", "0,4"}, "wan22 bench: --vram-budget needs the GPU, and this binary was built without CUDA"},
		{[]string{"--device", "cpu", "--vram-budget", "4"}, "wan22 bench: --vram-budget needs the GPU (--device cuda): the CPU has no device memory to budget"},
	} {
		code, stdout, stderr := runBenchCtx(context.Background(), c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) || stdout != "" {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want 2 and %q", c.args, code, stderr, stdout, c.want)
		}
	}
	for _, c := range []struct {
		device, budgets string
		cuda            bool
	}{{"auto", "0", false}, {"cpu", "0", false}, {"auto", "0,4", true}, {"cuda", "4", true}} {
		cudaAvailable = func() bool { return c.cuda }
		f := benchFlags{steps: 2, scheduleSteps: 40, solver: "unipc", shift: 5, boundary: 0.9, cfg: "3.5", device: c.device, expertType: "Q8_0",
			frames: "5", sizes: "32x16", budgets: c.budgets, sameExpert: true, set: map[string]bool{}}
		if _, err := f.check(); err != nil {
			t.Errorf("--device %s --vram-budget %s (CUDA %v): %v", c.device, c.budgets, c.cuda, err)
		}
	}
}

// TestBenchBudgetAdvice: the library's memory refusal, which names no flag,
// gets the bench's flags that would change the run: --vram-budget for
// device memory when the run had one; when the models alone do not fit, a
// smaller --expert-type or --same-expert for synthetic experts (only where
// they would shrink the larger expert) or smaller files given; else a
// smaller --size or fewer --frames.
func TestBenchBudgetAdvice(t *testing.T) {
	dir := t.TempDir()
	file := func(name string, size int) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	small, big := file("small.gguf", 10), file("big.gguf", 20)
	q8 := benchPlan{expertType: gguf.TypeQ8_0}
	host := &wan22.BudgetError{What: "host memory", Need: 3 << 30, Budget: 1 << 30, Width: 832, Height: 480, Frames: 81, LargestStageOf: "VAE decode"}
	weights := func(stage wan22.Stage, name string) *wan22.BudgetError {
		e := *host
		e.Weights, e.WeightsStage, e.WeightsIn = 2<<30, name, stage
		return &e
	}
	device := fmt.Errorf("high-noise expert h.gguf: %w", &blockswap.BudgetError{Budget: 16 << 30, Need: 20 << 30})
	const (
		size       = "use a smaller --size or fewer --frames"
		expertType = "give a smaller --expert-type, Q4_K (Q8_0 now)"
		files      = "give smaller quantized expert files (--high, --low: Q8_0 or Q4_K_M GGUF)"
	)
	for _, c := range []struct {
		name   string
		err    error
		f      benchFlags
		p      benchPlan
		m      wan22.Models
		budget int64
		want   string // the advice; "" for the error unchanged
	}{
		{"video", host, benchFlags{sameExpert: true}, q8, wan22.Models{High: small, Low: small}, 0, size},
		{"device memory at a budget", device, benchFlags{sameExpert: true}, q8, wan22.Models{}, 16 << 30,
			"raise --vram-budget (16 GiB in this run), or give 0 to use all free GPU memory"},
		{"device memory, all free", device, benchFlags{sameExpert: true}, q8, wan22.Models{}, 0, ""},
		{"synthetic experts", weights(wan22.HighNoise, "high-noise"), benchFlags{sameExpert: true}, q8, wan22.Models{High: big, Low: big}, 0, expertType},
		{"synthetic experts already Q4_K", weights(wan22.HighNoise, "high-noise"), benchFlags{sameExpert: true}, benchPlan{expertType: gguf.TypeQ4_K},
			wan22.Models{High: big, Low: big}, 0, ""},
		{"a synthetic low expert larger than --high", weights(wan22.HighNoise, "high-noise"), benchFlags{high: small}, q8, wan22.Models{High: small, Low: big}, 0,
			expertType + "; or give --same-expert, so that --high " + small + " serves as the low-noise expert too, not a synthetic Q8_0 one"},
		{"a synthetic low expert smaller than --high", weights(wan22.HighNoise, "high-noise"), benchFlags{high: big}, q8, wan22.Models{High: big, Low: small}, 0, files},
		{"both experts given", weights(wan22.HighNoise, "high-noise"), benchFlags{high: big, low: small, sameExpert: true}, q8, wan22.Models{High: big, Low: small}, 0, files},
		{"text encoder given", weights(wan22.TextEncode, "text encode"), benchFlags{textEncoder: small, sameExpert: true}, q8, wan22.Models{}, 0,
			"give a smaller quantized --text-encoder file (Q8_0 or Q4_K_M GGUF)"},
		{"synthetic text encoder", weights(wan22.TextEncode, "text encode"), benchFlags{sameExpert: true}, q8, wan22.Models{}, 0, ""},
		{"the VAE", weights(wan22.VAEDecode, "VAE decode"), benchFlags{sameExpert: true}, q8, wan22.Models{}, 0, ""},
		{"no budget error", io.ErrUnexpectedEOF, benchFlags{}, q8, wan22.Models{}, 16 << 30, ""},
	} {
		err := withBenchBudgetAdvice(fmt.Errorf("run: %w", c.err), c.f, c.p, c.m, c.budget)
		want := "run: " + c.err.Error()
		if c.want != "" {
			want += ". In wan22 bench, " + c.want
		}
		if err.Error() != want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, err, want)
		}
		if !errors.Is(err, c.err) {
			t.Errorf("%s: %v does not wrap the library's error", c.name, err)
		}
	}
}

// TestBenchChecksFilesFirst: a model file given that is missing or of the
// wrong kind, and synthetic experts too large for the CPU's memory, are
// refused before any synthetic file is written.
func TestBenchChecksFilesFirst(t *testing.T) {
	tmp := isolateTemp(t)
	smallSynth(t)
	m := tinyFiles(t)
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--vae", filepath.Join(dir, "typo.safetensors")}, "--vae " + filepath.Join(dir, "typo.safetensors") + " does not exist: check the path"},
		{[]string{"--vae", m.TextEncoder}, "--vae " + m.TextEncoder + " is a "},
		{[]string{"--text-encoder", m.VAE}, "not a umT5 text encoder"},
		{[]string{"--high", m.VAE}, "not a WAN 2.2 i2v DiT expert"},
		{[]string{"--high", m.High, "--low", filepath.Join(dir, "typo.gguf")}, "--low " + filepath.Join(dir, "typo.gguf") + " does not exist: check the path"},
	} {
		args := append([]string{"--device", "cpu", "--synth-dir", dir, "--frames", "5", "--size", "32x16"}, c.args...)
		code, stdout, stderr := runBenchCtx(context.Background(), args...)
		if code != 2 || !strings.Contains(stderr, c.want) || strings.Contains(stdout, "writing") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q, nothing written\n%s", c.args, code, stderr, c.want, stdout)
		}
	}
	// Synthetic experts larger than the host memory available.
	saved := benchHostAvailable
	t.Cleanup(func() { benchHostAvailable = saved })
	benchHostAvailable = func() int64 { return 1 << 10 }
	code, stdout, stderr := runBenchCtx(context.Background(), "--device", "cpu", "--vae", m.VAE, "--synth-dir", dir, "--frames", "5", "--size", "32x16")
	if code != 1 || !strings.Contains(stderr, "the synthetic high-noise expert would be") || !strings.Contains(stderr, "no run can fit; give both experts as smaller files (--high, --low), or leave out the model files for the tiny set") ||
		strings.Contains(stderr, "--tiny") || strings.Contains(stdout, "writing") {
		t.Errorf("too large for the CPU: exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, d := range []string{dir, tmp} {
		if ents, _ := os.ReadDir(d); len(ents) != 0 {
			t.Errorf("left in %s: %v", d, ents)
		}
	}
}

func TestBenchClassify(t *testing.T) {
	for _, c := range []struct {
		err    error
		status string
		need   int64
	}{
		{fmt.Errorf("x: %w", &blockswap.BudgetError{Need: 7}), benchreport.StatusNoFit, 7},
		{fmt.Errorf("vae decode: %w", &vae.BudgetError{Need: 8}), benchreport.StatusNoFit, 8},
		{&t5.BudgetError{Need: 6}, benchreport.StatusNoFit, 6},
		{&wan22.BudgetError{What: "host memory", Need: 9}, benchreport.StatusNoFit, 0},
		{fmt.Errorf("vae: %w", &cuda.BudgetError{What: "device memory"}), benchreport.StatusNoFit, 0},
		{io.ErrUnexpectedEOF, benchreport.StatusFailed, 0},
	} {
		status, msg, need := classify(c.err)
		if status != c.status || need != c.need || msg != c.err.Error() {
			t.Errorf("classify(%v) = %s, %q, %d; want %s, %d", c.err, status, msg, need, c.status, c.need)
		}
	}
}

func TestExtrapolate(t *testing.T) {
	for _, c := range []struct {
		steps      []float64
		n          int
		per, total float64
	}{
		{[]float64{3, 1, 2}, 10, 1.5, 3 + 9*1.5},
		{[]float64{2}, 5, 2, 10},
		{[]float64{2, 1}, 0, 0, 0},
		{nil, 5, 0, 0},
	} {
		per, total := extrapolate(c.steps, c.n)
		if per != c.per || total != c.total {
			t.Errorf("extrapolate(%v, %d) = %g, %g; want %g, %g", c.steps, c.n, per, total, c.per, c.total)
		}
	}
	// The split of the official schedule, as the bench prints it.
	sol, _ := scheduler.New("unipc", 40, 5)
	g := scheduler.Guidance{Boundary: 0.9, High: 3.5, Low: 3.5}
	if n := g.HighNoiseSteps(sol.Timesteps()); n < 1 || n >= 40 {
		t.Errorf("high-noise steps of the official schedule: %d", n)
	}
}

// TestBenchBadFlags: every bad flag is refused before anything runs, with
// a message naming it.
func TestBenchBadFlags(t *testing.T) {
	tmp := isolateTemp(t)
	savedCUDA := cudaAvailable
	t.Cleanup(func() { cudaAvailable = savedCUDA })
	cudaAvailable = func() bool { return true } // the --device cuda cases check other flags
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.json")
	os.WriteFile(garbage, []byte("{not json"), 0o644)
	// A video of an earlier bench in --out-video is never replaced.
	videos := filepath.Join(dir, "videos")
	oldVideo := filepath.Join(videos, "bench-32x16-9f-all.avi")
	if err := os.MkdirAll(videos, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(oldVideo, []byte("an earlier video"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if b, err := os.ReadFile(oldVideo); err != nil || string(b) != "an earlier video" {
			t.Errorf("the earlier video in --out-video was changed: %q, %v", b, err)
		}
	}()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--frames", "80"}, "4k+1"},
		{[]string{"--frames", "81,,161"}, "empty item"},
		{[]string{"--frames", "81,81"}, "twice"},
		{[]string{"--frames", "eighty"}, "not a whole number"},
		{[]string{"--frames", "2049"}, "frames"},
		{[]string{"--size", "833x480"}, "16"},
		{[]string{"--size", "832x481"}, "16"},
		{[]string{"--size", "832"}, "WIDTHxHEIGHT"},
		{[]string{"--size", "8192x480"}, "width 8192 is above 4096"},
		{[]string{"--device", "cuda", "--vram-budget", "NaN"}, "--vram-budget NaN is out of range"},
		{[]string{"--device", "cuda", "--vram-budget", "32,-1"}, "--vram-budget -1 is out of range"},
		{[]string{"--device", "cuda", "--vram-budget", "1e9"}, "--vram-budget 1e+09 is out of range"},
		{[]string{"--device", "cuda", "--vram-budget", "Inf"}, "out of range"},
		{[]string{"--device", "cuda", "--vram-budget", "lots"}, "not a number of GiB"},
		{[]string{"--device", "cpu", "--vram-budget", "0,32"}, "--vram-budget needs the GPU (--device cuda): the CPU has no device memory to budget; leave --vram-budget out"},
		{[]string{"--pinned-budget", "-3"}, "--pinned-budget -3 is out of range"},
		{[]string{"--device", "cuda", "--expert-type", "Q9_9"}, "unknown --expert-type"},
		// The tiny model set has experts of its own: the synthetic experts' flags are refused.
		{[]string{"--tiny", "--expert-type", "F16"}, "--expert-type sets the type of synthetic full-size experts, and --tiny runs the tiny model set"},
		{[]string{"--tiny", "--same-expert=false"}, "--same-expert chooses between one and two synthetic full-size expert files, and --tiny"},
		{[]string{"--device", "cpu", "--same-expert=false"}, "--device cpu without model files runs the tiny model set"},
		// One file for both reports, however spelled.
		{[]string{"--json", filepath.Join(dir, "r.out"), "--html", filepath.Join(dir, "sub", "..", "r.out")}, "--json and --html name one file"},
		{[]string{"--steps", "0"}, "--steps 0 is out of range"},
		{[]string{"--schedule-steps", "1"}, "--schedule-steps"},
		{[]string{"--cfg", "0.5"}, "--cfg"},
		{[]string{"--cfg", "3,4,5"}, "HIGH,LOW"},
		{[]string{"--shift", "NaN"}, "--shift NaN is out of range: want a number greater than 0, at most 100"},
		{[]string{"--shift", "0"}, "--shift 0 is out of range: want a number greater than 0, at most 100"},
		{[]string{"--shift", "-1"}, "--shift -1 is out of range: want a number greater than 0, at most 100"},
		{[]string{"--shift", "101"}, "--shift 101 is out of range: want a number greater than 0, at most 100"},
		{[]string{"--shift", "+Inf"}, "--shift +Inf is out of range: want a number greater than 0, at most 100"},
		{[]string{"--solver", "magic"}, "magic"},
		{[]string{"--device", "tpu"}, `--device "tpu": use cpu, cuda or auto`},
		{[]string{"--attention", "int4"}, `--attention: attention precision "int4" not understood`},
		{[]string{"--device", "cpu", "--attention", "int8"}, "--attention int8: 8-bit attention needs the CUDA backend"},
		{[]string{"--tiny", "--device", "cpu", "--attention", "fp8"}, "8-bit attention needs the CUDA backend"},
		{[]string{"--tiny", "--vae", "v.safetensors"}, "--tiny"},
		{[]string{"--device", "cuda", "--low", "l.gguf"}, "--low without --high"},
		{[]string{"--json", filepath.Join(dir, "missing", "r.json")}, "does not exist"},
		{[]string{"--html", dir}, "is a folder"},
		{[]string{"--out-video", filepath.Join(dir, "missing")}, "--out-video"},
		{[]string{"--tiny", "--frames", "5,9", "--size", "32x16", "--out-video", videos}, "--out-video: " + oldVideo + " exists"},
		{[]string{"--compare", filepath.Join(dir, "missing.json")}, "--compare"},
		{[]string{"--compare", garbage}, "not a bench report"},
		{[]string{"--torch-json", garbage}, "wan_e2e.py"},
		{[]string{"--timesteps", "1000,500"}, "--timesteps is for --solver distill, not unipc"},
		{[]string{"--solver", "distill", "--timesteps", "1000,1200"}, "--timesteps"},
		{[]string{"--solver", "distill", "--schedule-steps", "5"}, "--schedule-steps 5: the distill solver's schedule is its --timesteps 1000,750,500,250"},
		{[]string{"--solver", "distill", "--steps", "2"}, "measured whole"},
		{[]string{"--switch-step", "3", "--boundary", "0.8"}, "not both"},
		{[]string{"--switch-step", "40"}, "--switch-step 40 is out of range"},
		{[]string{"--boundary", "0"}, "the bench times both experts"},
		{[]string{"--lora", filepath.Join(dir, "missing.safetensors")}, "--lora " + filepath.Join(dir, "missing.safetensors") + ": no such file"},
		{[]string{"--lora-high", "x.safetensors:strong"}, "not a number"},
		{[]string{"--synth-lora", "-1"}, "--synth-lora -1 is out of range"},
		{[]string{"--lora-merge"}, "--lora-merge merges the LoRAs given with"},
		{[]string{"--bogus"}, "bogus"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		code, stdout, stderr := runBenchCtx(context.Background(), c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) || strings.Contains(stdout, "measuring") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("left in the temporary folder: %v", ents)
	}
}

// TestBenchAttention: --attention reaches the library's Options and the
// report (JSON, table header), and --compare against a bf16 report notes
// the difference. The device is faked: the runs go to the CPU, which takes
// only bf16.
func TestBenchAttention(t *testing.T) {
	isolateTemp(t)
	m := tinyFiles(t)
	savedOpen, savedCUDA := openGenerator, cudaAvailable
	t.Cleanup(func() { openGenerator, cudaAvailable = savedOpen, savedCUDA })
	cudaAvailable = func() bool { return true }
	var asked []wan22.AttentionPrecision
	openGenerator = func(ctx context.Context, models wan22.Models, o wan22.Options) (generator, error) {
		asked = append(asked, o.Attention)
		o.Device, o.VRAMBudget, o.Attention = "cpu", 0, ""
		return wan22.Open(ctx, models, o)
	}
	dir := t.TempDir()
	args := []string{"--device", "cuda", "--high", m.High, "--low", m.Low, "--text-encoder", m.TextEncoder, "--vae", m.VAE,
		"--frames", "5", "--size", "32x16", "--steps", "1", "--no-history"}
	bf16 := filepath.Join(dir, "bf16.json")
	if code, stdout, stderr := runBenchCtx(context.Background(), append(args, "--json", bf16)...); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	int8 := filepath.Join(dir, "int8.json")
	code, stdout, stderr := runBenchCtx(context.Background(), append(args, "--attention", "INT8", "--json", int8, "--compare", bf16)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !slices.Equal(asked, []wan22.AttentionPrecision{wan22.AttentionBF16, wan22.AttentionINT8}) {
		t.Errorf("Options.Attention of the runs: %q", asked)
	}
	for path, want := range map[string]string{bf16: "bf16", int8: "int8"} {
		rep, err := benchreport.ReadFile(path)
		if err != nil || rep.Settings.Attention != want {
			t.Errorf("%s: attention %q, want %q (%v)", path, rep.Settings.Attention, want, err)
		}
	}
	for _, want := range []string{"int8 attention\n", "Q8_0 high/Q4_K low experts, int8 attention\n", "note: the old report ran bf16 attention, this one int8"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the output lacks %q:\n%s", want, stdout)
		}
	}
}

// TestBenchDistillLoRA: the 4-step distilled workflow with a synthetic LoRA
// per expert on the tiny models, measured whole (nothing extrapolated),
// reported with guidance 1, 4 steps and the LoRAs; the LoRAs are real
// ComfyUI-style files of the rank asked, reused on the next run, and they
// change the video.
func TestBenchDistillLoRA(t *testing.T) {
	tmp := isolateTemp(t)
	dir, videos, videosPlain := t.TempDir(), t.TempDir(), t.TempDir()
	js := filepath.Join(t.TempDir(), "r.json")
	args := []string{"--tiny", "--frames", "5", "--size", "32x16", "--solver", "distill", "--synth-lora", "4", "--synth-dir", dir, "--json", js}
	code, stdout, stderr := runBenchCtx(context.Background(), append(args, "--out-video", videos)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	tiny := tinymodels.DiT()
	high := filepath.Join(dir, fmt.Sprintf("synth-lora-r4-dim%d-%dblocks-high-seed1.safetensors", tiny.Dim, tiny.Layers))
	low := filepath.Join(dir, fmt.Sprintf("synth-lora-r4-dim%d-%dblocks-low-seed2.safetensors", tiny.Dim, tiny.Layers))
	for _, want := range []string{
		"measuring the whole 4-step schedule in each run (2 high + 2 low steps), nothing extrapolated",
		"solver distill (timesteps 1000,750,500,250), shift 5, guidance 1 (no unconditional pass), experts switch at boundary 0.9",
		"LoRA " + high + " at strength 1 on the high-noise expert",
		"LoRA " + low + " at strength 1 on the low-noise expert",
		fmt.Sprintf("writing the synthetic LoRA of the high-noise expert to %s: ", high),
		fmt.Sprintf(", rank-4 BF16 LoRA (every attention and FFN linear of %d blocks)\n", tiny.Layers),
		"measured 2 high + 2 low steps: the whole 4-step schedule, nothing extrapolated (distill, shift 5, CFG 1/1)",
		"LoRA " + high + " at strength 1 on the high-noise expert (synthetic, rank 4)\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	rep, err := benchreport.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Settings
	if s.Solver != "distill" || s.GuidanceHigh != 1 || s.GuidanceLow != 1 || s.ScheduleSteps != 4 || s.ScheduleHigh != 2 || s.ScheduleLow != 2 {
		t.Errorf("settings %+v", s)
	}
	d, err := scheduler.NewDistilled(scheduler.DefaultDistillTimesteps, 5)
	if err != nil {
		t.Fatal(err)
	}
	wantLoRAs := []benchreport.LoRA{{Path: high, Strength: 1, Expert: "high", Synthetic: true, Rank: 4}, {Path: low, Strength: 1, Expert: "low", Synthetic: true, Rank: 4}}
	if !slices.Equal(s.Timesteps, d.Timesteps()) || s.SwitchStep != 0 || !slices.Equal(s.LoRAs, wantLoRAs) || s.LoRAMerge {
		t.Errorf("timesteps %v (want %v), switch step %d, LoRAs %+v", s.Timesteps, d.Timesteps(), s.SwitchStep, s.LoRAs)
	}
	r := rep.Runs[0]
	if r.Status != benchreport.StatusOK || len(r.HighSteps) != 2 || len(r.LowSteps) != 2 || r.Total != r.Measured ||
		r.MeasuredHigh != 2 || r.MeasuredLow != 2 || !r.Whole ||
		math.Abs(r.Denoise-(r.HighSteps[0]+r.HighSteps[1]+r.LowSteps[0]+r.LowSteps[1])) > 1e-9 {
		t.Errorf("run %+v", r)
	}
	for _, c := range []struct{ path, expert string }{{high, "high"}, {low, "low"}} {
		sum, err := lora.Inspect(c.path)
		if err != nil {
			t.Fatal(err)
		}
		// 8 attention and 2 FFN linears in each block.
		if sum.Style.Format != "lora_down/lora_up" || sum.Adapters != 10*tiny.Layers || !slices.Equal(sum.Ranks, []int{4}) ||
			!slices.Equal(sum.Alphas, []float32{4}) || !slices.Contains(sum.Types, "BF16") || sum.Expert != c.expert {
			t.Errorf("%s: %+v", c.path, sum)
		}
	}

	// Again: the LoRAs are reused. Without them the same run makes another
	// video.
	if err := os.Remove(js); err != nil { // a report is never overwritten
		t.Fatal(err)
	}
	// Merged at load this time: the report says so (--from-json keeps it
	// apart from the run-time LoRAs' reports).
	code, stdout, stderr = runBenchCtx(context.Background(), append(slices.Clone(args), "--lora-merge")...)
	if code != 0 || strings.Count(stdout, "reusing the synthetic LoRA") != 2 || strings.Contains(stdout, "writing") {
		t.Errorf("second run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if rep, err := benchreport.ReadFile(js); err != nil || !rep.Settings.LoRAMerge {
		t.Errorf("--lora-merge's report: %v, lora_merge %v", err, err == nil && rep.Settings.LoRAMerge)
	}
	code, stdout, stderr = runBenchCtx(context.Background(), "--tiny", "--frames", "5", "--size", "32x16", "--solver", "distill", "--out-video", videosPlain)
	if code != 0 || strings.Contains(stdout, "LoRA") {
		t.Fatalf("without LoRAs: exit %d\n%s\n%s", code, stdout, stderr)
	}
	name := "bench-32x16-5f-all.avi"
	with, err1 := os.ReadFile(filepath.Join(videos, name))
	without, err2 := os.ReadFile(filepath.Join(videosPlain, name))
	if err1 != nil || err2 != nil {
		t.Fatalf("videos: %v, %v (kept: %v)", err1, err2, dirEntries(t, videos))
	}
	if bytes.Equal(with, without) {
		t.Error("the synthetic LoRAs do not change the video")
	}
	// A LoRA for another model is refused before any run, naming it.
	c2 := tiny
	c2.Dim, c2.Heads = 2*tiny.Dim, 2*tiny.Heads
	wide := writeSynthLoRA(t, modelfile.DiTConfig{Dim: c2.Dim, FFNDim: c2.FFNDim, Layers: c2.Layers}, 4, "wide.safetensors")
	code, stdout, stderr = runBenchCtx(context.Background(), "--tiny", "--frames", "5", "--size", "32x16", "--solver", "distill", "--lora-low", wide+":0.5")
	if code != 1 || !strings.Contains(stderr, "wide.safetensors") || strings.Contains(stdout, "measuring") {
		t.Errorf("a LoRA of another width: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("left in the temporary folder: %v", ents)
	}
}

// writeSynthLoRA writes a synthetic LoRA of rank for an expert of shape c
// into a temporary folder under name and returns its path.
func writeSynthLoRA(t *testing.T, c modelfile.DiTConfig, rank int, name string) string {
	t.Helper()
	j, err := planSynthLoRA(c, rank, "high-noise", 9)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := j.write(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBenchSchedulePlan: what each solver setting measures and how it maps
// onto the schedule.
func TestBenchSchedulePlan(t *testing.T) {
	for _, c := range []struct {
		args                   []string
		whole                  bool
		high, low              int // the schedule's split
		steps, switchStep      int // the measured request
		timesteps              []int
		guidanceHigh, guidance float64
	}{
		{[]string{}, false, 15, 25, 4, 2, nil, 3.5, 3.5},
		{[]string{"--solver", "distill"}, true, 2, 2, 4, 2, []int{1000, 750, 500, 250}, 1, 1},
		{[]string{"--solver", "distill", "--switch-step", "1", "--cfg", "2,1"}, true, 1, 3, 4, 1, []int{1000, 750, 500, 250}, 2, 1},
		{[]string{"--solver", "distill", "--timesteps", "1000,900,800,700,600,500,400,300,200,100", "--steps", "1"}, false, 4, 6, 2, 1, []int{1000, 600}, 1, 1},
		{[]string{"--solver", "euler", "--schedule-steps", "6", "--cfg", "1"}, true, 3, 3, 6, 3, nil, 1, 1},
		{[]string{"--schedule-steps", "8", "--switch-step", "4"}, true, 4, 4, 8, 4, nil, 3.5, 3.5},
		// --steps beyond an expert's share of the schedule measures the
		// share; both shares so are the whole schedule.
		{[]string{"--steps", "20", "--schedule-steps", "10", "--switch-step", "4"}, true, 4, 6, 10, 4, nil, 3.5, 3.5},
		{[]string{"--switch-step", "39"}, false, 39, 1, 3, 2, nil, 3.5, 3.5},
		{[]string{"--solver", "distill", "--timesteps", "1000,900,800,700,600,500,400,300,200", "--steps", "5"}, true, 4, 5, 9, 4, []int{1000, 900, 800, 700, 600, 500, 400, 300, 200}, 1, 1},
		{[]string{"--solver", "distill", "--timesteps", "1000,900,800,700,600,500,400,300,200", "--steps", "4"}, false, 4, 5, 8, 4, []int{1000, 900, 800, 700, 600, 500, 400, 300}, 1, 1},
	} {
		f := benchFlags{steps: 2, scheduleSteps: 40, solver: "unipc", shift: 5, boundary: 0.9, cfg: "3.5", device: "cpu", expertType: "Q8_0", frames: "5", sizes: "32x16", budgets: "0"}
		f.set = map[string]bool{}
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.StringVar(&f.solver, "solver", f.solver, "")
		fs.StringVar(&f.timestepList, "timesteps", "", "")
		fs.IntVar(&f.switchStep, "switch-step", 0, "")
		fs.IntVar(&f.steps, "steps", f.steps, "")
		fs.IntVar(&f.scheduleSteps, "schedule-steps", f.scheduleSteps, "")
		fs.StringVar(&f.cfg, "cfg", f.cfg, "")
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
		p, err := f.check()
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if p.whole != c.whole || p.scheduleHigh != c.high || p.scheduleLow != c.low || p.reqSteps != c.steps || p.reqSwitch != c.switchStep ||
			!slices.Equal(p.reqTimesteps, c.timesteps) || p.guidanceHigh != c.guidanceHigh || p.guidanceLow != c.guidance {
			t.Errorf("%q: whole %v, split %d+%d, request %d steps switching after %d, timesteps %v, guidance %g/%g",
				c.args, p.whole, p.scheduleHigh, p.scheduleLow, p.reqSteps, p.reqSwitch, p.reqTimesteps, p.guidanceHigh, p.guidanceLow)
		}
	}
}

// TestSynthLoRASize: the planned size of a synthetic LoRA is the written
// file's, and a rank wider than the expert is refused.
func TestSynthLoRASize(t *testing.T) {
	c := tinymodels.DiT()
	cfg := modelfile.DiTConfig{Dim: c.Dim, FFNDim: c.FFNDim, Layers: c.Layers}
	for _, rank := range []int{1, 7, 64} {
		j, err := planSynthLoRA(cfg, rank, "high-noise", 5)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "l.safetensors")
		if err := j.write(path); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(path); err != nil || st.Size() != j.size {
			t.Errorf("rank %d: planned %d bytes, wrote %v (%v)", rank, j.size, st.Size(), err)
		}
	}
	if _, err := planSynthLoRA(cfg, c.Dim+1, "low-noise", 1); err == nil || !strings.Contains(err.Error(), "--synth-lora") {
		t.Errorf("rank %d on width %d: %v", c.Dim+1, c.Dim, err)
	}
}

// TestBenchSwitchStep: --switch-step 1 splits the 4-step distilled schedule
// 1 + 3; the report and the table give that uneven split as measured (not
// the larger count for both), the switch, and the LoRAs in order, a given
// one with its strength before the synthetic ones.
func TestBenchSwitchStep(t *testing.T) {
	isolateTemp(t)
	tiny := tinymodels.DiT()
	style := writeSynthLoRA(t, modelfile.DiTConfig{Dim: tiny.Dim, FFNDim: tiny.FFNDim, Layers: tiny.Layers}, 2, "style.safetensors")
	dir := t.TempDir()
	js := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runBenchCtx(context.Background(), "--tiny", "--frames", "5", "--size", "32x16", "--solver", "distill", "--switch-step", "1",
		"--lora-low", style+":0.5", "--synth-lora", "2", "--synth-dir", dir, "--json", js)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"measured 1 high + 3 low steps: the whole 4-step schedule, nothing extrapolated (distill, shift 5, CFG 1/1)",
		"experts switch after step 1\n",
		"LoRA " + style + " at strength 0.5 on the low-noise expert\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "3 high + 3 low") {
		t.Errorf("the larger count printed for both experts:\n%s", stdout)
	}
	rep, err := benchreport.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Settings
	if s.SwitchStep != 1 || s.ScheduleHigh != 1 || s.ScheduleLow != 3 || len(s.Timesteps) != 4 {
		t.Errorf("settings %+v", s)
	}
	if len(s.LoRAs) != 3 || s.LoRAs[0] != (benchreport.LoRA{Path: style, Strength: 0.5, Expert: "low"}) ||
		!s.LoRAs[1].Synthetic || s.LoRAs[1].Expert != "high" || filepath.Dir(s.LoRAs[1].Path) != dir ||
		!s.LoRAs[2].Synthetic || s.LoRAs[2].Expert != "low" {
		t.Errorf("LoRAs %+v", s.LoRAs)
	}
	r := rep.Runs[0]
	if r.Status != benchreport.StatusOK || r.MeasuredHigh != 1 || r.MeasuredLow != 3 || !r.Whole || len(r.HighSteps) != 1 || len(r.LowSteps) != 3 {
		t.Errorf("run %+v", r)
	}
}

// TestBenchDiskAdvice: the bench's disk-space refusal names the space it
// leaves free, and advises only flags that would change something.
func TestBenchDiskAdvice(t *testing.T) {
	dir := t.TempDir()
	huge := synthFile{role: "high-noise expert", path: filepath.Join(dir, "x.gguf"), synthJob: synthJob{what: "expert", size: 1 << 60}}
	err := materialize(context.Background(), dir, []synthFile{huge}, "free some space", io.Discard)
	if err == nil {
		t.Skip("the file system reports no free space (or an exabyte of it)")
	}
	for _, want := range []string{"not enough disk space in " + dir, "of which 64 MiB stay free for the system", "; free some space"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if _, err := os.Stat(huge.path); err == nil {
		t.Error("the file was written")
	}
	for _, c := range []struct {
		f    benchFlags
		et   gguf.Type
		want []string
		not  []string
	}{
		{benchFlags{sameExpert: true}, gguf.TypeQ8_0, []string{"--expert-type Q4_K"}, []string{"--same-expert"}},
		{benchFlags{sameExpert: false}, gguf.TypeF16, []string{"leave --same-expert on", "--expert-type Q4_K"}, nil},
		{benchFlags{sameExpert: true}, gguf.TypeQ4_K, nil, []string{"--same-expert", "--expert-type"}},
		{benchFlags{sameExpert: false, high: "h.gguf"}, gguf.TypeQ8_0, nil, []string{"--same-expert", "--expert-type"}},
	} {
		got := expertSpaceAdvice(c.f, benchPlan{expertType: c.et})
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%+v, %v: %q lacks %q", c.f, c.et, got, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(got, n) {
				t.Errorf("%+v, %v: %q advises %q, which changes nothing", c.f, c.et, got, n)
			}
		}
	}
}

// TestBenchInterruptedMessage: the message of a stopped bench says which
// synthetic files stay.
func TestBenchInterruptedMessage(t *testing.T) {
	if got := interruptedCleanup(benchFlags{}); got != "the synthetic and temporary files were removed" {
		t.Errorf("default: %q", got)
	}
	if got := interruptedCleanup(benchFlags{synthDir: "/s"}); !strings.Contains(got, "the finished synthetic files stay in /s for reuse") {
		t.Errorf("--synth-dir: %q", got)
	}
	if got := interruptedCleanup(benchFlags{keepSynth: true}); !strings.Contains(got, "--keep-synth") {
		t.Errorf("--keep-synth: %q", got)
	}
}

// TestBenchStepsCapped: --steps beyond an expert's share of the schedule
// measures the share (the steps the schedule runs), and the output says so;
// both shares measured so are the whole schedule, nothing extrapolated.
func TestBenchStepsCapped(t *testing.T) {
	isolateTemp(t)
	js := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runBenchCtx(context.Background(), "--tiny", "--frames", "1", "--size", "32x32", "--steps", "20", "--schedule-steps", "10", "--json", js)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	rep := mustRead(t, js)
	s, r := rep.Settings, rep.Runs[0]
	want := fmt.Sprintf("measuring the whole 10-step schedule in each run (%d high + %d low steps), nothing extrapolated (--steps 20 is more than the high-noise expert's %d steps of the schedule: %d measured, and the low-noise expert's %d steps of the schedule: %d measured)",
		s.ScheduleHigh, s.ScheduleLow, s.ScheduleHigh, s.ScheduleHigh, s.ScheduleLow, s.ScheduleLow)
	if !strings.Contains(stdout, want) {
		t.Errorf("output lacks %q:\n%s", want, stdout)
	}
	if r.MeasuredHigh != s.ScheduleHigh || r.MeasuredLow != s.ScheduleLow || len(r.HighSteps) != s.ScheduleHigh || len(r.LowSteps) != s.ScheduleLow || !r.Whole {
		t.Errorf("measured %d+%d (%d+%d step times) of a %d+%d schedule", r.MeasuredHigh, r.MeasuredLow, len(r.HighSteps), len(r.LowSteps), s.ScheduleHigh, s.ScheduleLow)
	}
}
