package benchreport

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const h100 = "cuda:0 NVIDIA H100 80GB HBM3"

// benchDocs reads the committed H100 reports of docs/bench with Q8_0 experts (the cases below are
// written against those; every other report there must still read as a report).
func benchDocs(t *testing.T) []Report {
	t.Helper()
	all, err := filepath.Glob("../../docs/bench/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if _, err := ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	paths, err := filepath.Glob("../../docs/bench/*q8_0*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no reports in ../../docs/bench (%v)", err)
	}
	var reps []Report
	for _, p := range paths {
		r, err := ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, *r)
	}
	return reps
}

// findRun returns the report and run of docs/bench at 832×480 with the given frames and budget.
func findRun(t *testing.T, reps []Report, frames int, budget int64) (*Report, *Run) {
	for i := range reps {
		for j := range reps[i].Runs {
			if r := &reps[i].Runs[j]; r.Frames == frames && r.VRAMBudget == budget && r.Width == 832 && r.Height == 480 {
				return &reps[i], r
			}
		}
	}
	t.Fatalf("docs/bench has no run of %d frames at %s", frames, BudgetLabel(budget))
	return nil, nil
}

func TestEstimateExactRun(t *testing.T) {
	reps := benchDocs(t)
	_, want := findRun(t, reps, 81, 32<<30)
	sec, basis, ok := Estimate(reps, h100, 81, 832, 480, 40, true, 32<<30, "Q8_0", "")
	if !ok {
		t.Fatal("no estimate for a benched run")
	}
	// The whole 40-step schedule at the bench's own settings is its total estimate.
	if math.Abs(sec-want.Total) > 1e-6 {
		t.Errorf("estimate %.6f s, the bench's total_estimate %.6f s", sec, want.Total)
	}
	if basis != "from the bench of 2026-12-06 on this GPU: 81 frames 832x480, 32 GiB" {
		t.Errorf("basis %q", basis)
	}
	// 16 GiB has its own run (a slower one: more blocks swapped).
	_, want16 := findRun(t, reps, 81, 16<<30)
	sec16, basis16, ok := Estimate(reps, "cuda:1 NVIDIA H100 80GB HBM3", 81, 832, 480, 40, true, 16<<30, "", "")
	if !ok || math.Abs(sec16-want16.Total) > 1e-6 || !strings.HasSuffix(basis16, "16 GiB") {
		t.Errorf("16 GiB: %.3f s (want %.3f) %q %v", sec16, want16.Total, basis16, ok)
	}
	// 24 GiB has its own run too.
	_, want24 := findRun(t, reps, 81, 24<<30)
	if sec24, _, ok := Estimate(reps, h100, 81, 832, 480, 40, true, 24<<30, "", ""); !ok || math.Abs(sec24-want24.Total) > 1e-6 {
		t.Errorf("24 GiB: %.3f s, want the 24 GiB run's %.3f", sec24, want24.Total)
	}
	// 20 GiB: the smallest budget at least that large, 24 GiB.
	if sec20, _, ok := Estimate(reps, h100, 81, 832, 480, 40, true, 20<<30, "", ""); !ok || math.Abs(sec20-want24.Total) > 1e-6 {
		t.Errorf("20 GiB: %.3f s, want the 24 GiB run's %.3f", sec20, want24.Total)
	}
	// All free memory: no run at 0, so the largest budget.
	if sec0, _, ok := Estimate(reps, h100, 81, 832, 480, 40, true, 0, "", ""); !ok || sec0 != sec {
		t.Errorf("all memory: %.3f s, want the 32 GiB run's %.3f", sec0, sec)
	}
	// Without CFG the steps take half as long; the rest is unchanged.
	nocfg, basis, ok := Estimate(reps, h100, 81, 832, 480, 40, false, 32<<30, "", "")
	steady := (want.PerStepHigh*15 + want.PerStepLow*25) / 2
	if !ok || math.Abs((sec-nocfg)-steady) > 1e-6 || !strings.Contains(basis, "without CFG") {
		t.Errorf("without CFG: %.3f s, want %.3f less than %.3f (%q)", nocfg, steady, sec, basis)
	}
	// 20 steps: the bench's split halved, 8+12 rounded from 7.5.
	half, basis, ok := Estimate(reps, h100, 81, 832, 480, 20, true, 32<<30, "", "")
	if wantHalf := sec - want.PerStepHigh*7 - want.PerStepLow*13; !ok || math.Abs(half-wantHalf) > 1e-6 || !strings.Contains(basis, "8+12 steps for its 15+25") {
		t.Errorf("20 steps: %.3f s, want %.3f (%q)", half, wantHalf, basis)
	}
}

func TestEstimateAttention(t *testing.T) {
	reps := benchDocs(t)
	bf16, _, ok := Estimate(reps, h100, 81, 832, 480, 40, true, 32<<30, "Q8_0", "bf16")
	if !ok {
		t.Fatal("the reports of older versions (no attention field) do not count as bf16")
	}
	if _, _, ok := Estimate(reps, h100, 81, 832, 480, 40, true, 32<<30, "Q8_0", "int8"); ok {
		t.Error("an int8 estimate from bf16 reports")
	}
	// The same reports as int8 benches: only an int8 run is estimated from them.
	int8Reps := slices.Clone(reps)
	for i := range int8Reps {
		int8Reps[i].Settings.Attention = "int8"
	}
	if _, _, ok := Estimate(int8Reps, h100, 81, 832, 480, 40, true, 32<<30, "Q8_0", ""); ok {
		t.Error("a bf16 estimate from int8 reports")
	}
	sec, _, ok := Estimate(int8Reps, h100, 81, 832, 480, 40, true, 32<<30, "Q8_0", "INT8")
	if !ok || sec != bf16 {
		t.Errorf("int8 from int8 reports: %.3f s %v, want %.3f", sec, ok, bf16)
	}
}

func TestEstimateScaledFrames(t *testing.T) {
	reps := benchDocs(t)
	_, r161 := findRun(t, reps, 161, 32<<30)
	// 181 frames: 161 is the nearest at 832x480 and 32 GiB.
	sec, basis, ok := Estimate(reps, h100, 181, 832, 480, 40, true, 32<<30, "Q8_0", "")
	if !ok {
		t.Fatal("no estimate")
	}
	if basis != "from the bench of 2026-12-06 on this GPU: scaled from 161 frames 832x480, 32 GiB" {
		t.Errorf("basis %q", basis)
	}
	scale := math.Pow(float64(Tokens(181, 832, 480))/float64(r161.Tokens), 1.5)
	want := r161.Total - r161.Denoise + (r161.HighSteps[0] - r161.PerStepHigh) + (r161.LowSteps[0] - r161.PerStepLow) +
		scale*(15*r161.PerStepHigh+25*r161.PerStepLow)
	if math.Abs(sec-want) > 1e-6 || sec <= r161.Total {
		t.Errorf("181 frames: %.3f s, want %.3f (161 frames: %.3f)", sec, want, r161.Total)
	}
	// The (L2/L1)^1.5 rule from 81 frames predicts 161 within 15 % of what was measured.
	only81 := []Report{reps[0]}
	for _, r := range reps {
		if len(r.Runs) == 1 && r.Runs[0].Frames == 81 && r.Runs[0].VRAMBudget == 16<<30 {
			only81 = []Report{r}
		}
	}
	pred, basis, ok := Estimate(only81, h100, 161, 832, 480, 40, true, 16<<30, "", "")
	if !ok || !strings.Contains(basis, "scaled from 81 frames") || math.Abs(pred/r161.Total-1) > 0.15 {
		t.Errorf("161 from 81 frames: %.1f s (%q), measured %.1f s", pred, basis, r161.Total)
	}
}

func TestEstimateNoMatch(t *testing.T) {
	reps := benchDocs(t)
	for _, c := range []struct {
		name, device, expert string
		w, h                 int
		budget               int64
	}{
		{"another GPU", "cuda:0 NVIDIA GeForce RTX 5090", "", 832, 480, 32 << 30},
		{"the CPU", "cpu", "", 832, 480, 0},
		{"no device", "", "", 832, 480, 0},
		{"another size", h100, "", 1024, 576, 32 << 30},
		{"a larger budget than benched", h100, "", 832, 480, 40 << 30},
		{"another expert type", h100, "F16", 832, 480, 32 << 30},
	} {
		if sec, basis, ok := Estimate(reps, c.device, 81, c.w, c.h, 40, true, c.budget, c.expert, ""); ok {
			t.Errorf("%s: estimate %.1f s (%q), want none", c.name, sec, basis)
		}
	}
	if _, _, ok := Estimate(nil, h100, 81, 832, 480, 40, true, 0, "", ""); ok {
		t.Error("an estimate from no history")
	}
}

// cacheHome points os.UserCacheDir at a fresh folder and returns the history folder.
func cacheHome(t *testing.T) string {
	home := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, "cache"))
	t.Setenv("HOME", home)
	t.Setenv("LocalAppData", filepath.Join(home, "cache"))
	dir, err := HistoryDir()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dir, home) {
		t.Skipf("the cache folder %s does not follow HOME/XDG_CACHE_HOME on this system", dir)
	}
	return dir
}

func TestHistorySaveRotateLoad(t *testing.T) {
	dir := cacheHome(t)
	if reps, err := LoadHistory(); err != nil || len(reps) != 0 {
		t.Fatalf("empty history: %d reports, %v", len(reps), err)
	}
	base := time.Date(2026, 12, 6, 13, 0, 0, 0, time.UTC)
	for i := range HistoryKeep + 3 {
		r := &Report{Schema: Schema, Created: base.Add(time.Duration(i) * time.Minute), Settings: Settings{Backend: "cpu", Seed: uint64(i)}}
		path, err := SaveHistory(r)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(path) != dir || !strings.HasSuffix(path, ".json") {
			t.Fatalf("saved to %s, want a .json in %s", path, dir)
		}
	}
	// Same instant twice: both kept.
	if _, err := SaveHistory(&Report{Schema: Schema, Created: base.Add(time.Hour), Settings: Settings{Seed: 100}}); err != nil {
		t.Fatal(err)
	}
	if _, err := SaveHistory(&Report{Schema: Schema, Created: base.Add(time.Hour), Settings: Settings{Seed: 101}}); err != nil {
		t.Fatal(err)
	}
	// A damaged file and a temporary one are not reports.
	if err := os.WriteFile(filepath.Join(dir, "99999999T000000.000000000Z.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".x.json.partial-1"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	reps, err := LoadHistory()
	if err != nil {
		t.Fatal(err)
	}
	// 25 saved, 20 kept at the last save; the damaged file came after and is skipped.
	if len(reps) != HistoryKeep {
		t.Fatalf("%d reports in the history, want %d", len(reps), HistoryKeep)
	}
	if reps[0].Settings.Seed != 5 || reps[len(reps)-2].Settings.Seed != 100 || reps[len(reps)-1].Settings.Seed != 101 {
		t.Errorf("kept seeds %d … %d, %d; want 5 … 100, 101", reps[0].Settings.Seed, reps[len(reps)-2].Settings.Seed, reps[len(reps)-1].Settings.Seed)
	}
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != HistoryKeep+2 {
		t.Errorf("%d files in %s, want %d reports and the two test files", len(es), dir, HistoryKeep)
	}
}

func TestHistoryUnwritable(t *testing.T) {
	dir := cacheHome(t)
	// The history folder's place is taken by a file: a clear error, nothing written.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := SaveHistory(&Report{Schema: Schema, Created: time.Now()}); err == nil || !strings.Contains(err.Error(), "bench history") {
		t.Errorf("error %v, want one naming the bench history", err)
	}
	if _, err := LoadHistory(); err == nil {
		t.Error("reading a history folder that is a file gave no error")
	}
}
