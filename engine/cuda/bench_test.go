//go:build cuda

package cuda

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wan22/wan22/gguf"
)

// The benchmark report: TestBenchReport runs only with WAN22_CUDA_BENCH=1 (scripts/gpu-run.sh sets it).
// It measures pinned host→device bandwidth, copy/compute overlap, GEMM throughput at WAN shapes on every
// path, and dequantize+GEMM; with WAN22_TORCH_JSON (from bench/torch/reference.py) it prints ratios to
// PyTorch measured in the same run, and with WAN22_BENCH_OUT it writes its numbers as JSON.

type benchShape struct{ M, K, N int }

func (s benchShape) key() string { return fmt.Sprintf("%dx%dx%d", s.M, s.K, s.N) }

var wanShapes = []benchShape{{32760, 5120, 5120}, {32760, 5120, 13824}, {32760, 13824, 5120}}

type torchRef struct {
	GPU    string  `json:"gpu"`
	Torch  string  `json:"torch"`
	H2D    float64 `json:"h2d_pinned_GBps"`
	Matmul map[string]struct {
		Ms     float64 `json:"ms"`
		TFLOPS float64 `json:"tflops"`
	} `json:"matmul"`
}

// timeOn returns the median time of fn on stream s over reps runs, measured with events recorded back to
// back. Before that, fn runs for about warm of wall time so that clocks and power draw have settled (a
// GEMM's first milliseconds run at a higher clock than its steady state); bench/torch/reference.py measures
// the same way.
func timeOn(t testing.TB, d *Device, s *Stream, warm time.Duration, reps int, fn func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for n := 1; time.Since(start) < warm; n *= 2 {
		for i := 0; i < n; i++ {
			must(t, fn())
		}
		must(t, s.Synchronize())
	}
	evs := make([]*Event, 2*reps)
	for i := range evs {
		e, err := d.NewEvent(true)
		must(t, err)
		evs[i] = e
		defer e.Destroy()
	}
	for i := 0; i < reps; i++ {
		must(t, evs[2*i].Record(s))
		must(t, fn())
		must(t, evs[2*i+1].Record(s))
	}
	must(t, d.Synchronize())
	ds := make([]time.Duration, reps)
	for i := range ds {
		el, err := evs[2*i].Elapsed(evs[2*i+1])
		must(t, err)
		ds[i] = el
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[reps/2]
}

// timePair times a and b alternately (a, b, a, b, …) on stream s after a joint warm-up, so that both see
// the same clocks; it returns both medians.
func timePair(t testing.TB, d *Device, s *Stream, warm time.Duration, reps int, a, b func() error) (time.Duration, time.Duration) {
	t.Helper()
	both := func() error {
		if err := a(); err != nil {
			return err
		}
		return b()
	}
	timeOn(t, d, s, warm, 1, both)
	evs := make([]*Event, 4*reps)
	for i := range evs {
		e, err := d.NewEvent(true)
		must(t, err)
		evs[i] = e
		defer e.Destroy()
	}
	for i := 0; i < reps; i++ {
		for j, fn := range []func() error{a, b} {
			must(t, evs[4*i+2*j].Record(s))
			must(t, fn())
			must(t, evs[4*i+2*j+1].Record(s))
		}
	}
	must(t, d.Synchronize())
	med := func(j int) time.Duration {
		ds := make([]time.Duration, reps)
		for i := range ds {
			el, err := evs[4*i+2*j].Elapsed(evs[4*i+2*j+1])
			must(t, err)
			ds[i] = el
		}
		sort.Slice(ds, func(x, y int) bool { return ds[x] < ds[y] })
		return ds[reps/2]
	}
	return med(0), med(1)
}

const (
	warmCopy = 300 * time.Millisecond
	warmGemm = time.Second
)

// fillRandomBF16 fills m with random normal bf16 values (a random chunk, then doubled on the device).
func fillRandomBF16(t testing.TB, d *Device, m Mem, scale float64, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed+1))
	chunk := min(m.Bytes, 32<<20) / 2
	h := make([]uint16, chunk)
	for i := range h {
		h[i] = gguf.F32ToBF16(float32(r.NormFloat64() * scale))
	}
	must(t, d.UploadU16(m, h))
	for done := chunk * 2; done < m.Bytes; {
		n := min(done, m.Bytes-done)
		must(t, d.CopyDtoD(nil, m.Slice(done, n), m.Slice(0, n), n))
		done += n
	}
	must(t, d.Synchronize())
}

func gbps(bytes int64, d time.Duration) float64 { return float64(bytes) / d.Seconds() / 1e9 }

func tflops(s benchShape, d time.Duration) float64 {
	return 2 * float64(s.M) * float64(s.K) * float64(s.N) / d.Seconds() / 1e12
}

func TestBenchReport(t *testing.T) {
	if os.Getenv("WAN22_CUDA_BENCH") != "1" {
		t.Skip("set WAN22_CUDA_BENCH=1 to run the benchmark report")
	}
	d := testDevice(t)
	res := map[string]any{"device": d.Info()}
	var ref *torchRef
	if p := os.Getenv("WAN22_TORCH_JSON"); p != "" {
		b, err := os.ReadFile(p)
		must(t, err)
		ref = &torchRef{}
		must(t, json.Unmarshal(b, ref))
	}
	var lines []string
	say := func(format string, a ...any) {
		s := fmt.Sprintf(format, a...)
		lines = append(lines, s)
		t.Log(s)
	}
	say("device: %s, %d SMs, driver %d, cuBLASLt %s", d.Info().Name, d.Info().SMs, d.Info().Driver, d.Info().CublasLt)

	// ---- host → device bandwidth ----
	const copyBytes = 1 << 30
	pinned, err := d.AllocPinned("bench", copyBytes)
	must(t, err)
	defer pinned.Free()
	r := rand.New(rand.NewPCG(5, 6))
	hb := pinned.Bytes()
	for i := 0; i+8 <= len(hb); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			hb[i+j] = byte(v >> (8 * j))
		}
	}
	dst := alloc(t, d, copyBytes)
	cs := d.CopyStream()
	h2d := timeOn(t, d, cs, warmCopy, 10, func() error { return d.CopyHtoD(cs, dst, pinned, 0, copyBytes) })
	res["h2d_pinned_GBps"] = gbps(copyBytes, h2d)
	line := fmt.Sprintf("H2D pinned 1 GiB: %.2f ms, %.2f GB/s", h2d.Seconds()*1e3, gbps(copyBytes, h2d))
	if ref != nil && ref.H2D > 0 {
		line += fmt.Sprintf(" = %.3f× PyTorch's %.2f GB/s", gbps(copyBytes, h2d)/ref.H2D, ref.H2D)
		res["h2d_ratio_to_torch"] = gbps(copyBytes, h2d) / ref.H2D
	}
	say("%s", line)
	page, err := d.allocPageable("bench", 256<<20)
	must(t, err)
	copy(page.Bytes(), hb[:256<<20])
	pg := timeOn(t, d, cs, 0, 3, func() error { return d.CopyHtoD(cs, dst, page, 0, 256<<20) })
	must(t, page.Free())
	res["h2d_pageable_GBps"] = gbps(256<<20, pg)
	say("H2D pageable 256 MiB: %.2f GB/s", gbps(256<<20, pg))

	// ---- GEMM buffers ----
	maxK := 13824
	x := alloc(t, d, int64(32760*maxK*2))
	w := alloc(t, d, int64(13824*5120*2))
	y := alloc(t, d, int64(32760*maxK*2))
	biasB := alloc(t, d, 13824*2)
	fillRandomBF16(t, d, x, 1, 1)
	fillRandomBF16(t, d, w, 0.02, 2)
	must(t, d.UploadU16(biasB, toBF16(randF32(r, 13824, 1))))
	comp := d.ComputeStream()

	// ---- copy/compute overlap ----
	ov := benchShape{8192, 5120, 5120}
	gemmOv := func() error {
		return d.Gemm(comp, GemmOp{Y: y, YType: gguf.TypeBF16, X: x, W: w, M: ov.M, N: ov.N, K: ov.K})
	}
	one := timeOn(t, d, comp, warmGemm, 10, gemmOv)
	reps := int(h2d/one) + 1
	kernelsAlone := timeOn(t, d, comp, 0, 3, func() error {
		for i := 0; i < reps; i++ {
			if err := gemmOv(); err != nil {
				return err
			}
		}
		return nil
	})
	start, _ := d.NewEvent(true)
	kEnd, _ := d.NewEvent(true)
	cStart, _ := d.NewEvent(true)
	cEnd, _ := d.NewEvent(true)
	var cOv, kOv, total time.Duration
	for trial := 0; trial < 3; trial++ {
		must(t, start.Record(comp))
		must(t, cs.WaitEvent(start))
		must(t, cStart.Record(cs))
		must(t, d.CopyHtoD(cs, dst, pinned, 0, copyBytes))
		must(t, cEnd.Record(cs))
		for i := 0; i < reps; i++ {
			must(t, gemmOv())
		}
		must(t, kEnd.Record(comp))
		must(t, d.Synchronize())
		cOv, _ = cStart.Elapsed(cEnd)
		kOv, _ = start.Elapsed(kEnd)
		cEndAt, _ := start.Elapsed(cEnd)
		total = max(kOv, cEndAt)
	}
	res["overlap"] = map[string]float64{"copy_alone_ms": h2d.Seconds() * 1e3, "copy_overlapped_ms": cOv.Seconds() * 1e3,
		"compute_alone_ms": kernelsAlone.Seconds() * 1e3, "compute_overlapped_ms": kOv.Seconds() * 1e3, "total_ms": total.Seconds() * 1e3}
	say("overlap: 1 GiB H2D on the copy stream alone %.2f ms, during compute %.2f ms; %d GEMMs %dx%dx%d alone %.2f ms, during the copy %.2f ms; together %.2f ms < sum %.2f ms",
		h2d.Seconds()*1e3, cOv.Seconds()*1e3, reps, ov.M, ov.K, ov.N, kernelsAlone.Seconds()*1e3, kOv.Seconds()*1e3,
		total.Seconds()*1e3, (h2d+kernelsAlone).Seconds()*1e3)
	if total >= h2d+kernelsAlone {
		t.Errorf("copy and compute did not overlap")
	}

	// ---- GEMM throughput ----
	scratch := alloc(t, d, int64(13824*5120*2))
	gemmRes := map[string]map[string]float64{}
	for _, s := range wanShapes {
		row := map[string]float64{}
		op := GemmOp{Y: y, YType: gguf.TypeBF16, X: x, W: w, M: s.M, N: s.N, K: s.K}
		run := func(name string, path GemmPath, tile string, bias bool) time.Duration {
			o := op
			o.Path = path
			if bias {
				o.Bias, o.BiasType = biasB, gguf.TypeBF16
			}
			ownTileOverride = tile
			defer func() { ownTileOverride = "" }()
			dt := timeOn(t, d, comp, warmGemm, 20, func() error { return d.Gemm(comp, o) })
			row[name+"_ms"] = dt.Seconds() * 1e3
			row[name+"_tflops"] = tflops(s, dt)
			return dt
		}
		if d.HasCublasLt() {
			run("cublaslt", GemmCublasLt, "", false)
			run("cublaslt_bias", GemmCublasLt, "", true)
		}
		bestOwn, bestName := time.Duration(1<<62), ""
		for _, tl := range gemmTiles {
			if dt := run("own"+tl.name, GemmOwn, tl.name, false); dt < bestOwn {
				bestOwn, bestName = dt, tl.name
			}
		}
		row["own_best_tflops"] = tflops(s, bestOwn)
		// Dequantize + GEMM (Linear with an explicit scratch), on the default path. The weights are real
		// quantizations of normal data (a quantized chunk repeated), and the ratio compares with the bf16
		// GEMM over the very values the dequantization produces, timed alternately with it, so that
		// data-dependent and thermal clock changes cancel.
		for _, qt := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_K} {
			chunk, err := gguf.Quantize(qt, randF32(rand.New(rand.NewPCG(9, uint64(qt))), 256*1024, 0.02))
			must(t, err)
			wqBytes, _ := qt.RowBytes(int64(s.N) * int64(s.K))
			wq := alloc(t, d, wqBytes)
			must(t, d.Upload(wq.Slice(0, int64(len(chunk))), chunk))
			for done := int64(len(chunk)); done < wqBytes; {
				n := min(done, wqBytes-done)
				must(t, d.CopyDtoD(nil, wq.Slice(done, n), wq.Slice(0, n), n))
				done += n
			}
			lin := LinearOp{Y: y, YType: gguf.TypeBF16, X: x, W: Weight{Mem: wq, Type: qt, N: s.N, K: s.K}, M: s.M, Scratch: scratch}
			dq := timeOn(t, d, comp, warmCopy, 20, func() error {
				return d.Dequantize(comp, scratch, gguf.TypeBF16, wq, qt, int64(s.N)*int64(s.K))
			})
			dt, same := timePair(t, d, comp, warmGemm, 20, func() error { return d.Linear(comp, lin) }, func() error {
				return d.Gemm(comp, GemmOp{Y: y, YType: gguf.TypeBF16, X: x, W: scratch, M: s.M, N: s.N, K: s.K})
			})
			name := strings.ToLower(qt.String())
			row[name+"_linear_ms"] = dt.Seconds() * 1e3
			row[name+"_dequant_ms"] = dq.Seconds() * 1e3
			row[name+"_bf16_gemm_same_values_ms"] = same.Seconds() * 1e3
			row[name+"_ratio_to_bf16"] = same.Seconds() / dt.Seconds()
		}
		line := fmt.Sprintf("GEMM M=%d K=%d N=%d:", s.M, s.K, s.N)
		if d.HasCublasLt() {
			line += fmt.Sprintf(" cuBLASLt %.1f TFLOP/s (%.3f ms), with bias %.1f;", row["cublaslt_tflops"], row["cublaslt_ms"], row["cublaslt_bias_tflops"])
		}
		line += " own"
		for _, tl := range gemmTiles {
			line += fmt.Sprintf(" %s %.1f", tl.name, row["own"+tl.name+"_tflops"])
		}
		line += fmt.Sprintf(" TFLOP/s (best %s);", bestName)
		for _, q := range []string{"q8_0", "q4_k"} {
			line += fmt.Sprintf(" %s dequant+GEMM %.3f ms (dequant %.3f ms, bf16 GEMM on the same values %.3f ms) = %.3f× bf16;",
				strings.ToUpper(q), row[q+"_linear_ms"], row[q+"_dequant_ms"], row[q+"_bf16_gemm_same_values_ms"], row[q+"_ratio_to_bf16"])
		}
		if ref != nil {
			if tm, ok := ref.Matmul[s.key()]; ok && tm.TFLOPS > 0 {
				if d.HasCublasLt() {
					row["cublaslt_ratio_to_torch"] = row["cublaslt_tflops"] / tm.TFLOPS
				}
				row["own_best_ratio_to_torch"] = row["own_best_tflops"] / tm.TFLOPS
				line += fmt.Sprintf("; torch.matmul %.1f TFLOP/s → cuBLASLt %.3f×, own best %.3f×", tm.TFLOPS,
					row["cublaslt_ratio_to_torch"], row["own_best_ratio_to_torch"])
			}
		}
		gemmRes[s.key()] = row
		say("%s", line)
	}
	res["gemm"] = gemmRes

	// ---- the own kernel agrees with cuBLASLt at a full WAN shape ----
	if d.HasCublasLt() {
		s := wanShapes[0]
		n := s.M * s.N
		y2 := alloc(t, d, int64(n*2))
		poison(t, d, y2, gguf.TypeBF16)
		must(t, d.Gemm(comp, GemmOp{Y: y, YType: gguf.TypeBF16, X: x, W: w, M: s.M, N: s.N, K: s.K, Path: GemmCublasLt}))
		must(t, d.Gemm(comp, GemmOp{Y: y2, YType: gguf.TypeBF16, X: x, W: w, M: s.M, N: s.N, K: s.K, Path: GemmOwn}))
		a := download(t, d, y, n, gguf.TypeBF16)
		b := download(t, d, y2, n, gguf.TypeBF16)
		wantF := make([]float64, n)
		for i, v := range a {
			wantF[i] = float64(v)
		}
		e := relL2(b, wantF)
		res["own_vs_cublaslt_relL2"] = e
		say("own kernel vs cuBLASLt at %s: relative L2 %.2e", s.key(), e)
		if e > 1e-2 {
			t.Errorf("own kernel disagrees with cuBLASLt: %.3g", e)
		}
	}

	if p := os.Getenv("WAN22_BENCH_OUT"); p != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		must(t, err)
		must(t, os.WriteFile(p, b, 0o644))
	}
	fmt.Println("==== CUDA backend benchmark summary ====")
	for _, l := range lines {
		fmt.Println(l)
	}
}

// TestBenchGemmLt (WAN22_CUDA_BENCH=gemm) times only the cuBLASLt GEMMs at the WAN shapes and writes them to
// WAN22_BENCH_OUT in bench/torch/reference.py's format; scripts/gpu-run.sh alternates it with PyTorch's
// runs so that both are compared under the same conditions.
func TestBenchGemmLt(t *testing.T) {
	if os.Getenv("WAN22_CUDA_BENCH") != "gemm" {
		t.Skip("set WAN22_CUDA_BENCH=gemm to run")
	}
	d := testDevice(t)
	if !d.HasCublasLt() {
		t.Skip("no cuBLASLt")
	}
	x := alloc(t, d, int64(32760*13824*2))
	w := alloc(t, d, int64(13824*5120*2))
	y := alloc(t, d, int64(32760*13824*2))
	bias := alloc(t, d, int64(13824*2))
	fillRandomBF16(t, d, x, 1, 1)
	fillRandomBF16(t, d, w, 0.02, 2)
	fillRandomBF16(t, d, bias, 0.1, 3)
	comp := d.ComputeStream()
	out := map[string]map[string]map[string]float64{"matmul": {}}
	// The block's GEMMs as engine/dit runs them: the 5120² linears and ffn.2 with the bias epilogue, ffn.0 with
	// GELU_BIAS in 8192-row chunks; without bias as the plain shapes; and the alternatives for ffn.0.
	type variant struct {
		name       string
		s          benchShape
		bias, gelu bool
	}
	var variants []variant
	for _, s := range wanShapes {
		variants = append(variants, variant{"plain", s, false, false}, variant{"bias", s, true, false})
	}
	ffn0 := wanShapes[1]
	chunk := benchShape{8192, ffn0.K, ffn0.N}
	variants = append(variants, variant{"gelu_bias", ffn0, true, true}, variant{"gelu_bias", chunk, true, true}, variant{"bias", chunk, true, false})
	for _, v := range variants {
		s := v.s
		op := GemmOp{Y: y, YType: gguf.TypeBF16, X: x, W: w, M: s.M, N: s.N, K: s.K, Path: GemmCublasLt, GELU: v.gelu}
		if v.bias {
			op.Bias, op.BiasType = bias, gguf.TypeBF16
		}
		dt := timeOn(t, d, comp, warmGemm, 20, func() error { return d.Gemm(comp, op) })
		chosen, algos := -1, 0 // the plan's, read on the CUDA goroutine that owns the plans
		must(t, d.Do(func() error {
			for k, pl := range d.lt.plans {
				if k.m == s.M && k.n == s.N && k.k == s.K && k.gelu == v.gelu && (k.bias >= 0) == v.bias {
					chosen, algos = pl.chosen, pl.algos
				}
			}
			return nil
		}))
		key := s.key() // reference.py --compare reads the plain shapes under their bare key
		if v.name != "plain" {
			key += "_" + v.name
		}
		out["matmul"][key] = map[string]float64{"ms": dt.Seconds() * 1e3, "tflops": tflops(s, dt), "chosen": float64(chosen), "candidates": float64(algos)}
		fmt.Printf("wan22 cuBLASLt bf16 M=%d K=%d N=%d %-9s: %.3f ms, %.1f TFLOP/s (candidate %d of %d)\n", s.M, s.K, s.N, v.name,
			dt.Seconds()*1e3, tflops(s, dt), chosen, algos)
	}
	if p := os.Getenv("WAN22_BENCH_OUT"); p != "" {
		b, err := json.Marshal(out)
		must(t, err)
		must(t, os.WriteFile(p, b, 0o644))
	}
}
