//go:build cuda

package t5

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/cudatest"
	"github.com/wan22/wan22/internal/golden"
)

// goldenTolGPU is the bf16 GPU path's tolerance for final outputs (../shared/golden/README.md).
const goldenTolGPU = 2e-2

// bf16TolTiny bounds the encoder in PrecisionBF16 on the golden tiny model. Its unscaled attention logits
// amplify the rounding of bf16 GEMM operands: a CPU run that only rounds the operands and outputs of the
// GEMMs and attention to bf16 is off by the same 2.8–3.0% as the GPU, so the bf16 path is checked against
// this looser bound and the golden tolerance is met in PrecisionF32, the encoder's mode on the GPU.
const bf16TolTiny = 4e-2

// The CUDA backend builds the position bias on the device (its views and cudatest.Profiler too).
var (
	_ relPosBiaser = (*cuda.Backend)(nil)
	_ relPosBiaser = (*cudatest.Profiler)(nil)
)

// TestGoldenCUDA runs the golden cases on the GPU, valid tokens only and at full length with the padded
// keys masked, in both precisions, then checks that Free returns the model's memory to the byte and leaves
// no activation.
func TestGoldenCUDA(t *testing.T) {
	b := cudatest.Backend(t)
	cases := loadCases(t)
	for _, tc := range []struct {
		p   cuda.Precision
		tol float64
	}{{cuda.PrecisionF32, goldenTolGPU}, {cuda.PrecisionBF16, bf16TolTiny}} {
		f, err := gguf.Open(golden.Path(t, "t5_tiny_f32.gguf"))
		if err != nil {
			t.Fatal(err)
		}
		enc, err := Load(b.ForModel("t5").WithPrecision(tc.p), f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		label := "cuda " + tc.p.String()
		checkGolden(t, label+", valid tokens only", enc, cases, tc.tol)
		enc.FullLength = true
		checkGolden(t, label+", full length, padded keys masked", enc, cases, tc.tol)
		enc.Free()
		if left := b.MemStats().ByOwner["t5"]; left != 0 {
			t.Errorf("%s: %d bytes of the encoder left after Free", label, left)
		}
		if live := b.PoolStats().InUse; live != 0 {
			t.Errorf("%s: %d bytes of activations left live", label, live)
		}
	}
}

// fullSizeModel is the umT5-XXL encoder's shape (spec §6.1) with random weights in weightType (norms and
// relative-position tables F32). Layers share their weight bytes: generating and holding 5.7 B distinct
// random values would cost more than the benchmark itself and time nothing more.
func fullSizeModel(weightType gguf.Type) (*memSource, Config, error) {
	cfg := Config{Vocab: 256384, Dim: 4096, Inner: 4096, Heads: 64, FFN: 10240, Layers: 24}
	r := rand.New(rand.NewPCG(11, 5))
	// filled returns n elements of N(mean, std²) in type typ: a tile of 2^20 values repeated.
	filled := func(typ gguf.Type, n int64, mean, std float64) ([]byte, error) {
		tileN := min(n, 1<<20)
		v := make([]float32, tileN)
		for i := range v {
			v[i] = float32(mean + std*r.NormFloat64())
		}
		tile, err := gguf.Quantize(typ, v)
		if err != nil {
			return nil, err
		}
		size, err := typ.RowBytes(n)
		if err != nil {
			return nil, err
		}
		out := make([]byte, size)
		for off := int64(0); off < size; off += int64(len(tile)) {
			copy(out[off:], tile)
		}
		return out, nil
	}
	s := &memSource{}
	shared := map[string][]byte{}
	add := func(name, class string, typ gguf.Type, mean, std float64, shape ...int64) error {
		data, ok := shared[class]
		if !ok {
			n := int64(1)
			for _, d := range shape {
				n *= d
			}
			var err error
			if data, err = filled(typ, n, mean, std); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			shared[class] = data
		}
		s.ts = append(s.ts, memTensor{name: name, typ: typ, shape: shape, data: data})
		return nil
	}
	d, in, f, h := int64(cfg.Dim), int64(cfg.Inner), int64(cfg.FFN), int64(cfg.Heads)
	errs := []error{add("token_embd.weight", "embd", weightType, 0, 1, int64(cfg.Vocab), d)}
	for i := range cfg.Layers {
		p := fmt.Sprintf("enc.blk.%d.", i)
		errs = append(errs,
			add(p+"attn_norm.weight", "norm", gguf.TypeF32, 1, 0.1, d),
			add(p+"attn_q.weight", "qkv", weightType, 0, 1/math.Sqrt(float64(d)), in, d),
			add(p+"attn_k.weight", "qkv", weightType, 0, 1/math.Sqrt(float64(d)), in, d),
			add(p+"attn_v.weight", "qkv", weightType, 0, 1/math.Sqrt(float64(d)), in, d),
			add(p+"attn_o.weight", "o", weightType, 0, 1/math.Sqrt(float64(in)), d, in),
			add(p+"attn_rel_b.weight", "relb", gguf.TypeF32, 0, 0.5, numBuckets, h),
			add(p+"ffn_norm.weight", "norm", gguf.TypeF32, 1, 0.1, d),
			add(p+"ffn_gate.weight", "up", weightType, 0, 1/math.Sqrt(float64(d)), f, d),
			add(p+"ffn_up.weight", "up", weightType, 0, 1/math.Sqrt(float64(d)), f, d),
			add(p+"ffn_down.weight", "down", weightType, 0, 1/math.Sqrt(float64(f)), d, f))
	}
	errs = append(errs, add("enc.output_norm.weight", "norm", gguf.TypeF32, 1, 0.1, d))
	return s, cfg, errors.Join(errs...)
}

// TestCUDAEncoderBench times the full-size umT5-XXL encoder on a 512-token prompt with Q8_0 and bf16
// weights (PrecisionF32, and bf16 weights in PrecisionBF16): Encode end to end (what the pipeline pays),
// the device work of its ops (each timed alone by cudatest.Profiler), the relative-position bias built on
// the device (RelPosBias, the encoder's fast path on this backend) against what the host path would cost
// (positionBias, timed here without its uploads), and the peak device memory. It runs with
// WAN22_BACKEND_BENCH=1 (bench/torch/umt5.py measures PyTorch on the same shapes) and writes JSON to
// $WAN22_BACKEND_BENCH_OUT/umt5.json when that is set.
func TestCUDAEncoderBench(t *testing.T) {
	if os.Getenv("WAN22_BACKEND_BENCH") != "1" {
		t.Skip("set WAN22_BACKEND_BENCH=1 to time the full-size umT5 encoder on the GPU")
	}
	b := cudatest.Backend(t)
	type result struct {
		Weights      string  `json:"weights"`
		Precision    string  `json:"precision"`
		Tokens       int     `json:"tokens"`
		EncodeMS     float64 `json:"encode_ms"`
		HostBiasMS   float64 `json:"host_bias_ms"`
		DeviceMS     float64 `json:"device_ms"`
		BiasUploadMS float64 `json:"bias_upload_ms"`
		DeviceBiasMS float64 `json:"device_bias_ms"`
		LoadS        float64 `json:"load_s"`
		WeightsGiB   float64 `json:"weights_gib"`
		PeakGiB      float64 `json:"peak_gib"`
		ActivPeakGiB float64 `json:"activations_peak_gib"`
	}
	var results []result
	const L = 512
	for _, run := range []struct {
		wt gguf.Type
		p  cuda.Precision
	}{{gguf.TypeQ8_0, cuda.PrecisionF32}, {gguf.TypeBF16, cuda.PrecisionF32}, {gguf.TypeBF16, cuda.PrecisionBF16}} {
		src, cfg, err := fullSizeModel(run.wt)
		if err != nil {
			t.Fatal(err)
		}
		// The encoder runs on a profiler: switched off for the end-to-end timings, on for one run that
		// times each op's device work alone.
		prof := cudatest.NewProfiler(t, b.ForModel("umt5").WithPrecision(run.p))
		prof.Off = true
		start := time.Now()
		enc, err := Load(prof, src)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Synchronize(); err != nil {
			t.Fatal(err)
		}
		load := time.Since(start)
		src = nil
		ids, mask := make([]int32, L), make([]int32, L)
		r := rand.New(rand.NewPCG(3, 4))
		for i := range ids {
			ids[i], mask[i] = int32(3+r.IntN(cfg.Vocab-3)), 1
		}
		ids[L-1] = 1 // EOS
		encode := func() {
			out, n, err := enc.Encode(context.Background(), ids, mask)
			if err != nil {
				t.Fatal(err)
			}
			if n != L || len(out) != L*cfg.Dim || math.IsNaN(float64(out[0])) {
				t.Fatalf("Encode: %d rows, %d values, out[0] %v", n, len(out), out[0])
			}
		}
		var times []float64
		var peak, activ int64
		for i := range 4 {
			b.ResetPeak()
			start := time.Now()
			encode()
			if i > 0 {
				times = append(times, float64(time.Since(start))/float64(time.Millisecond))
			}
			peak, activ = b.MemStats().Peak, b.PoolStats().Peak
		}
		slices.Sort(times)
		prof.Off = false
		encode()
		prof.Report(fmt.Sprintf("umT5-XXL %v %v, device work of one Encode", run.wt, run.p))
		if n := prof.Calls["RelPosBias"]; n != cfg.Layers {
			t.Errorf("Encode built %d position biases on the device, want one per layer (%d)", n, cfg.Layers)
		}
		deviceBias := prof.MS["RelPosBias"]
		// What the host path (positionBias, then an upload of heads·L·L floats per layer) would add.
		start = time.Now()
		for _, blk := range enc.Blocks {
			_ = positionBias(blk.relB, cfg.Heads, L, L)
		}
		hostBias := float64(time.Since(start)) / float64(time.Millisecond)
		res := result{Weights: run.wt.String(), Precision: run.p.String(), Tokens: L, EncodeMS: times[len(times)/2], HostBiasMS: hostBias,
			DeviceMS: prof.Total() - prof.MS["FromHost"], BiasUploadMS: prof.MS["FromHost"], DeviceBiasMS: deviceBias, LoadS: load.Seconds(),
			WeightsGiB: float64(b.MemStats().ByOwner["umt5"]) / (1 << 30), PeakGiB: float64(peak) / (1 << 30), ActivPeakGiB: float64(activ) / (1 << 30)}
		t.Logf("umT5-XXL %-5s %s %d tokens: Encode %.1f ms end to end; device work %.1f ms (bias built on the device: %.2f ms) + uploads %.1f ms; host bias tables would take %.1f ms; load %.1f s, weights %.2f GiB, peak %.2f GiB (activations %.2f GiB)",
			res.Weights, res.Precision, L, res.EncodeMS, res.DeviceMS, deviceBias, res.BiasUploadMS, hostBias, res.LoadS, res.WeightsGiB, res.PeakGiB, res.ActivPeakGiB)
		results = append(results, res)
		enc.Free()
		if err := b.Trim(); err != nil {
			t.Fatal(err)
		}
		if left := b.MemStats().ByOwner["umt5"]; left != 0 {
			t.Errorf("%d bytes of the encoder left after Free", left)
		}
	}
	if dir := os.Getenv("WAN22_BACKEND_BENCH_OUT"); dir != "" {
		js, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, "umt5.json"), js, 0o644); err != nil {
			t.Error(err)
		}
	}
}
