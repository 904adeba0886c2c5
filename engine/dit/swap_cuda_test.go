//go:build cuda

package dit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wan22/wan22/blockswap"
	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/engine/hostmem"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/cudatest"
	"github.com/wan22/wan22/internal/golden"
)

// TestSwapCUDA: a tiny DiT with its blocks swapped through device slots (pinned slabs, and the staging
// ring fed from the file) gives the resident model's output on the GPU, and releasing it returns the
// device and pinned memory to the open-time baseline.
func TestSwapCUDA(t *testing.T) {
	b := cudatest.Backend(t)
	src, tiny, g, forwardN := swapCase(t)
	forward := func(m *Model) (vc, vu []float32) { t.Helper(); return forwardN(m, 3) } // slots are reused across passes
	run := Run{Grid: g, CFG: true}
	in, _, err := planInputs(newView(src), tiny, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := Load(b.ForModel("ref"), src)
	if err != nil {
		t.Fatal(err)
	}
	wantC, wantU := forward(ref)
	ref.Free()
	if _, err := b.ReleaseModel("ref"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		vram, pin int64
		swapped   int
		staging   bool
	}{
		{"pinned slabs, 2 resident", blockswap.MinVRAM(in) + 2*in.BlockBytes[0], 1 << 40, 4, false},
		{"pinned slabs, none resident", blockswap.MinVRAM(in), 1 << 40, 6, false},
		{"staging ring", blockswap.MinVRAM(in), 3 * in.BlockBytes[0], 6, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := run
			run.VRAM, run.Pinned = tc.vram, tc.pin
			m, err := LoadForRun(context.Background(), b.ForModel("swapped"), src, run)
			if err != nil {
				t.Fatal(err)
			}
			p := m.Plan()
			t.Logf("plan: %v", p)
			if len(p.Swapped()) != tc.swapped || (p.Staging > 0) != tc.staging {
				t.Fatalf("plan %v: want %d swapped, staging %v", p, tc.swapped, tc.staging)
			}
			vc, vu := forward(m)
			st := m.SwapStats()
			t.Logf("stats: %+v", st)
			if e := golden.RelL2(vc, wantC); e > 1e-6 {
				t.Errorf("conditional output %.3g from the resident model's", e)
			}
			if e := golden.RelL2(vu, wantU); e > 1e-6 {
				t.Errorf("unconditional output %.3g from the resident model's", e)
			}
			if st.Uploads < int64(3*tc.swapped) {
				t.Errorf("%d uploads for %d swapped blocks over 3 steps", st.Uploads, tc.swapped)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			rep, err := b.ReleaseModel("swapped")
			t.Logf("release: %+v", rep)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Gap > cuda.ReleaseTolerance {
				t.Errorf("device free memory %d bytes below its value before the model loaded", rep.Gap)
			}
		})
	}
}

// swapCase writes a six-block Q8_0 DiT of the golden widths and opens it for the test, with a 3×8×12 grid
// and forward(m, steps): steps CFG passes over fixed inputs, returning the last one's outputs.
func swapCase(t *testing.T) (*gguf.File, Config, Grid, func(m *Model, steps int) (vc, vu []float32)) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dit6.gguf")
	tiny := Config{Dim: 256, InDim: 36, OutDim: 16, FFNDim: 512, TextDim: 128, FreqDim: 256, Layers: 6, Heads: 2}
	if err := WriteSynthetic(path, tiny, gguf.TypeQ8_0, 11); err != nil {
		t.Fatal(err)
	}
	src, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	g := Grid{T: 3, H: 8, W: 12}
	x, y := randomHost(16*g.Size(), 1, 1), randomHost(20*g.Size(), 1, 2)
	ctx1, ctx2 := randomHost(20*tiny.TextDim, 1, 3), randomHost(7*tiny.TextDim, 1, 4)
	return src, tiny, g, func(m *Model, steps int) (vc, vu []float32) {
		t.Helper()
		c, err := m.EmbedText(ctx1, 20)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Free()
		u, err := m.EmbedText(ctx2, 7)
		if err != nil {
			t.Fatal(err)
		}
		defer u.Free()
		for range steps {
			if vc, vu, err = m.ForwardCFG(context.Background(), x, y, g, 0.7, c, u); err != nil {
				t.Fatal(err)
			}
		}
		return vc, vu
	}
}

// TestSwapBenchCUDA measures block swapping on full-size experts (issue 10), when WAN22_SWAP_EXPERTS names
// them ("F16=/data/f16.gguf,Q8_0=/data/q8.gguf"). WAN22_SWAP_RUNS lists FRAMESxWxH[:nocfg][@BUDGET,...]
// runs (budget in GiB; 0 = the whole card, every block resident; a #N suffix sets the run's steps),
// WAN22_SWAP_STEPS the steps per run.
// Each run opens its own backend capped at the budget, loads the expert with LoadForRun, runs the steps
// with CFG block by block, records step times, swap stats, peaks and host memory, then frees the model and
// checks the device's free memory against the open-time baseline; the first run of each expert also times
// an expert switch (free, reload) and cancels a step mid-way. One JSON object per run goes to
// WAN22_SWAP_OUT (default stdout).
func TestSwapBenchCUDA(t *testing.T) {
	spec := os.Getenv("WAN22_SWAP_EXPERTS")
	if spec == "" {
		t.Skip("set WAN22_SWAP_EXPERTS=TYPE=PATH,... (full-size experts from `wan22 synth`) to run the block-swap benchmark")
	}
	steps := 2
	if s := os.Getenv("WAN22_SWAP_STEPS"); s != "" {
		steps, _ = strconv.Atoi(s)
	}
	out := os.Stdout
	if p := os.Getenv("WAN22_SWAP_OUT"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		out = f
	}
	runs := strings.Split(os.Getenv("WAN22_SWAP_RUNS"), ",")
	for _, e := range strings.Split(spec, ",") {
		typ, path, _ := strings.Cut(e, "=")
		for i, r := range runs {
			n := steps
			if r2, k, ok := strings.Cut(r, "#"); ok { // RUN#STEPS
				r = r2
				n, _ = strconv.Atoi(k)
			}
			res := swapBenchRun(t, typ, path, r, n, i == 0)
			line, _ := json.Marshal(res)
			fmt.Fprintln(out, string(line))
			t.Log(string(line))
		}
	}
}

type swapResult struct {
	Expert, Run            string
	BudgetGiB              float64
	Error                  string  `json:",omitempty"`
	Plan                   string  `json:",omitempty"`
	LoadS                  float64 `json:",omitempty"`
	StepS                  []float64
	PeakVRAM, PeakPinned   int64
	PeakActivations        int64
	EstimatedActivations   int64
	PeakRSS, FileBytes     int64
	Swap                   blockswap.Stats
	FreeAtOpen, FreeAfter  int64
	SwitchS                float64 `json:",omitempty"`
	CancelS                float64 `json:",omitempty"`
	CancelFreeAfter        int64   `json:",omitempty"`
	CancelErr              string  `json:",omitempty"`
	StepsWithoutFirstMeanS float64 `json:",omitempty"`
}

func parseRun(t *testing.T, r string) (g Grid, cfg bool, budget float64) {
	r, b, _ := strings.Cut(r, "@")
	budget, _ = strconv.ParseFloat(b, 64)
	r, opt, _ := strings.Cut(r, ":")
	var F, W, H int
	if _, err := fmt.Sscanf(r, "%dx%dx%d", &F, &W, &H); err != nil {
		t.Fatalf("run %q: want FRAMESxWxH[:nocfg]@GiB", r)
	}
	return Grid{T: (F-1)/4 + 1, H: H / 8, W: W / 8}, opt != "nocfg", budget
}

func swapBenchRun(t *testing.T, typ, path, r string, steps int, extras bool) swapResult {
	g, useCFG, budget := parseRun(t, r)
	res := swapResult{Expert: typ, Run: r, BudgetGiB: budget}
	hostmem.ResetPeakRSS()
	b, err := cuda.NewBackend(cuda.Config{MemCap: int64(budget * (1 << 30))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const owner = "high-noise"
	src, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if fi, err := os.Stat(path); err == nil {
		res.FileBytes = fi.Size()
	}
	run := Run{Grid: g, CFG: useCFG}
	cfg, _ := ConfigFrom(src)
	if in, _, err := planInputs(newView(src), cfg, run, nil); err == nil {
		res.EstimatedActivations = in.Activations
	}
	load := func() (*Model, *Text, *Text, error) {
		m, err := LoadForRun(context.Background(), b.ForModel(owner), src, run)
		if err != nil {
			return nil, nil, nil, err
		}
		c, err := m.EmbedText(randomHost(300*cfg.TextDim, 1, 5), 300)
		if err != nil {
			m.Free()
			return nil, nil, nil, err
		}
		var u *Text
		if useCFG {
			if u, err = m.EmbedText(randomHost(120*cfg.TextDim, 1, 6), 120); err != nil {
				c.Free()
				m.Free()
				return nil, nil, nil, err
			}
		}
		return m, c, u, nil
	}
	release := func(m *Model, c, u *Text) (cuda.ReleaseReport, error) {
		c.Free()
		u.Free()
		if err := m.Close(); err != nil {
			return cuda.ReleaseReport{}, err
		}
		return b.ReleaseModel(owner)
	}
	b.ResetPeak()
	start := time.Now()
	m, c, u, err := load()
	res.LoadS = time.Since(start).Seconds()
	if err != nil {
		var be *blockswap.BudgetError
		if !errors.As(err, &be) {
			t.Errorf("%s %s: %v", typ, r, err)
		}
		res.Error = err.Error()
		return res
	}
	res.Plan = m.Plan().String()
	x, y := randomHost(16*g.Size(), 1, 1), randomHost(20*g.Size(), 1, 2)
	for i := range steps {
		start := time.Now()
		if _, _, err := m.ForwardCFG(context.Background(), x, y, g, 900-float64(i), c, u); err != nil {
			t.Fatalf("%s %s step %d: %v", typ, r, i, err)
		}
		res.StepS = append(res.StepS, time.Since(start).Seconds())
	}
	if len(res.StepS) > 1 {
		var s float64
		for _, v := range res.StepS[1:] {
			s += v
		}
		res.StepsWithoutFirstMeanS = s / float64(len(res.StepS)-1)
	}
	res.Swap = m.SwapStats()
	res.PeakVRAM, res.PeakPinned = b.MemStats().Peak, b.PinnedStats().Peak
	res.PeakActivations = b.PoolStats().Peak
	res.PeakRSS = hostmem.PeakRSS()
	if extras {
		// Expert switch: from the end of the last step to the start of the next expert's first step.
		start := time.Now()
		if rep, err := release(m, c, u); err != nil || rep.Gap > cuda.ReleaseTolerance {
			t.Fatalf("%s %s: releasing for the switch: %v (free memory %d bytes below its baseline)", typ, r, err, rep.Gap)
		}
		if m, c, u, err = load(); err != nil {
			t.Fatalf("%s %s: reloading: %v", typ, r, err)
		}
		res.SwitchS = time.Since(start).Seconds()
		// Cancellation mid-step: everything released afterwards.
		ctx, cancel := context.WithCancel(context.Background())
		timer := time.AfterFunc(time.Duration(res.StepS[len(res.StepS)-1]*0.4*float64(time.Second)), cancel)
		start = time.Now()
		_, _, err := m.ForwardCFG(ctx, x, y, g, 500, c, u)
		res.CancelS = time.Since(start).Seconds()
		timer.Stop()
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s %s: cancelled step returned %v", typ, r, err)
		}
		if err != nil {
			res.CancelErr = err.Error()
		}
	}
	rep, err := release(m, c, u)
	res.FreeAtOpen, res.FreeAfter = rep.FreeBefore, rep.FreeAfter
	if extras {
		res.CancelFreeAfter = rep.FreeAfter
	}
	if err != nil {
		t.Errorf("%s %s: release: %v", typ, r, err)
	}
	// The benchmark owns the GPU: the driver must have got everything back.
	if rep.Gap > cuda.ReleaseTolerance {
		t.Errorf("%s %s: device free memory %d bytes below its value before the expert loaded (tolerance %d)", typ, r, rep.Gap, cuda.ReleaseTolerance)
	}
	return res
}
