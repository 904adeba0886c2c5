package vae_test

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/vae"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/golden"
	"github.com/wan22/wan22/safetensors"
)

func writeSynthVAE(t *testing.T, cfg vae.Config, dtype gguf.Type, seed int64) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vae.safetensors")
	if err := vae.WriteSynthetic(path, cfg, dtype, seed); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if size, err := vae.SyntheticSize(cfg, dtype); err != nil || size != int64(len(raw)) {
		t.Errorf("SyntheticSize %d (%v), file has %d bytes", size, err, len(raw))
	}
	return path, raw
}

// conditioningVideo is a smooth first frame followed by zero frames, the
// i2v conditioning video: [3, F, H, W].
func conditioningVideo(F, H, W int) []float32 {
	v := make([]float32, 3*F*H*W)
	for c := range 3 {
		for y := range H {
			for x := range W {
				v[(c*F)*H*W+y*W+x] = float32(math.Sin(float64(x+2*y+7*c) / 5))
			}
		}
	}
	return v
}

// pixelStats checks that x is finite and returns its standard deviation and
// the fraction of values clamped at ±1.
func pixelStats(t *testing.T, x []float32) (std, clamped float64) {
	t.Helper()
	var s, ss float64
	n := 0
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("value %d is %v", i, v)
		}
		s, ss = s+float64(v), ss+float64(v)*float64(v)
		if math.Abs(float64(v)) >= 0.999 {
			n++
		}
	}
	m := s / float64(len(x))
	return math.Sqrt(ss/float64(len(x)) - m*m), float64(n) / float64(len(x))
}

func TestSyntheticTinyVAE(t *testing.T) {
	path, raw := writeSynthVAE(t, vae.Tiny(), gguf.TypeF32, 3)
	if _, again := writeSynthVAE(t, vae.Tiny(), gguf.TypeF32, 3); !bytes.Equal(raw, again) {
		t.Error("two writes with the same seed differ")
	}
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	// The layout is the reference tiny VAE's, tensor for tensor.
	if golden.Find() != "" {
		g, err := safetensors.Open(golden.Path(t, "vae_tiny.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		if len(g.Tensors()) != len(f.Tensors()) {
			t.Errorf("%d tensors, the golden tiny VAE has %d", len(f.Tensors()), len(g.Tensors()))
		}
		for _, want := range g.Tensors() {
			got, ok := f.Lookup(want.Name)
			if !ok || !slices.Equal(got.Shape, want.Shape) {
				t.Errorf("%s: shape %v (present %v), golden %v", want.Name, got.Shape, ok, want.Shape)
			}
		}
	}

	b := cpu.New()
	enc, err := vae.LoadEncoder(b, f)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Free()
	dec, err := vae.LoadDecoder(b, f)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Free()
	const F, H, W = 5, 16, 32
	video := conditioningVideo(F, H, W)
	latent, err := enc.Encode(context.Background(), video, F, H, W)
	if err != nil {
		t.Fatal(err)
	}
	again, err := enc.Encode(context.Background(), video, F, H, W)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(latent, again) {
		t.Error("two encodes differ")
	}
	if std, _ := pixelStats(t, latent); std < 0.01 || std > 10 {
		t.Errorf("latent standard deviation %.3g", std)
	}
	var frames []float32
	err = dec.Decode(context.Background(), latent, 2, H/vae.Scale, W/vae.Scale, func(fr []float32, first int) error {
		frames = append(frames, fr...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 3*F*H*W {
		t.Fatalf("decoded %d values, want %d", len(frames), 3*F*H*W)
	}
	std, clamped := pixelStats(t, frames)
	t.Logf("decoded pixels: std %.3f, %.1f%% clamped", std, 100*clamped)
	if std < 0.05 || clamped > 0.2 {
		t.Errorf("decoded pixels: std %.3f, %.1f%% clamped at ±1: want visible, mostly unsaturated noise", std, 100*clamped)
	}
}

// TestSyntheticWan21 sizes the full VAE in each dtype and loads a BF16 file
// of the same structure at a third of the width on the CPU backend.
func TestSyntheticWan21(t *testing.T) {
	var params int64
	for _, dt := range []gguf.Type{gguf.TypeBF16, gguf.TypeF16, gguf.TypeF32} {
		size, err := vae.SyntheticSize(vae.Wan21(), dt)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("Wan 2.1 VAE %v: %d bytes", dt, size)
		if dt == gguf.TypeF32 {
			params = size / 4
		}
	}
	// The Wan 2.1 VAE has 126.9 M parameters.
	if params < 126e6 || params > 128e6 {
		t.Errorf("about %d parameters, want 126.9 M", params)
	}
	cfg := vae.Config{Dim: 32, ZDim: 16}
	path, _ := writeSynthVAE(t, cfg, gguf.TypeBF16, 1)
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := vae.Load(cpu.New(), f)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Free()
	if v.Config != cfg {
		t.Errorf("config %+v", v.Config)
	}
}

func TestSyntheticVAEBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		cfg  vae.Config
		dt   gguf.Type
		want string
	}{
		{vae.Config{Dim: 15, ZDim: 16}, gguf.TypeF32, "even"},
		{vae.Config{Dim: 1 << 20, ZDim: 16}, gguf.TypeF32, "base width"},
		{vae.Config{Dim: 16, ZDim: 48}, gguf.TypeF32, "16 channels"},
		{vae.Tiny(), gguf.TypeQ8_0, "not supported"},
	} {
		err := vae.WriteSynthetic(filepath.Join(dir, "v.safetensors"), c.cfg, c.dt, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v %v: err %v, want one mentioning %q", c.cfg, c.dt, err, c.want)
		}
		if _, err := vae.SyntheticSize(c.cfg, c.dt); err == nil {
			t.Errorf("%+v %v: SyntheticSize accepted it", c.cfg, c.dt)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}
}
