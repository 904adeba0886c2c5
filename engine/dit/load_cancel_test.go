package dit

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/wan22/wan22/blockswap"
	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
)

// cancelOnWeight is the accounting faulty backend that cancels a context as
// its at-th Weight (a model tensor or a LoRA adapter) is made, and counts
// the weights made.
type cancelOnWeight struct {
	*faulty
	weights, at int
	cancel      context.CancelFunc
}

func (c *cancelOnWeight) Weight(info gguf.TensorInfo, data []byte) engine.Tensor {
	c.weights++
	if c.weights == c.at {
		c.cancel()
	}
	return c.faulty.Weight(info, data)
}

// cancelSwapper is cancelOnWeight as a backend that swaps blocks (the fake
// set of swap_test.go, its views making weights through the accounting
// backend), so that LoadForRun's swapped path runs.
type cancelSwapper struct {
	*cancelOnWeight
	vram int64
	sets []*fakeSet
}

func (s *cancelSwapper) SwapBudgets() (int64, int64, error) { return s.vram, 1 << 40, nil }

func (s *cancelSwapper) NewSwap(blockswap.Plan, []engine.SlabLayout) (engine.SwapSet, error) {
	set := &fakeSet{Fake: blockswap.NewFake(), b: s.cancelOnWeight}
	s.sets = append(s.sets, set)
	return set, nil
}

// TestLoadForRunCancel cancels LoadForRun's context as each weight of the
// load is made (the model's tensors, then the adapters of a merged and a
// run-time LoRA, packed into the slabs on the swapped path), and before it
// begins: the load must return an error matching context.Canceled, make no
// further model tensor (at most the other half of the adapter pair being
// made), free every weight and close the swap set. An uncancelled load on the
// same backend still works and Free releases it all.
func TestLoadForRunCancel(t *testing.T) {
	// Four F32 blocks: a minimum budget swaps them all, and F32 weights merge.
	cfg := Config{Dim: 128, InDim: 36, OutDim: 16, FFNDim: 256, TextDim: 64, FreqDim: 32, Layers: 4, Heads: 1}
	path := filepath.Join(t.TempDir(), "dit4.gguf")
	if err := WriteSynthetic(path, cfg, gguf.TypeF32, 9); err != nil {
		t.Fatal(err)
	}
	src := openGGUF(t, path)
	merged := openLoRA(t, writeLoRA(t, newTestLoRA(cfg, 4, 4, 401, "blocks.0.ffn.0", "time_embedding.0"), "merged"))
	runtime := openLoRA(t, writeLoRA(t, newTestLoRA(cfg, 3, 3, 402, "blocks.1.self_attn.q", "blocks.0.ffn.0"), "runtime"))
	run := Run{Grid: Grid{T: 2, H: 4, W: 6}, CFG: true, LoRAs: []LoadLoRA{
		{File: merged, Strength: 0.5, Options: LoRAOptions{Merge: true}},
		{File: runtime, Strength: 0.7},
	}}
	in, _, err := planInputs(newView(src), cfg, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	in.Pinned = 1 << 40
	for _, tc := range []struct {
		name    string
		swapped int
		backend func(c *cancelOnWeight) engine.Backend
	}{
		{"resident", 0, func(c *cancelOnWeight) engine.Backend { return c }},
		{"swapped", cfg.Layers, func(c *cancelOnWeight) engine.Backend {
			return &cancelSwapper{cancelOnWeight: c, vram: blockswap.MinVRAM(in)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &cancelOnWeight{faulty: newFaulty(), cancel: func() {}}
			b := tc.backend(c)
			check := func(what string) {
				t.Helper()
				if len(c.live) != 0 || len(c.doubles) != 0 {
					t.Errorf("%s: %d tensors left live, double frees of %v", what, len(c.live), c.doubles)
				}
				if s, ok := b.(*cancelSwapper); ok {
					for _, set := range s.sets {
						if !set.closed {
							t.Errorf("%s: the swap set was left open", what)
						}
					}
				}
			}

			m, err := LoadForRun(context.Background(), b, src, run)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(m.Plan().Swapped()); got != tc.swapped {
				t.Fatalf("%d blocks swapped, want %d", got, tc.swapped)
			}
			if l := m.LoadedLoRAs(); len(l) != 2 || (tc.swapped == 0 && len(l[0].Merged) != 2) {
				t.Fatalf("LoRAs loaded as %+v: want both, the first merged when every block is resident", l)
			}
			total := c.weights
			m.Free()
			check("after Free")

			for at := 0; at <= total; at++ {
				ctx, cancel := context.WithCancel(context.Background())
				c.weights, c.at, c.cancel = 0, at, cancel
				if at == 0 {
					cancel() // cancelled before the load begins
				}
				m, err := LoadForRun(ctx, b, src, run)
				cancel()
				if !errors.Is(err, context.Canceled) {
					if err == nil {
						m.Free()
					}
					t.Fatalf("cancelled at weight %d of %d: err %v, want context.Canceled", at, total, err)
				}
				if c.weights > at+1 || (at == 0 && c.weights != 0) {
					t.Errorf("cancelled at weight %d of %d: %d weights made", at, total, c.weights)
				}
				check(fmt.Sprintf("cancelled at weight %d of %d", at, total))
			}

			// The backend is as good as new: a live context loads again.
			c.at = 0
			m, err = LoadForRun(context.Background(), b, src, run)
			if err != nil {
				t.Fatalf("loading after the cancelled loads: %v", err)
			}
			m.Free()
			check("after the last Free")
		})
	}
}
