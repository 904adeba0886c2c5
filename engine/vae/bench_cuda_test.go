//go:build cuda

package vae_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/engine/vae"
	"github.com/wan22/wan22/internal/cudatest"
	"github.com/wan22/wan22/safetensors"
)

// benchCase is one VAE benchmark: "enc81@832x480" encodes 81 frames of 832×480, "dec241@832x480" decodes
// the 61 latent frames of 241 frames.
type benchCase struct {
	name             string
	encode           bool
	frames           int
	w, h             int
	latentT          int
	latentH, latentW int
}

func parseBenchCase(s string) (benchCase, error) {
	c := benchCase{name: s}
	kind, size, ok := strings.Cut(s, "@")
	ws, hs, ok2 := strings.Cut(size, "x")
	if !ok || !ok2 || len(kind) < 4 || (kind[:3] != "enc" && kind[:3] != "dec") {
		return c, fmt.Errorf("bad case %q (want enc81@832x480 or dec81@832x480)", s)
	}
	var err1, err2, err3 error
	c.encode = kind[:3] == "enc"
	c.frames, err1 = strconv.Atoi(kind[3:])
	c.w, err2 = strconv.Atoi(ws)
	c.h, err3 = strconv.Atoi(hs)
	if err1 != nil || err2 != nil || err3 != nil || c.frames < 1 || (c.frames-1)%4 != 0 || c.w%vae.Scale != 0 || c.h%vae.Scale != 0 {
		return c, fmt.Errorf("bad case %q (frames 1+4k, sides multiples of 8)", s)
	}
	c.latentT, c.latentH, c.latentW = 1+(c.frames-1)/4, c.h/vae.Scale, c.w/vae.Scale
	return c, nil
}

// run encodes or decodes once and returns the wall time; the decoded frames go to a host buffer, as a
// video writer would take them.
func (c benchCase) run(t testing.TB, v *vae.VAE, seed uint64) time.Duration {
	t.Helper()
	if c.encode {
		video := gaussian(3*c.frames*c.h*c.w, seed)
		for i := range video {
			video[i] = max(-1, min(1, video[i]/2))
		}
		start := time.Now()
		if _, err := v.Encode(context.Background(), video, c.frames, c.h, c.w); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		return time.Since(start)
	}
	z := gaussian(16*c.latentT*c.latentH*c.latentW, seed)
	got := 0
	start := time.Now()
	err := v.Decode(context.Background(), z, c.latentT, c.latentH, c.latentW, func(f []float32, first int) error {
		got += len(f) / (3 * c.h * c.w)
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	if got != c.frames {
		t.Fatalf("%s: decoded %d frames, want %d", c.name, got, c.frames)
	}
	return time.Since(start)
}

// TestBenchCUDA times the real-size VAE on the GPU (docs/BENCHMARKS.md, "VAE on CUDA"). It needs
// WAN22_VAE_BENCH, the path of a Wan 2.1 VAE safetensors file (bench/torch/wan_vae.py --save writes one
// with random weights); WAN22_VAE_BENCH_CASES lists the cases (default: encode 81 frames at 832×480, decode
// 81, 161 and 241 frames at 832×480 and 81 at 1280×720). Each case runs once after a small warm-up, with
// the activation pool emptied before it, and reports the wall time and the peak of device memory the
// backend held (weights, activations, the pool's cache and scratch). With WAN22_VAE_BENCH_JSON the results
// are written there too.
func TestBenchCUDA(t *testing.T) {
	path := os.Getenv("WAN22_VAE_BENCH")
	if path == "" {
		t.Skip("set WAN22_VAE_BENCH to a Wan 2.1 VAE safetensors file (bench/torch/wan_vae.py --save writes one) to run the benchmark")
	}
	spec := os.Getenv("WAN22_VAE_BENCH_CASES")
	if spec == "" {
		spec = "enc81@832x480,dec81@832x480,dec161@832x480,dec241@832x480,dec81@1280x720"
	}
	var cases []benchCase
	for _, s := range strings.Split(spec, ",") {
		c, err := parseBenchCase(strings.TrimSpace(s))
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, c)
	}
	b := cudatest.Backend(t)
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := vae.Load(b, f)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Free()
	if v.Config != (vae.Config{Dim: 96, ZDim: 16}) {
		t.Logf("note: config %+v, not the real Wan 2.1 VAE's", v.Config)
	}
	// Warm-up: module loads (JIT), cuBLASLt, weight conversions.
	for _, s := range []string{"enc5@64x64", "dec9@64x64"} {
		c, _ := parseBenchCase(s)
		c.run(t, v, 1)
	}
	type result struct {
		Case        string  `json:"case"`
		Seconds     float64 `json:"seconds"`
		PeakBytes   int64   `json:"peak_bytes"`
		WeightBytes int64   `json:"weight_bytes"`
		PoolPeak    int64   `json:"pool_peak"`
	}
	var results []result
	for i, c := range cases {
		if err := b.Trim(); err != nil {
			t.Fatal(err)
		}
		b.ResetPeak()
		weights := b.MemStats().InUse
		d := c.run(t, v, uint64(10+i))
		r := result{Case: c.name, Seconds: d.Seconds(), PeakBytes: b.MemStats().Peak, WeightBytes: weights, PoolPeak: b.PoolStats().Peak}
		results = append(results, r)
		t.Logf("wan22 %s: %.2f s, peak %s (weights and converted copies %s, activations at most %s)", c.name, r.Seconds,
			cuda.FormatBytes(r.PeakBytes), cuda.FormatBytes(r.WeightBytes), cuda.FormatBytes(r.PoolPeak))
	}
	if out := os.Getenv("WAN22_VAE_BENCH_JSON"); out != "" {
		data, _ := json.MarshalIndent(map[string]any{"backend": b.Name(), "cases": results}, "", " ")
		if err := os.WriteFile(out, data, 0o644); err != nil {
			t.Error(err)
		}
	}
}
