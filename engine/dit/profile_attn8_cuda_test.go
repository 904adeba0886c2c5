//go:build cuda

package dit

import (
	"fmt"
	"os"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/cudatest"
)

// TestCUDABlockAttentionModes times one full-size bf16 block at 480p (L = 32760) with each attention precision
// (bf16, int8, fp8: the 8-bit kernels the device picks) in alternation, then profiles one forward per mode op by
// op (each op synchronized), so that the 8-bit modes' cost in the block — the attention op with its quantizers,
// and anything else that changes — shows beside bf16's. It runs with WAN22_BLOCK_MODES=1.
func TestCUDABlockAttentionModes(t *testing.T) {
	if os.Getenv("WAN22_BLOCK_MODES") != "1" {
		t.Skip("set WAN22_BLOCK_MODES=1 to time a full-size DiT block with each attention precision on the GPU")
	}
	b := cudatest.Backend(t)
	defer func(p engine.AttentionPrecision) { _ = b.SetAttentionPrecision(p) }(b.AttentionPrecision())
	cfg := I2VA14B()
	blk := loadBenchBlock(t, b, cfg, gguf.TypeBF16)
	g := Grid{T: 21, H: 60, W: 104}
	L := g.Tokens()
	ctx := bf16Random(b, 4, TextLen, cfg.Dim)
	e0 := b.FromHost(randomHost(6*cfg.Dim, 0.05, 5), 6, cfg.Dim)
	cosH, sinH := ropeTables(g, HeadDim)
	cos, sin := b.FromHost(cosH, L, HeadDim/2), b.FromHost(sinH, L, HeadDim/2)
	x := b.FromHost(randomHost(L*cfg.Dim, 1, 6), L, cfg.Dim)
	defer b.Free(ctx, e0, cos, sin, x)
	forward := func(be engine.Backend) {
		if err := catchForward(func() { blk.forward(be, x, e0, ctx, &rope{cos, sin}, DefaultFFNChunk, nil) }); err != nil {
			t.Fatal(err)
		}
	}
	modes := []engine.AttentionPrecision{engine.AttentionBF16, engine.AttentionINT8, engine.AttentionFP8}
	timer := cudatest.NewProfiler(t, b)
	ms := map[engine.AttentionPrecision][]float64{}
	for round := range 4 {
		for _, m := range modes {
			if err := b.SetAttentionPrecision(m); err != nil {
				t.Fatal(err)
			}
			d := median(timer, 1, 3, func() { forward(b) })
			if round > 0 { // the first round warms each mode's kernels and temporaries
				ms[m] = append(ms[m], d)
			}
		}
	}
	for _, m := range modes {
		if err := b.SetAttentionPrecision(m); err != nil {
			t.Fatal(err)
		}
		long, _ := b.Attention8Kernel()
		t.Logf("L=%d %-4v block %8.3f ms (medians of rounds %.3f), peak %.2f GiB, 8-bit kernel %q", L, m, medianOf(ms[m]),
			ms[m], float64(b.MemStats().Peak)/(1<<30), long)
		prof := cudatest.NewProfiler(t, b)
		forward(prof)
		prof.Report(fmt.Sprintf("profile of one bf16 block at L=%d, %v attention", L, m))
	}
}
