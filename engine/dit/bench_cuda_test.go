//go:build cuda

package dit

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/engine/internal/synthrand"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/cudatest"
)

// loadBenchBlock loads block 0 of a synthetic model of shape cfg with its linears in weightType on b (owner
// "block"); the test's cleanup frees it.
func loadBenchBlock(t *testing.T, b *cuda.Backend, cfg Config, weightType gguf.Type) *block {
	t.Helper()
	src, err := newBlockSource(cfg, weightType, 1)
	if err != nil {
		t.Fatal(err)
	}
	l := engine.NewLoader(b.ForModel("block"), src)
	t.Cleanup(l.FreeAll)
	var blk *block
	if err := catchForward(func() { blk = newBlock(l, "blocks.0", cfg) }); err != nil {
		t.Fatalf("loading the block: %v", err)
	}
	return blk
}

// newBlockSource lists block 0 of a synthetic model of shape cfg with its linears in weightType, generated
// when read.
func newBlockSource(cfg Config, weightType gguf.Type, seed int64) (*synthrand.Source, error) {
	c := cfg
	c.Layers = 1
	ts := slices.DeleteFunc(syntheticTensors(c, weightType), func(t synthrand.Tensor) bool { return !strings.HasPrefix(t.Name, "blocks.0.") })
	return synthrand.NewSource(ts, seed)
}

// randomHost returns n values N(0, std²): a random tile of 1 Mi values repeated, cheap at any n.
func randomHost(n int, std float64, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 3))
	tileN := min(n, 1<<20)
	t := make([]float32, tileN)
	for i := range t {
		t[i] = float32(r.NormFloat64() * std)
	}
	out := make([]float32, n)
	for i := 0; i < n; i += tileN {
		copy(out[i:], t)
	}
	return out
}

// bf16Random makes a BF16 activation of random values N(0, 1).
func bf16Random(b *cuda.Backend, seed uint64, shape ...int) engine.Tensor {
	x := b.FromHost(randomHost(engine.Numel(shape), 1, seed), shape...)
	defer b.Free(x)
	return b.Cast(x, engine.BF16)
}

// median runs f warm+reps times and returns the median device time of the last reps, in milliseconds.
func median(timer *cudatest.Profiler, warm, reps int, f func()) float64 {
	var ms []float64
	for i := range warm + reps {
		if d := timer.Time(f); i >= warm {
			ms = append(ms, d)
		}
	}
	slices.Sort(ms)
	return ms[len(ms)/2]
}

// benchResult is one line of the benchmark's report.
type benchResult struct {
	What     string  `json:"what"`
	Tokens   int     `json:"tokens"`
	Weights  string  `json:"weights,omitempty"`
	FFNChunk int     `json:"ffn_chunk,omitempty"`
	Attn     string  `json:"attention,omitempty"` // the flash kernels: "sm90a" or "portable"
	Kernel   string  `json:"kernel,omitempty"`    // attention alone: the entry point that ran
	MS       float64 `json:"ms"`
	TFLOPs   float64 `json:"tflops,omitempty"`
	PeakGiB  float64 `json:"peak_gib,omitempty"`
}

// blockFLOPs counts the matrix work of one block at L tokens: q, k, v, o of self-attention, q and o of
// cross-attention over L rows and k, v over the 512 text rows, the FFN, and both attentions.
func blockFLOPs(cfg Config, L int) float64 {
	d, f, l, txt := float64(cfg.Dim), float64(cfg.FFNDim), float64(L), float64(TextLen)
	lin := 2*l*d*d*6 + 2*txt*d*d*2 + 2*l*d*f*2
	return lin + 4*l*l*d + 4*l*txt*d
}

// attnMode is a choice of flash attention kernels the benchmark times.
type attnMode struct {
	name     string // "sm90a" or "portable"
	portable bool
}

// attnModes lists the flash kernels to time: the backend's default ones (sm90a on compute capability 9.0
// unless WAN22_ATTN=portable) and, where those are not the portable ones, the portable compute_80 ones too.
func attnModes(b *cuda.Backend) []attnMode {
	if b.PortableAttention() {
		return []attnMode{{"portable", true}}
	}
	if long, _ := b.FlashKernels(); strings.HasPrefix(long, "sm90a/") {
		return []attnMode{{"sm90a", false}, {"portable", true}}
	}
	return []attnMode{{"portable", false}}
}

// TestCUDABlockBench times one full-size 14B block forward (dim 5120, 40 heads, FFN 13824, 512 text rows)
// at 480p and 720p (81 frames) with bf16 and Q8_0 linears, and the flash attention alone, with the
// device's default flash kernels and (bf16, fused, default FFN chunk; attention alone) the portable ones
// where those differ (Hopper). It runs with WAN22_BACKEND_BENCH=1 (bench/torch/dit_block.py measures
// PyTorch on the same shapes) and writes its results as JSON to $WAN22_BACKEND_BENCH_OUT/dit_block.json
// when that is set. WAN22_ATTN=portable makes the portable kernels the only ones timed.
func TestCUDABlockBench(t *testing.T) {
	if os.Getenv("WAN22_BACKEND_BENCH") != "1" {
		t.Skip("set WAN22_BACKEND_BENCH=1 to time a full-size DiT block on the GPU")
	}
	b := cudatest.Backend(t)
	timer := cudatest.NewProfiler(t, b)
	cfg := I2VA14B()
	grids := []Grid{{T: 21, H: 60, W: 104}, {T: 21, H: 90, W: 160}} // 480p and 720p, 81 frames
	modes := attnModes(b)
	defer b.SetPortableAttention(modes[0].portable)
	var results []benchResult
	report := func(r benchResult) {
		results = append(results, r)
		t.Logf("%-34s L=%6d %-5s chunk %5d %-8s: %9.3f ms %7.1f TFLOP/s peak %.2f GiB %s", r.What, r.Tokens, r.Weights, r.FFNChunk, r.Attn, r.MS, r.TFLOPs, r.PeakGiB, r.Kernel)
	}

	// Attention alone: self-attention at L tokens and cross-attention over the 512 text rows.
	for _, g := range grids {
		L := g.Tokens()
		q, k, v := bf16Random(b, 1, L, cfg.Dim), bf16Random(b, 2, L, cfg.Dim), bf16Random(b, 3, L, cfg.Dim)
		opts := engine.AttentionOpts{Heads: cfg.Heads, Scale: float32(1 / math.Sqrt(HeadDim))}
		for _, m := range modes {
			b.SetPortableAttention(m.portable)
			long, short := b.FlashKernels()
			for _, keys := range []int{L, TextLen} {
				kk, vv := k, v
				if keys != L {
					kk, vv = b.Slice(k, 0, keys), b.Slice(v, 0, keys)
				}
				ms := median(timer, 1, 3, func() { b.Free(b.Attention(q, kk, vv, opts)) })
				what, kernel := "attention (self)", long
				if keys != L {
					what, kernel = "attention (cross, 512 keys)", short
					b.Free(kk, vv)
				}
				report(benchResult{What: what, Tokens: L, Attn: m.name, Kernel: kernel, MS: ms, TFLOPs: 4 * float64(L) * float64(keys) * float64(cfg.Dim) / ms / 1e9})
			}
		}
		b.SetPortableAttention(modes[0].portable)
		b.Free(q, k, v)
		if err := b.Trim(); err != nil {
			t.Fatal(err)
		}
	}

	for _, wt := range []gguf.Type{gguf.TypeBF16, gguf.TypeQ8_0} {
		src, err := newBlockSource(cfg, wt, 1)
		if err != nil {
			t.Fatal(err)
		}
		mb := b.ForModel("block")
		l := engine.NewLoader(mb, src)
		var blk *block
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("loading the block: %v", r)
				}
			}()
			blk = newBlock(l, "blocks.0", cfg)
		}()
		weights := b.MemStats().ByOwner["block"]
		t.Logf("%v block: %.2f GiB of weights on the GPU", wt, float64(weights)/(1<<30))
		ctx := bf16Random(b, 4, TextLen, cfg.Dim)
		e0 := b.FromHost(randomHost(6*cfg.Dim, 0.05, 5), 6, cfg.Dim)
		for _, g := range grids {
			L := g.Tokens()
			cosH, sinH := ropeTables(g, HeadDim)
			cos, sin := b.FromHost(cosH, L, HeadDim/2), b.FromHost(sinH, L, HeadDim/2)
			x := b.FromHost(randomHost(L*cfg.Dim, 1, 6), L, cfg.Dim)
			chunks := []int{DefaultFFNChunk}
			if L < 40000 {
				chunks = append(chunks, L) // the FFN in one piece, as PyTorch runs it
			}
			forward := func(be engine.Backend, chunk int) {
				if err := catchForward(func() { blk.forward(be, x, e0, ctx, &rope{cos, sin}, chunk, nil) }); err != nil {
					t.Fatal(err)
				}
			}
			for _, chunk := range chunks {
				for _, fuse := range []bool{true, false} {
					if !fuse && (chunk != DefaultFFNChunk || wt != gguf.TypeBF16) {
						continue
					}
					for _, m := range modes {
						if m.portable && (!fuse || chunk != DefaultFFNChunk || wt != gguf.TypeBF16) {
							continue
						}
						reps := 5
						if L > 40000 {
							reps = 3
						}
						b.SetFusion(fuse)
						b.SetPortableAttention(m.portable)
						var peak int64
						ms := median(timer, 1, reps, func() {
							b.ResetPeak()
							forward(b, chunk)
							peak = b.MemStats().Peak
						})
						what := "block forward"
						if !fuse {
							what += " (no LN fusion)"
						}
						report(benchResult{What: what, Tokens: L, Weights: wt.String(), FFNChunk: chunk, Attn: m.name, MS: ms,
							TFLOPs: blockFLOPs(cfg, L) / ms / 1e9, PeakGiB: float64(peak) / (1 << 30)})
					}
				}
			}
			b.SetFusion(true)
			b.SetPortableAttention(modes[0].portable)
			if wt == gguf.TypeBF16 && L < 40000 {
				prof := cudatest.NewProfiler(t, b)
				forward(prof, DefaultFFNChunk)
				prof.Report(fmt.Sprintf("profile of one %v block at L=%d (ops timed one by one, each synchronized: the split of the time, not a comparison; an op alone runs at other clocks than in the block, so compare whole forwards)", wt, L))
			}
			if v := b.ToHost(b.Slice(x, 0, 1)); math.IsNaN(float64(v[0])) || math.IsInf(float64(v[0]), 0) {
				t.Errorf("the residual stream is not finite after the timed runs: %v", v[0])
			}
			b.Free(x, cos, sin)
			if err := b.Trim(); err != nil {
				t.Fatal(err)
			}
		}
		b.Free(ctx, e0)
		l.FreeAll()
		if left := b.MemStats().ByOwner["block"]; left != 0 {
			t.Errorf("%d bytes of block weights left after freeing", left)
		}
	}
	if dir := os.Getenv("WAN22_BACKEND_BENCH_OUT"); dir != "" {
		js, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, "dit_block.json"), js, 0o644); err != nil {
			t.Error(err)
		}
	}
}

// catchForward runs f and returns the *engine.Error it panicked with.
func catchForward(f func()) (err error) {
	defer engine.Catch(&err)
	f()
	return nil
}
