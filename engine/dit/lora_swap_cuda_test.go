//go:build cuda

package dit

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"github.com/wan22/wan22/blockswap"
	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/cudatest"
	"github.com/wan22/wan22/internal/golden"
)

// TestSwapLoRACUDA: LoRAs given to LoadForRun on a GPU model with swapped blocks are packed (BF16) into
// the swapped blocks' pinned slabs, or streamed through the staging ring, and borrow their slots; the
// output equals the resident model with the same LoRAs attached after loading, DetachLoRAs gives the plain
// output back, and releasing the model returns the device memory to its open-time baseline.
func TestSwapLoRACUDA(t *testing.T) {
	b := cudatest.Backend(t)
	src, tiny, g, forwardN := swapCase(t)
	var modules []string
	for i := range tiny.Layers {
		for _, m := range []string{"self_attn.q", "self_attn.o", "cross_attn.v", "ffn.0", "ffn.2"} {
			modules = append(modules, "blocks."+strconv.Itoa(i)+"."+m)
		}
	}
	l1 := newTestLoRA(tiny, 16, 16, 401, append(modules, "head.head")...)
	l2 := newTestLoRA(tiny, 8, 8, 402, modules[:7]...)
	loras := []LoadLoRA{{File: openLoRA(t, writeLoRA(t, l1, "l1")), Strength: 0.7}, {File: openLoRA(t, writeLoRA(t, l2, "l2")), Strength: 1}}

	forward := func(m *Model) (vc, vu []float32) { t.Helper(); return forwardN(m, 2) } // slots are reused across passes
	ref, err := Load(b.ForModel("ref"), src)
	if err != nil {
		t.Fatal(err)
	}
	plainC, plainU := forward(ref)
	for _, l := range loras {
		if err := ref.AttachLoRA(l.File, l.Strength); err != nil {
			t.Fatal(err)
		}
	}
	wantC, wantU := forward(ref)
	ref.Free()
	if _, err := b.ReleaseModel("ref"); err != nil {
		t.Fatal(err)
	}

	run := Run{Grid: g, CFG: true, LoRAs: loras}
	in, _, err := planInputs(newView(src), tiny, run, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		vram, pin int64
		staging   bool
	}{
		{"pinned slabs, 2 resident", blockswap.MinVRAM(in) + 2*slices.Max(in.BlockBytes), 1 << 40, false},
		{"staging ring", blockswap.MinVRAM(in), 3 * slices.Max(in.BlockBytes), true},
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
			sw := p.Swapped()
			if len(sw) == 0 || (p.Staging > 0) != tc.staging {
				t.Fatalf("plan %v: want swapped blocks, staging %v", p, tc.staging)
			}
			if q := m.blocks[sw[0]].ffn0.lora; q == nil || !q.slab || q.typ != gguf.TypeBF16 {
				t.Fatalf("blocks.%d.ffn.0: adapter %+v, want a BF16 pair packed in the slab", sw[0], q)
			}
			vc, vu := forward(m)
			if e := golden.RelL2(vc, wantC); e > 1e-6 {
				t.Errorf("conditional output %.3g from the resident model with the LoRAs", e)
			}
			if e := golden.RelL2(vu, wantU); e > 1e-6 {
				t.Errorf("unconditional output %.3g from the resident model with the LoRAs", e)
			}
			if st := m.SwapStats(); st.Uploads < int64(2*len(sw)) {
				t.Errorf("%d uploads for %d swapped blocks over 2 steps", st.Uploads, len(sw))
			}
			m.DetachLoRAs()
			vc, vu = forward(m)
			if e := max(golden.RelL2(vc, plainC), golden.RelL2(vu, plainU)); e > 1e-6 {
				t.Errorf("after DetachLoRAs: %.3g from the plain model", e)
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
