package dit

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wan22/wan22/blockswap"
	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
)

// recorder is a Residency that logs its calls and can cancel a context at a
// given Acquire.
type recorder struct {
	calls    []string
	cancelAt int // block whose Acquire cancels; -1: none
	cancel   context.CancelFunc
}

func (r *recorder) Acquire(i int) error {
	r.calls = append(r.calls, fmt.Sprintf("+%d", i))
	if i == r.cancelAt {
		r.cancel()
	}
	return nil
}

func (r *recorder) Release(i int) error {
	r.calls = append(r.calls, fmt.Sprintf("-%d", i))
	return nil
}

// TestForwardCFGMatchesTwoPasses: both streams block by block give what two
// full passes give, and each block is acquired once per step.
func TestForwardCFGMatchesTwoPasses(t *testing.T) {
	cases := goldenCases(t)
	for _, file := range []string{"dit_tiny_f32.gguf", "dit_tiny_q8_0.gguf"} {
		t.Run(file, func(t *testing.T) {
			m := loadGolden(t, cpu.New(), file)
			defer m.Free()
			c, u := cases[0], cases[1]
			cond, err := m.EmbedText(c.context, c.ctxLen)
			if err != nil {
				t.Fatal(err)
			}
			defer cond.Free()
			uncond, err := m.EmbedText(u.context, u.ctxLen)
			if err != nil {
				t.Fatal(err)
			}
			defer uncond.Free()
			wantC, err := m.Forward(c.x, c.y, c.grid, c.t, cond, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantU, err := m.Forward(c.x, c.y, c.grid, c.t, uncond, nil)
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{cancelAt: -1}
			m.SetResidency(rec)
			vc, vu, err := m.ForwardCFG(context.Background(), c.x, c.y, c.grid, c.t, cond, uncond)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []struct {
				name      string
				got, want []float32
			}{{"conditional", vc, wantC}, {"unconditional", vu, wantU}} {
				if e := golden.RelL2(p.got, p.want); !(e <= 1e-6) {
					t.Errorf("%s: relative L2 %.3g from two full passes, want ≤ 1e-6", p.name, e)
				}
			}
			if want := []string{"+0", "-0", "+1", "-1"}; !slices.Equal(rec.calls, want) {
				t.Errorf("residency calls %v, want %v (once per block per step)", rec.calls, want)
			}
			vc2, vu2, err := m.ForwardCFG(context.Background(), c.x, c.y, c.grid, c.t, cond, nil)
			if err != nil || vu2 != nil || golden.RelL2(vc2, wantC) > 1e-6 {
				t.Errorf("conditional-only ForwardCFG: err %v, uncond %v, rel %.3g", err, vu2 != nil, golden.RelL2(vc2, wantC))
			}
		})
	}
}

// TestForwardCFGCancel: a context cancelled during block 0 stops the pass
// before block 1, releases block 0 and leaks no intermediate.
func TestForwardCFGCancel(t *testing.T) {
	cases := goldenCases(t)
	f := newFaulty()
	m := loadGolden(t, f, "dit_tiny_f32.gguf")
	defer m.Free()
	c := cases[0]
	cond, err := m.EmbedText(c.context, c.ctxLen)
	if err != nil {
		t.Fatal(err)
	}
	defer cond.Free()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &recorder{cancelAt: 0, cancel: cancel}
	m.SetResidency(rec)
	_, _, err = m.ForwardCFG(ctx, c.x, c.y, c.grid, c.t, cond, cond)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if want := []string{"+0", "-0"}; !slices.Equal(rec.calls, want) {
		t.Errorf("residency calls %v, want %v", rec.calls, want)
	}
	cond.Free()
	if l := f.leaked(); len(l) != 0 {
		t.Errorf("leaked after cancel: %v", l)
	}
}

// cpuSwapper makes the CPU backend look like one that swaps blocks, with the
// recording fake as mover, so that LoadForRun's swapped path runs in CI.
type cpuSwapper struct {
	*cpu.Backend
	vram  int64
	fake  *blockswap.Fake
	plans []blockswap.Plan
}

func (s *cpuSwapper) SwapBudgets() (int64, int64, error) { return s.vram, 1 << 40, nil }

func (s *cpuSwapper) NewSwap(p blockswap.Plan, layouts []engine.SlabLayout) (engine.SwapSet, error) {
	s.plans = append(s.plans, p)
	return &fakeSet{Fake: s.fake, b: s.Backend}, nil
}

type fakeSet struct {
	*blockswap.Fake
	b      engine.Backend
	closed bool
}

func (f *fakeSet) Backend(int) engine.Backend { return f.b }
func (f *fakeSet) Loaded() error              { return nil }
func (f *fakeSet) FromFile() bool             { return false }
func (f *fakeSet) HostBytes() int64           { return 0 }
func (f *fakeSet) Close() error               { f.closed = true; return nil }

// TestLoadForRunSwapped: a budget that leaves room for fewer blocks than the
// model has swaps some, the schedule runs around every block, the output is
// the fully resident model's, and Free releases the slots.
func TestLoadForRunSwapped(t *testing.T) {
	cases := goldenCases(t)
	c := cases[0]
	src, _ := fourBlocks(t)
	run := Run{Grid: c.grid, CFG: true}
	v := newView(src)
	cfg, err := configFrom(v)
	if err != nil {
		t.Fatal(err)
	}
	in, _, err := planInputs(v, cfg, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	in.Pinned = 1 << 40
	for _, tc := range []struct {
		name    string
		vram    int64
		swapped int
	}{
		{"all resident", 1 << 40, 0},
		{"one block resident", blockswap.MinVRAM(in) + in.BlockBytes[0], 3},
		{"minimum budget", blockswap.MinVRAM(in), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := blockswap.NewFake()
			b := &cpuSwapper{Backend: cpu.New(), vram: tc.vram, fake: fake}
			m, err := LoadForRun(context.Background(), b, src, run)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(m.Plan().Swapped()); got != tc.swapped {
				t.Fatalf("%d blocks swapped, want %d (plan %v)", got, tc.swapped, m.Plan())
			}
			if tc.swapped > 0 {
				fake.SetResident(m.Plan().Resident)
				m.SetResidency(&computeCheck{Residency: m.residency, fake: fake, resident: m.Plan().Resident})
			}
			ref, err := Load(cpu.New(), src)
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Free()
			outs := make([][]float32, 2)
			for k, mm := range []*Model{m, ref} {
				text, err := mm.EmbedText(c.context, c.ctxLen)
				if err != nil {
					t.Fatal(err)
				}
				for range 2 { // two steps: the second pass reuses the slots
					if outs[k], _, err = mm.ForwardCFG(context.Background(), c.x, c.y, c.grid, c.t, text, text); err != nil {
						t.Fatal(err)
					}
				}
				text.Free()
			}
			if e := golden.RelL2(outs[0], outs[1]); e > 1e-6 {
				t.Errorf("swapped model differs from the resident one: %.3g", e)
			}
			if tc.swapped > 0 {
				st := m.SwapStats()
				if st.Swapped != tc.swapped || st.Uploads < int64(2*tc.swapped) {
					t.Errorf("stats %+v: want %d swapped blocks uploaded on each of 2 steps", st, tc.swapped)
				}
				if v := fake.Violations(); len(v) != 0 {
					t.Errorf("fake mover violations: %v", v)
				}
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if n := fake.LiveBytes(); n != 0 {
				t.Errorf("%d slot bytes still allocated after Free", n)
			}
		})
	}
}

// computeCheck runs the fake's Compute check for each swapped block as its
// kernels would start: the block's copy must have been waited for and its
// slot must still hold it.
type computeCheck struct {
	Residency
	fake     *blockswap.Fake
	resident []bool
}

func (c *computeCheck) Acquire(i int) error {
	if err := c.Residency.Acquire(i); err != nil {
		return err
	}
	if c.resident[i] {
		return nil
	}
	return c.fake.Compute(i)
}

// TestPlanCountsExtra: memory attached after loading (LoRAs) is planned as
// resident, so the same budget keeps fewer blocks on the device.
func TestPlanCountsExtra(t *testing.T) {
	src, tiny := fourBlocks(t)
	run := Run{Grid: Grid{T: 3, H: 8, W: 12}, CFG: true}
	in, _, err := planInputs(newView(src), tiny, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	run.Extra = in.BlockBytes[0]
	withExtra, _, err := planInputs(newView(src), tiny, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	if withExtra.FixedBytes != in.FixedBytes+in.BlockBytes[0] {
		t.Fatalf("fixed bytes %d with Extra %d, want %d", withExtra.FixedBytes, run.Extra, in.FixedBytes+run.Extra)
	}
	budget := blockswap.MinVRAM(in) + in.BlockBytes[0]
	in.VRAM, withExtra.VRAM, in.Pinned, withExtra.Pinned = budget, budget, 1<<40, 1<<40
	p1, err1 := blockswap.NewPlan(in)
	p2, err2 := blockswap.NewPlan(withExtra)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if p2.NumResident() >= p1.NumResident() {
		t.Errorf("%d resident with the extra bytes, %d without: want fewer", p2.NumResident(), p1.NumResident())
	}
}

// fourBlocks writes a synthetic Q8_0 DiT of four blocks with the golden
// model's widths (so the golden inputs fit) and opens it for the test.
func fourBlocks(t *testing.T) (*gguf.File, Config) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dit4.gguf")
	cfg := Config{Dim: 256, InDim: 36, OutDim: 16, FFNDim: 512, TextDim: 128, FreqDim: 256, Layers: 4, Heads: 2}
	if err := WriteSynthetic(path, cfg, gguf.TypeQ8_0, 7); err != nil {
		t.Fatal(err)
	}
	src, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src, cfg
}
