package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22"
	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/internal/benchreport"
)

// TestMain points the user cache folder of every test of this package at
// a temporary one: a bench test must not add to the user's bench history,
// and i2v's start line must not depend on it.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		// TestSignalHelperProcess in a process of its own: it exits from inside
		// the test, which would leave the home folder below behind.
		os.Exit(m.Run())
	}
	home, err := os.MkdirTemp("", "wan22-cmd-test-home-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("HOME", home)
	os.Setenv("XDG_CACHE_HOME", filepath.Join(home, "cache"))
	os.Setenv("LocalAppData", filepath.Join(home, "cache"))
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}

// freshCache gives the test an empty user cache folder and returns the
// bench history folder in it.
func freshCache(t *testing.T) string {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, "cache"))
	t.Setenv("LocalAppData", filepath.Join(home, "cache"))
	dir, err := benchreport.HistoryDir()
	require.NoError(t, err)
	if !strings.HasPrefix(dir, home) {
		t.Skipf("the cache folder %s does not follow HOME/XDG_CACHE_HOME on this system", dir)
	}
	return dir
}

// cpuBench is a bench report of i2vSetup's run (5 frames of 32x16, 1 + 1 steps
// with CFG, the tiny experts) on backend: 12 s outside the steps, 3 s per
// high step, 5 s per low one.
func cpuBench(backend string) *benchreport.Report {
	return &benchreport.Report{
		Schema: benchreport.Schema, Created: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC),
		Settings: benchreport.Settings{Device: "cpu", Backend: backend, ScheduleSteps: 2, ScheduleHigh: 1, ScheduleLow: 1,
			GuidanceHigh: 3.5, GuidanceLow: 3.5, Solver: "unipc", Shift: 5, Boundary: 0.9,
			Models: benchreport.Models{Kind: "real", ExpertShape: shapeOf(tinymodels.DiT())}},
		Runs: []benchreport.Run{{Width: 32, Height: 16, Frames: 5, Tokens: 2, Status: benchreport.StatusOK,
			HighSteps: []float64{3}, LowSteps: []float64{5}, PerStepHigh: 3, PerStepLow: 5, Denoise: 8, Total: 20, Measured: 20}},
	}
}

// cancelOnLine is a writer that cancels a run once a whole first line has
// been written to it: the start line is all TestI2VStartLineEstimate reads.
type cancelOnLine struct {
	bytes.Buffer
	cancel context.CancelFunc
}

func (w *cancelOnLine) Write(b []byte) (int, error) {
	n, err := w.Buffer.Write(b)
	if bytes.IndexByte(w.Bytes(), '\n') >= 0 {
		w.cancel()
	}
	return n, err
}

// TestI2VStartLineEstimate: the start line's estimate comes from a bench of
// this device at this size in the history, and from nothing else. Each run
// is stopped once its start line is out (printed before the generation):
// the line is what is checked, and the runs to the end cost minutes under
// the race detector.
func TestI2VStartLineEstimate(t *testing.T) {
	args, out := i2vSetup(t)
	startLine := func(asJSON bool, extra ...string) (string, map[string]any) {
		t.Helper()
		name := filepath.Join(out, fmt.Sprintf("v%d.avi", time.Now().UnixNano()))
		if asJSON {
			extra = append(extra, "--json")
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		stdout, stderr := &cancelOnLine{cancel: func() {}}, &cancelOnLine{cancel: func() {}}
		if asJSON {
			stdout.cancel = cancel
		} else {
			stderr.cancel = cancel
		}
		f, code, ok := parseI2V(append(append(args[1:], "--out", name), extra...), stdout, stderr)
		require.True(t, ok, "exit %d: %s", code, stderr.String())
		err := i2v(ctx, f, stdout, stderr)
		require.True(t, err == nil || errors.Is(err, context.Canceled), "%v", err)
		require.NoFileExists(t, name) // stopped before the end, and nothing left
		if !asJSON {
			line, _, _ := strings.Cut(stderr.String(), "\n")
			return line, nil
		}
		sc := bufio.NewScanner(stdout)
		require.True(t, sc.Scan())
		var ev map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev))
		require.Equal(t, "start", ev["type"])
		return "", ev
	}

	// No history: no estimate.
	dir := freshCache(t)
	line, _ := startLine(false)
	require.Contains(t, line, "wan22 i2v: 32x16, 5 frames")
	require.NotContains(t, line, "about")
	_, ev := startLine(true)
	require.NotContains(t, ev, "estimate_s")

	// A bench of another device: still none.
	_, err := benchreport.SaveHistory(cpuBench("cuda:0 NVIDIA H100 80GB HBM3"))
	require.NoError(t, err)
	line, _ = startLine(false)
	require.NotContains(t, line, "about")

	// A bench of this one: 12 s + 1 × 3 s + 1 × 5 s.
	_, err = benchreport.SaveHistory(cpuBench("cpu"))
	require.NoError(t, err)
	line, _ = startLine(false)
	require.True(t, strings.HasSuffix(line, "loads; about 20s (from the bench of 2026-12-06 on this CPU: 5 frames 32x16, all memory)"), line)
	_, ev = startLine(true)
	require.Equal(t, 20.0, ev["estimate_s"])
	require.Equal(t, "from the bench of 2026-12-06 on this CPU: 5 frames 32x16, all memory", ev["estimate_basis"])
	// Another size has no run to scale from.
	line, _ = startLine(false, "--size", "48x16")
	require.NotContains(t, line, "about")
	require.Len(t, entries(t, dir), 2)
	require.Empty(t, entries(t, out), "the stopped runs left files")
}

func TestBenchHistory(t *testing.T) {
	isolateTemp(t)
	dir := freshCache(t)
	// --tiny keeps nothing.
	code, stdout, stderr := runBenchCtx(context.Background(), "--tiny", "--frames", "5", "--size", "32x16", "--solver", "distill")
	require.Equal(t, 0, code, stdout+stderr)
	require.NoDirExists(t, dir)

	var so, se bytes.Buffer
	rep := cpuBench("cpu")
	saveBenchHistory(rep, &so, &se)
	require.Empty(t, se.String())
	require.Len(t, entries(t, dir), 1)
	require.Contains(t, so.String(), "kept the report for i2v's time estimates as "+filepath.Join(dir, "20261206T100000.000000000Z.json"))
	// A report without a completed run is not kept.
	rep.Runs[0].Status = benchreport.StatusFailed
	saveBenchHistory(rep, &so, &se)
	require.Len(t, entries(t, dir), 1)

	// The history folder's place taken by a file: a warning, not a failure.
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.WriteFile(dir, nil, 0o644))
	rep.Runs[0].Status = benchreport.StatusOK
	so.Reset()
	saveBenchHistory(rep, &so, &se)
	require.Contains(t, se.String(), "wan22 bench: warning: the report was not kept for i2v's time estimates")
	require.Empty(t, so.String())
}

// TestI2VEstimateRecordedShape: the bench records its experts' absolute
// paths and shape (from the header), and i2v's estimate goes by the
// recorded shape; a report of an older version without it is used only
// when its expert's shape is known for sure, never assumed (a relative
// path depends on the folder i2v runs in; a file gone tells nothing).
func TestI2VEstimateRecordedShape(t *testing.T) {
	m := tinySet(t)
	t.Chdir(filepath.Dir(m.High))
	rel := wan22.Models{High: filepath.Base(m.High), Low: m.Low, TextEncoder: m.TextEncoder, VAE: m.VAE}
	info := reportModels(rel, "real")
	require.Equal(t, shapeOf(tinymodels.DiT()), info.ExpertShape)
	require.Equal(t, m.High, info.High, "the report's path is absolute")
	require.True(t, filepath.IsAbs(info.VAE))

	tiny, a14b := tinymodels.DiT(), dit.I2VA14B()
	rep := func(models benchreport.Models) []benchreport.Report {
		return []benchreport.Report{{Settings: benchreport.Settings{Models: models},
			Runs: []benchreport.Run{{Width: 32, Height: 16, Frames: 5, Status: benchreport.StatusOK}}}}
	}
	// The recorded shape decides, whatever the kind or path.
	require.Len(t, sameShapeRuns(rep(info), tiny), 1)
	require.Empty(t, sameShapeRuns(rep(info), a14b))
	gone := info
	gone.High = filepath.Join(t.TempDir(), "gone.gguf")
	require.Len(t, sameShapeRuns(rep(gone), tiny), 1)
	// Older reports: the kind's shape, or the file's when its absolute path is there.
	require.Len(t, sameShapeRuns(rep(benchreport.Models{Kind: "tiny"}), tiny), 1)
	require.Len(t, sameShapeRuns(rep(benchreport.Models{Kind: "synthetic"}), a14b), 1)
	require.Len(t, sameShapeRuns(rep(benchreport.Models{Kind: "real", High: m.High}), tiny), 1)
	for _, old := range []benchreport.Models{
		{Kind: "real", High: filepath.Base(m.High)}, // relative: not assumed to be the tiny file here
		{Kind: "real", High: gone.High},             // gone: not assumed to be I2V-A14B
		{},                                          // no kind
	} {
		require.Empty(t, sameShapeRuns(rep(old), a14b), "%+v", old)
		require.Empty(t, sameShapeRuns(rep(old), tiny), "%+v", old)
	}
}
