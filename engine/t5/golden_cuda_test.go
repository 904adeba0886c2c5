//go:build cuda

package t5

import (
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

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/cudatest"
	"github.com/wan22/wan22/internal/golden"
)

// goldenTolGPU is the bf16 GPU path's tolerance for final outputs (../shared/golden/README.md).
const goldenTolGPU = 2e-2

// TestGoldenCUDA runs the golden cases on the GPU, valid tokens only and at full length with the padded
// keys masked, then checks that Free returns the model's memory to the byte and no activation is left.
func TestGoldenCUDA(t *testing.T) {
	b := cudatest.Backend(t)
	cases := loadCases(t)
	f, err := gguf.Open(golden.Path(t, "t5_tiny_f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := Load(b.ForModel("t5"), f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "cuda, valid tokens only", enc, cases, goldenTolGPU)
	enc.FullLength = true
	checkGolden(t, "cuda, full length, padded keys masked", enc, cases, goldenTolGPU)
	enc.Free()
	if left := b.MemStats().ByOwner["t5"]; left != 0 {
		t.Errorf("%d bytes of the encoder left after Free", left)
	}
	if live := b.PoolStats().InUse; live != 0 {
		t.Errorf("%d bytes of activations left live", live)
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
// weights: Encode end to end (what the pipeline pays), the part of it spent building the relative-position
// bias on the host (positionBias, once per layer), and the peak device memory. It runs with
// WAN22_BACKEND_BENCH=1 (bench/torch/umt5.py measures PyTorch on the same shapes) and writes JSON to
// $WAN22_BACKEND_BENCH_OUT/umt5.json when that is set.
func TestCUDAEncoderBench(t *testing.T) {
	if os.Getenv("WAN22_BACKEND_BENCH") != "1" {
		t.Skip("set WAN22_BACKEND_BENCH=1 to time the full-size umT5 encoder on the GPU")
	}
	b := cudatest.Backend(t)
	type result struct {
		Weights      string  `json:"weights"`
		Tokens       int     `json:"tokens"`
		EncodeMS     float64 `json:"encode_ms"`
		HostBiasMS   float64 `json:"host_bias_ms"`
		LoadS        float64 `json:"load_s"`
		WeightsGiB   float64 `json:"weights_gib"`
		PeakGiB      float64 `json:"peak_gib"`
		ActivPeakGiB float64 `json:"activations_peak_gib"`
	}
	var results []result
	const L = 512
	for _, wt := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeBF16} {
		src, cfg, err := fullSizeModel(wt)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		enc, err := Load(b.ForModel("umt5"), src)
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
		var times []float64
		var peak, activ int64
		for i := range 4 {
			b.ResetPeak()
			start := time.Now()
			out, n, err := enc.Encode(ids, mask)
			if err != nil {
				t.Fatal(err)
			}
			if i > 0 {
				times = append(times, float64(time.Since(start))/float64(time.Millisecond))
			}
			peak, activ = b.MemStats().Peak, b.PoolStats().Peak
			if n != L || len(out) != L*cfg.Dim || math.IsNaN(float64(out[0])) {
				t.Fatalf("Encode: %d rows, %d values, out[0] %v", n, len(out), out[0])
			}
		}
		slices.Sort(times)
		// The host part of every layer: the bias table the encoder builds before each attention.
		start = time.Now()
		for _, blk := range enc.Blocks {
			_ = positionBias(blk.relB, cfg.Heads, L, L)
		}
		hostBias := float64(time.Since(start)) / float64(time.Millisecond)
		res := result{Weights: wt.String(), Tokens: L, EncodeMS: times[len(times)/2], HostBiasMS: hostBias, LoadS: load.Seconds(),
			WeightsGiB: float64(b.MemStats().ByOwner["umt5"]) / (1 << 30), PeakGiB: float64(peak) / (1 << 30), ActivPeakGiB: float64(activ) / (1 << 30)}
		t.Logf("umT5-XXL %-5s %d tokens: Encode %.1f ms (host bias tables %.1f ms of it), load %.1f s, weights %.2f GiB, peak %.2f GiB (activations %.2f GiB)",
			res.Weights, L, res.EncodeMS, res.HostBiasMS, res.LoadS, res.WeightsGiB, res.PeakGiB, res.ActivPeakGiB)
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
