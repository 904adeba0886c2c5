package vae_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/vae"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
	"github.com/wan22/wan22/safetensors"
)

func openGolden(t testing.TB, name string) *safetensors.File {
	t.Helper()
	f, err := safetensors.Open(golden.Path(t, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readF32(t testing.TB, src gguf.Source, name string) ([]float32, []int) {
	t.Helper()
	data, ti, err := gguf.ReadFloat32(src, name)
	if err != nil {
		t.Fatal(err)
	}
	shape := make([]int, len(ti.Shape))
	for i, d := range ti.Shape {
		shape[i] = int(d)
	}
	return data, shape
}

func loadTiny(t testing.TB, b engine.Backend) *vae.VAE {
	t.Helper()
	v, err := vae.Load(b, openGolden(t, "vae_tiny.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Free)
	return v
}

// decodeAll decodes z and gathers the frames into one [3, F, H, W] video,
// checking that groups arrive in order (1 frame, then 4 at a time).
func decodeAll(t testing.TB, v *vae.VAE, z []float32, T, h, w int) []float32 {
	t.Helper()
	F, H, W := 1+4*(T-1), vae.Scale*h, vae.Scale*w
	video := make([]float32, 3*F*H*W)
	next := 0
	err := v.Decode(context.Background(), z, T, h, w, func(frames []float32, first int) error {
		n := len(frames) / (3 * H * W)
		if first != next || len(frames) != 3*n*H*W || (first == 0) != (n == 1) || (first > 0 && n != 4) {
			t.Fatalf("emit: %d values at frame %d, want frame %d", len(frames), first, next)
		}
		for c := range 3 {
			copy(video[(c*F+first)*H*W:(c*F+first+n)*H*W], frames[c*n*H*W:(c+1)*n*H*W])
		}
		next += n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if next != F {
		t.Fatalf("decoded %d frames, want %d", next, F)
	}
	return video
}

// TestGoldenTiny checks encode and decode of the tiny golden VAE against the
// PyTorch reference (float32, ≤ 1e-4 relative L2).
func TestGoldenTiny(t *testing.T) {
	b := cpu.New()
	v := loadTiny(t, b)
	if v.Config != (vae.Config{Dim: 16, ZDim: 16}) {
		t.Fatalf("config %+v", v.Config)
	}
	cases := openGolden(t, "vae_tiny_cases.safetensors")
	for _, name := range []string{"case0", "case1"} {
		t.Run(name, func(t *testing.T) {
			video, vs := readF32(t, cases, name+".video")
			want, ls := readF32(t, cases, name+".latent")
			latent, err := v.Encode(context.Background(), video, vs[1], vs[2], vs[3])
			if err != nil {
				t.Fatal(err)
			}
			if len(latent) != len(want) {
				t.Fatalf("latent has %d values, want %v", len(latent), ls)
			}
			e := golden.RelL2(latent, want)
			t.Logf("encode: relative L2 %.3g", e)
			if e > 1e-4 {
				t.Errorf("encode: relative L2 error %.3g > 1e-4", e)
			}

			z, zs := readF32(t, cases, name+".z")
			wantDec, _ := readF32(t, cases, name+".decoded")
			dec := decodeAll(t, v, z, zs[1], zs[2], zs[3])
			e = golden.RelL2(dec, wantDec)
			t.Logf("decode: relative L2 %.3g", e)
			if e > 1e-4 {
				t.Errorf("decode: relative L2 error %.3g > 1e-4", e)
			}
		})
	}
}

func TestEmitErrorStops(t *testing.T) {
	v := loadTiny(t, cpu.New())
	stop := errors.New("writer full")
	calls := 0
	z := make([]float32, 16*3*1*2)
	err := v.Decode(context.Background(), z, 3, 1, 2, func([]float32, int) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Decode returned %v after %d calls, want the emit error after 1", err, calls)
	}
}

func TestBadInputs(t *testing.T) {
	v := loadTiny(t, cpu.New())
	if _, err := v.Encode(context.Background(), make([]float32, 3*2*8*8), 2, 8, 8); err == nil {
		t.Error("Encode of 2 frames: no error")
	}
	if _, err := v.Encode(context.Background(), make([]float32, 3*12*8), 1, 12, 8); err == nil {
		t.Error("Encode of height 12: no error")
	}
	if _, err := v.Encode(context.Background(), make([]float32, 5), 1, 8, 8); err == nil {
		t.Error("Encode of a short buffer: no error")
	}
	if err := v.Decode(context.Background(), make([]float32, 5), 1, 1, 1, nil); err == nil {
		t.Error("Decode of a short buffer: no error")
	}
	v.Tiling = vae.Tiling{Size: 4, Overlap: 2}
	if err := v.Decode(context.Background(), make([]float32, 16*6*6), 1, 6, 6, func([]float32, int) error { return nil }); err == nil {
		t.Error("Decode with overlap ≥ size/2: no error")
	}
}

func TestHalvesAndNames(t *testing.T) {
	b := cpu.New()
	src := openGolden(t, "vae_tiny.safetensors")
	enc, err := vae.LoadEncoder(b, src)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Free()
	if err := enc.Decode(context.Background(), make([]float32, 16), 1, 1, 1, nil); err == nil {
		t.Error("Decode on an encoder-only VAE: no error")
	}
	dec, err := vae.LoadDecoder(b, src)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Free()
	if _, err := dec.Encode(context.Background(), make([]float32, 3*8*8), 1, 8, 8); err == nil {
		t.Error("Encode on a decoder-only VAE: no error")
	}
	if !slices.Contains([]int{16}, dec.Config.Dim) {
		t.Errorf("decoder config %+v", dec.Config)
	}
}

// TestTiledDecode decodes a random [16, 2, 8, 12] latent (5 frames of
// 64×96) in 8×8 tiles overlapping by at least 3 (two tiles side by side)
// and compares with the untiled decode. Tiling is approximate: each tile's
// middle attention sees only the tile's pixels and the receptive fields stop
// at its border; with the tiny random-weight model the difference is about
// 0.15 relative L2, spread over the whole frame (the attention), not only
// the seams. The bound, 0.3, is loose on purpose; misplaced or badly
// weighted tiles give errors near 1. TestBlendTiles checks the blending
// itself exactly.
func TestTiledDecode(t *testing.T) {
	v := loadTiny(t, cpu.New())
	const T, h, w = 2, 8, 12
	z := gaussian(16*T*h*w, 7)
	whole := decodeAll(t, v, z, T, h, w)
	v.Tiling = vae.Tiling{Size: 8, Overlap: 3}
	tiled := decodeAll(t, v, z, T, h, w)
	e := golden.RelL2(tiled, whole)
	t.Logf("tiled vs untiled: relative L2 %.3g", e)
	if e > 0.3 {
		t.Errorf("tiled decode differs from untiled by %.3g relative L2 (> 0.3)", e)
	}
}

func TestTrace(t *testing.T) {
	v := loadTiny(t, cpu.New())
	var names []string
	v.Trace = func(name string, x engine.Tensor) { names = append(names, fmt.Sprint(name, x.Shape())) }
	decodeAll(t, v, gaussian(16*2*1*2, 3), 2, 1, 2)
	// Per latent frame: conv1, 3 middle layers, 15 upsamples, head.
	if len(names) != 2*20 {
		t.Fatalf("%d traced tensors, want 40: %v", len(names), names)
	}
	for _, want := range []string{"decoder.conv1[64 1 1 2]", "decoder.middle.1[64 1 1 2]", "decoder.upsamples.3[32 1 2 4]",
		"decoder.upsamples.3[32 2 2 4]", "decoder.upsamples.7[32 4 4 8]", "decoder.head[3 4 8 16]"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %q among the traced tensors %v", want, names)
		}
	}
}
