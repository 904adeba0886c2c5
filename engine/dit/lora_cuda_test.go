//go:build cuda

package dit

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/cudatest"
)

// loraBenchGoal is the goal for run-time LoRA: a block with LoRAs on every attention and FFN linear
// takes at most this times the block without.
const loraBenchGoal = 1.04

// blockLinears lists a block's attention and FFN linears by their module names.
func blockLinears(blk *block) map[string]*linear {
	return map[string]*linear{
		"self_attn.q": &blk.selfAttn.q, "self_attn.k": &blk.selfAttn.k, "self_attn.v": &blk.selfAttn.v, "self_attn.o": &blk.selfAttn.o,
		"cross_attn.q": &blk.crossAttn.q, "cross_attn.k": &blk.crossAttn.k, "cross_attn.v": &blk.crossAttn.v, "cross_attn.o": &blk.crossAttn.o,
		"ffn.0": &blk.ffn0, "ffn.2": &blk.ffn2,
	}
}

// randomLoRAPairs makes a BF16 LoRA of rank r for every linear of lins: down [r, in] ~ N(0, 1/in) and up
// [out, r] ~ N(0, 0.01²/r), so that the update is a small fraction of the layer's output (as trained
// LoRAs are) and the residual stream stays finite over many timed runs.
func randomLoRAPairs(b engine.Backend, lins map[string]*linear, r int, seed uint64) map[*linear]*loraPair {
	return randomPaddedLoRAPairs(b, lins, r, r, seed)
}

// randomPaddedLoRAPairs is randomLoRAPairs with the rank-r adapters zero-padded to rank padded (down's
// rows and up's columns past r are zero), as paddedRank pads them: the product is the rank-r one, the
// GEMMs run at rank padded.
func randomPaddedLoRAPairs(b engine.Backend, lins map[string]*linear, r, padded int, seed uint64) map[*linear]*loraPair {
	pairs := map[*linear]*loraPair{}
	names := make([]string, 0, len(lins))
	for name := range lins {
		names = append(names, name)
	}
	slices.Sort(names)
	for i, name := range names {
		l := lins[name]
		s := l.weight.Shape()
		out, in := s[0], s[1]
		p := &loraPair{rank: r, padded: padded, typ: gguf.TypeBF16}
		down := append(randomHost(r*in, 1/math.Sqrt(float64(in)), seed+uint64(2*i)), make([]float32, (padded-r)*in)...)
		up := joinColumns(randomHost(out*r, 0.01/math.Sqrt(float64(r)), seed+uint64(2*i+1)), r, make([]float32, out*(padded-r)), padded-r, out)
		p.down = upload(b, name+".lora_down", gguf.TypeBF16, down, padded, in)
		p.up = upload(b, name+".lora_up", gguf.TypeBF16, up, out, padded)
		pairs[l] = p
	}
	return pairs
}

// loraBytes is the device memory of a set of LoRA pairs.
func loraBytes(pairs map[*linear]*loraPair) int64 {
	var n int64
	for _, p := range pairs {
		n += 2 * int64(engine.Numel(p.down.Shape())+engine.Numel(p.up.Shape()))
	}
	return n
}

// unfusedLoRA is the CUDA backend without its LoRALinear fast path: the field hides the promoted method,
// so a block given it runs the separate-op path (two extra Linears and an add per linear, and ffn.0 without
// the fused GELU) while every other fast path stays.
type unfusedLoRA struct {
	*cuda.Backend
	LinearLoRA struct{}
}

// TestLoRABenchCUDA times one full-size 14B block (bf16 linears, dim 5120, FFN 13824, 512 text rows) at
// L = 32760 (832×480, 81 frames) without LoRA and with BF16 LoRAs of rank 32, 64 and 128 on every attention
// and FFN linear, each on the fused path (LoRALinear: the up-projection accumulated by the layer's GEMM) and
// on the separate-op path it replaced (unfusedLoRA). The cases run interleaved, two forwards each per round
// (the second timed, so that it runs in its own case's clock state), so that clocks and temperature drift
// alike for all; it reports the median of the timed rounds after warm-up, the ratio to
// the block without LoRA (goal ≤ 1.04) and the peak device memory. It runs with WAN22_BACKEND_BENCH=1 and
// writes its results as JSON to $WAN22_BACKEND_BENCH_OUT/dit_lora.json when that is set.
func TestLoRABenchCUDA(t *testing.T) {
	if os.Getenv("WAN22_BACKEND_BENCH") != "1" {
		t.Skip("set WAN22_BACKEND_BENCH=1 to time run-time LoRA on a full-size DiT block on the GPU")
	}
	b := cudatest.Backend(t)
	timer := cudatest.NewProfiler(t, b)
	cfg := I2VA14B()
	g := Grid{T: 21, H: 60, W: 104} // 832×480, 81 frames
	L := g.Tokens()

	blk := loadBenchBlock(t, b, cfg, gguf.TypeBF16)
	lins := blockLinears(blk)

	type benchCase struct {
		rank    int
		padded  int                   // the rank the GEMMs run at (rank zero-padded)
		pairs   map[*linear]*loraPair // nil: no LoRA
		b       engine.Backend        // b, or unfusedLoRA for the separate-op path
		unfused bool
		ms      []float64
		peak    int64
	}
	cases := []*benchCase{{rank: 0, b: b}}
	for i, rp := range [][2]int{{32, 32}, {32, 64}, {64, 64}, {128, 128}} {
		r, padded := rp[0], rp[1]
		c := &benchCase{rank: r, padded: padded, b: b}
		if err := catchForward(func() { c.pairs = randomPaddedLoRAPairs(b.ForModel("lora"), lins, r, padded, uint64(100*(i+1))) }); err != nil {
			t.Fatalf("making the rank-%d LoRA: %v", r, err)
		}
		t.Logf("rank %3d LoRA padded to %d on %d linears: %.1f MiB", r, padded, len(c.pairs), float64(loraBytes(c.pairs))/(1<<20))
		cases = append(cases, c)
		if r == padded {
			cases = append(cases, &benchCase{rank: r, padded: padded, pairs: c.pairs, b: unfusedLoRA{Backend: b}, unfused: true})
		}
	}
	defer func() {
		for _, c := range cases {
			if c.unfused {
				continue // its pairs are the fused case's
			}
			for _, p := range c.pairs {
				b.Free(p.down, p.up)
			}
		}
	}()
	attach := func(c *benchCase) {
		for _, lin := range lins {
			lin.lora = c.pairs[lin] // nil for the case without LoRA
		}
	}
	defer attach(cases[0])

	ctx := bf16Random(b, 4, TextLen, cfg.Dim)
	e0 := b.FromHost(randomHost(6*cfg.Dim, 0.05, 5), 6, cfg.Dim)
	cosH, sinH := ropeTables(g, HeadDim)
	cos, sin := b.FromHost(cosH, L, HeadDim/2), b.FromHost(sinH, L, HeadDim/2)
	x := b.FromHost(randomHost(L*cfg.Dim, 1, 6), L, cfg.Dim)
	defer b.Free(ctx, e0, cos, sin, x)

	const warm, reps = 2, 10
	forward := func(c *benchCase) {
		if err := catchForward(func() { blk.forward(c.b, x, e0, ctx, &rope{cos, sin}, DefaultFFNChunk, nil) }); err != nil {
			t.Fatal(err)
		}
	}
	for round := range warm + reps {
		for _, c := range cases {
			attach(c)
			// One untimed forward of the same case first: the GPU's clocks follow its power draw, which
			// differs between the fused, separate-op and plain blocks, so a timed forward right after
			// another case would carry that case's clock state (docs/BENCHMARKS.md).
			forward(c)
			b.ResetPeak()
			ms := timer.Time(func() { forward(c) })
			if round >= warm {
				c.ms = append(c.ms, ms)
				c.peak = max(c.peak, b.MemStats().Peak)
			}
		}
	}
	if v := b.ToHost(b.Slice(x, 0, 1)); math.IsNaN(float64(v[0])) || math.IsInf(float64(v[0]), 0) {
		t.Errorf("the residual stream is not finite after the timed runs: %v", v[0])
	}

	var results []benchResult
	var base float64
	for _, c := range cases {
		slices.Sort(c.ms)
		med := c.ms[len(c.ms)/2]
		what, tflops := "block forward, no LoRA", 0.0
		if c.rank > 0 {
			what = fmt.Sprintf("block forward, rank-%d LoRA on 10 linears, fused", c.rank)
			if c.padded != c.rank {
				what = fmt.Sprintf("block forward, rank-%d LoRA padded to %d on 10 linears, fused", c.rank, c.padded)
			}
			if c.unfused {
				what = fmt.Sprintf("block forward, rank-%d LoRA on 10 linears, separate ops", c.rank)
			}
		} else {
			base, tflops = med, blockFLOPs(cfg, L)/med/1e9
		}
		ratio := med / base
		t.Logf("%-58s L=%d: median %8.3f ms (min %.3f, max %.3f) ratio %.4f peak %.2f GiB",
			what, L, med, c.ms[0], c.ms[len(c.ms)-1], ratio, float64(c.peak)/(1<<30))
		if c.rank > 0 && !c.unfused && ratio > loraBenchGoal {
			t.Logf("rank %d: ratio %.4f is above the goal of %.2f", c.rank, ratio, loraBenchGoal)
		}
		results = append(results, benchResult{What: what, Tokens: L, Weights: "BF16", FFNChunk: DefaultFFNChunk, MS: med,
			TFLOPs: tflops, PeakGiB: float64(c.peak) / (1 << 30)})
	}
	writeBenchJSON(t, "dit_lora.json", results)

	// One forward per fused case with every op timed on its own (synchronized), so that a ratio above the
	// goal can be traced to the ops that pay it.
	for _, c := range cases {
		if c.unfused {
			continue
		}
		attach(c)
		p := cudatest.NewProfiler(t, b)
		if err := catchForward(func() { blk.forward(p, x, e0, ctx, &rope{cos, sin}, DefaultFFNChunk, nil) }); err != nil {
			t.Fatal(err)
		}
		p.Report(fmt.Sprintf("profile, rank %d padded to %d", c.rank, c.padded))
	}
}

// writeBenchJSON writes results as JSON to $WAN22_BACKEND_BENCH_OUT/name when that is set.
func writeBenchJSON(t *testing.T, name string, results any) {
	dir := os.Getenv("WAN22_BACKEND_BENCH_OUT")
	if dir == "" {
		return
	}
	js, err := json.MarshalIndent(results, "", "  ")
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name), js, 0o644)
	}
	if err != nil {
		t.Error(err)
	}
}

// TestLoRAGoldenCUDA checks run-time LoRA on the GPU against explicitly merged weights, as the CPU tests
// do (lora_test.go): the small synthetic model with LoRAs on every kind of linear attached at run time
// gives the forward of the same model with W + s·B·A merged into its tensors, within the GPU's bf16
// tolerance, on an F32 and a Q8_0 base, with two LoRAs of different key styles stacked; and the LoRAs
// change the output by far more than that tolerance. Every byte of both models is freed afterwards.
func TestLoRAGoldenCUDA(t *testing.T) {
	b := cudatest.Backend(t)
	for _, wt := range []gguf.Type{gguf.TypeF32, gguf.TypeQ8_0} {
		t.Run(wt.String(), func(t *testing.T) {
			base := modelFile(t, wt)
			dir := t.TempDir()
			loras := []attached{
				{newTestLoRA(smallConfig, 4, 8, 51, allLinears...), keyStyles[0], 0.75},
				{newTestLoRA(smallConfig, 3, 0, 52, "blocks.0.self_attn.q", "blocks.1.ffn.0", "blocks.1.cross_attn.k", "head.head"), keyStyles[2], -0.5},
			}
			load := func(path string) *Model {
				m, err := Load(b.ForModel("dit"), openGGUF(t, path))
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
			m := load(base)
			plain := forwardOf(t, m)
			acc := map[string][]float64{}
			for i, a := range loras {
				path := filepath.Join(dir, fmt.Sprintf("lora%d.safetensors", i))
				a.l.write(t, path, a.style)
				if err := m.AttachLoRA(openLoRA(t, path), a.strength); err != nil {
					t.Fatal(err)
				}
				a.l.deltas(acc, float64(a.strength), a.style.alpha)
			}
			got := forwardOf(t, m)
			m.Free()

			merged := filepath.Join(dir, "merged.gguf")
			writeMerged(t, base, merged, acc)
			mm := load(merged)
			want := forwardOf(t, mm)
			mm.Free()
			checkGPU(t, "run-time LoRA vs merged ("+wt.String()+")", got, want)
			if d := relDiff(plain, want); d < 10*goldenTolGPU {
				t.Errorf("the LoRAs change the output by only %.3g relative: the test cannot tell them from none", d)
			}
			if left := b.MemStats().ByOwner["dit"]; left != 0 {
				t.Errorf("%d bytes of the models left after Free", left)
			}
		})
	}
}
