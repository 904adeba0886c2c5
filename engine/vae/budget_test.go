package vae_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/vae"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
	"github.com/wan22/wan22/safetensors"
)

const gib = 1 << 30

// loadSynthTiny loads both halves of the synthetic tiny VAE onto b.
func loadSynthTiny(t *testing.T, b engine.Backend) *vae.VAE {
	t.Helper()
	path, _ := writeSynthVAE(t, vae.Tiny(), gguf.TypeF32, 3)
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	v, err := vae.Load(b, f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Free)
	return v
}

// TestMemoryModel checks the exact parts of the estimates against the
// tensors really alive on a tracking backend: the weights, and the causal
// caches of a decode (between latent frames, once every cache is full) and
// of an encode (at the end of the third chunk, with that chunk's input and
// output).
func TestMemoryModel(t *testing.T) {
	k := newTracked(t, cpu.New())
	v := loadSynthTiny(t, k)
	c := v.Config
	if want := vae.WeightBytes(c, vae.Encoder) + vae.WeightBytes(c, vae.Decoder); k.live != want {
		t.Errorf("weights: %d bytes live, WeightBytes gives %d", k.live, want)
	}
	weights := k.live
	const T, h, w = 4, 2, 3
	checked := 0
	err := v.Decode(context.Background(), gaussian(16*T*h*w, 1), T, h, w, func(f []float32, first int) error {
		if first >= 5 { // latent frame 2 on: every cache holds 2 frames
			checked++
			if got, want := k.live-weights, vae.DecodeCacheBytes(c, h, w); got != want {
				t.Errorf("decode, frame %d: %d bytes of caches, the model gives %d", first, got, want)
			}
		}
		return nil
	})
	if err != nil || checked != 2 {
		t.Fatalf("decode: %v after %d checks", err, checked)
	}

	const F, H, W = 13, 8 * h, 8 * w
	chunk := 0
	v.Trace = func(name string, x engine.Tensor) {
		if name != "encoder.head" {
			return
		}
		if chunk++; chunk >= 3 {
			io := int64(4 * (3*4*H*W + 2*c.ZDim*h*w)) // the chunk's input and the head's output
			if got, want := k.live-weights-io, vae.EncodeCacheBytes(c, h, w); got != want {
				t.Errorf("encode, chunk %d: %d bytes of caches, the model gives %d", chunk, got, want)
			}
		}
	}
	defer func() { v.Trace = nil }()
	if _, err := v.Encode(context.Background(), gaussian(3*F*H*W, 2), F, H, W); err != nil || chunk != 4 {
		t.Fatalf("encode: %v after %d chunks", err, chunk)
	}
}

// TestPeakCalibration: with both halves' weights, as measured, the
// estimates are at or above the H100 peaks of docs/BENCHMARKS.md ("VAE on
// CUDA") and within 5% of them; the frame count does not enter.
func TestPeakCalibration(t *testing.T) {
	c := vae.Wan21()
	for _, m := range []struct {
		half vae.Half
		h, w int
		peak float64 // GiB
	}{
		{vae.Decoder, 60, 104, 9.63},
		{vae.Decoder, 90, 160, 20.34},
		{vae.Encoder, 60, 104, 7.25},
	} {
		other := vae.WeightBytes(c, 1-m.half)
		got := float64(vae.Peak(c, m.half, m.h, m.w, vae.Tiling{})+other) / gib
		t.Logf("%v %dx%d: %.2f GiB (measured %.2f)", m.half, 8*m.w, 8*m.h, got, m.peak)
		if got < m.peak-0.005 || got > 1.05*m.peak {
			t.Errorf("%v %dx%d: estimate %.3f GiB, measured %.2f", m.half, 8*m.w, 8*m.h, got, m.peak)
		}
	}
}

// TestPlanTiling runs the planner over a table of budgets and sizes of the
// real VAE: whole frames when they fit, else the largest tiles that fit (one
// more latent pixel would not), frame-major before Sequential, and a
// BudgetError naming the minimum budget (which then plans) when nothing fits.
func TestPlanTiling(t *testing.T) {
	c := vae.Wan21()
	for _, tc := range []struct {
		half      vae.Half
		W, H      int
		budgetGiB float64
		tiled     bool
		seq       bool
		fails     bool
	}{
		{vae.Decoder, 832, 480, 0, false, false, false}, // no limit
		{vae.Decoder, 832, 480, 16, false, false, false},
		{vae.Decoder, 832, 480, 8, true, false, false},
		{vae.Decoder, 832, 480, 4, true, true, false},
		{vae.Decoder, 1280, 720, 32, false, false, false},
		{vae.Decoder, 1280, 720, 24, false, false, false},
		{vae.Decoder, 1280, 720, 16, true, false, false},
		{vae.Decoder, 1280, 720, 12, true, true, false},
		{vae.Decoder, 1280, 720, 1.5, false, false, true},
		{vae.Encoder, 1280, 720, 24, false, false, false},
		{vae.Encoder, 1280, 720, 12, true, false, false},
		{vae.Encoder, 832, 480, 4, true, false, false},
		{vae.Encoder, 832, 480, 1, false, false, true},
	} {
		h, w := tc.H/vae.Scale, tc.W/vae.Scale
		budget := int64(tc.budgetGiB * gib)
		tl, err := vae.PlanTiling(c, tc.half, h, w, budget)
		name := fmt.Sprintf("%v %dx%d in %g GiB", tc.half, tc.W, tc.H, tc.budgetGiB)
		if tc.fails {
			var be *vae.BudgetError
			if !errors.As(err, &be) || be.Need <= budget || be.Budget != budget || !strings.Contains(err.Error(), "at least") {
				t.Errorf("%s: %v, want a BudgetError", name, err)
				continue
			}
			t.Logf("%s: %v", name, err)
			if _, err := vae.PlanTiling(c, tc.half, h, w, be.Need); err != nil {
				t.Errorf("%s: the minimum budget %d it names does not plan: %v", name, be.Need, err)
			}
			if _, err := vae.PlanTiling(c, tc.half, h, w, be.Need-1); err == nil {
				t.Errorf("%s: one byte less than the minimum %d plans", name, be.Need)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		rows, cols := tl.Grid(h, w)
		t.Logf("%s: tiles %v (%d×%d), estimate %.2f GiB", name, tl, rows, cols, float64(vae.Peak(c, tc.half, h, w, tl))/gib)
		if (tl.Size > 0) != tc.tiled || tl.Sequential != tc.seq {
			t.Errorf("%s: tiling %v, want tiled %v, sequential %v", name, tl, tc.tiled, tc.seq)
		}
		if budget > 0 && vae.Peak(c, tc.half, h, w, tl) > budget {
			t.Errorf("%s: tiling %v is estimated above the budget", name, tl)
		}
		if tl.Size > 0 {
			if tl.Size < vae.MinTileSize || 2*tl.Overlap >= tl.Size || rows*cols < 2 {
				t.Errorf("%s: bad tiling %v (%d×%d tiles)", name, tl, rows, cols)
			}
			bigger := vae.Tiling{Size: tl.Size + 1, Overlap: vae.TileOverlap(tl.Size + 1), Sequential: tl.Sequential}
			if tl.Size+1 < max(h, w) && vae.Peak(c, tc.half, h, w, bigger) <= budget {
				t.Errorf("%s: chose %v though %v fits too", name, tl, bigger)
			}
		}
	}
	if _, err := vae.PlanTiling(c, vae.Decoder, 0, 10, gib); err == nil {
		t.Error("PlanTiling of an empty latent: no error")
	}
}

// TestTiledMatchesWhole: on the synthetic tiny VAE, the tilings the planner
// picks for a 17×17 latent (a frame of 136×136) just below the whole-frame
// estimate give the untiled result within the bound TestTiledDecode uses
// (0.3 relative L2: tiles do not see each other's pixels in the middle
// attention), for decode and encode.
func TestTiledMatchesWhole(t *testing.T) {
	v := loadSynthTiny(t, cpu.New())
	c := v.Config
	const h, w = 17, 17
	budget := vae.DecodePeak(c, h, w, vae.Tiling{}) - 1
	tl, err := vae.PlanTiling(c, vae.Decoder, h, w, budget)
	if err != nil || tl.Size == 0 {
		t.Fatalf("plan in %d bytes: %v, %v; want tiles", budget, tl, err)
	}
	z := gaussian(16*h*w, 5)
	whole := decodeAll(t, v, z, 1, h, w)
	v.Tiling = tl
	tiled := decodeAll(t, v, z, 1, h, w)
	v.Tiling = vae.Tiling{}
	e := golden.RelL2(tiled, whole)
	t.Logf("decode tiled %v vs whole: relative L2 %.3g", tl, e)
	if e > 0.3 {
		t.Errorf("tiled decode differs from whole by %.3g relative L2 (> 0.3)", e)
	}

	H, W := vae.Scale*h, vae.Scale*w
	video := conditioningVideo(1, H, W)
	wholeZ, err := v.Encode(context.Background(), video, 1, H, W)
	if err != nil {
		t.Fatal(err)
	}
	if v.EncodeTiling, err = vae.PlanTiling(c, vae.Encoder, h, w, vae.EncodePeak(c, h, w, vae.Tiling{})-1); err != nil || v.EncodeTiling.Size == 0 {
		t.Fatalf("encode plan: %v, %v", v.EncodeTiling, err)
	}
	tiledZ, err := v.Encode(context.Background(), video, 1, H, W)
	if err != nil {
		t.Fatal(err)
	}
	e = golden.RelL2(tiledZ, wholeZ)
	t.Logf("encode tiled %v vs whole: relative L2 %.3g", v.EncodeTiling, e)
	if e > 0.3 {
		t.Errorf("tiled encode differs from whole by %.3g relative L2 (> 0.3)", e)
	}
	v.EncodeTiling = vae.Tiling{}
}

// TestSequentialDecode: decoding tile after tile gives exactly the
// frame-major tiled decode (the same tiles and weights), in the same frame
// groups, over 2 latent frames; and it stops at an emit error.
func TestSequentialDecode(t *testing.T) {
	v := loadSynthTiny(t, cpu.New())
	const T, h, w = 2, 4, 6
	z := gaussian(16*T*h*w, 8)
	v.Tiling = vae.Tiling{Size: 3, Overlap: 1}
	frameMajor := decodeAll(t, v, z, T, h, w)
	v.Tiling.Sequential = true
	seq := decodeAll(t, v, z, T, h, w)
	if e := golden.RelL2(seq, frameMajor); e > 1e-6 {
		t.Errorf("sequential and frame-major tiled decodes differ by %.3g relative L2", e)
	}
	stop := errors.New("stop")
	calls := 0
	if err := v.Decode(context.Background(), z, T, h, w, func([]float32, int) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("emit error: %v after %d calls", err, calls)
	}
}
