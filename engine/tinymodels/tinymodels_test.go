package tinymodels

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/engine/pipeline"
	"github.com/wan22/wan22/engine/t5"
	"github.com/wan22/wan22/engine/vae"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/safetensors"
	"github.com/wan22/wan22/scheduler"
)

func openGGUF(t *testing.T, path string) *gguf.File {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestLoad checks that every file loads as its role on the CPU backend and
// that the set is the same bytes for the same seed.
func TestLoad(t *testing.T) {
	p, err := Write(t.TempDir(), 11)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Write(t.TempDir(), 11)
	if err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{{p.High, q.High}, {p.Low, q.Low}, {p.TextEncoder, q.TextEncoder}, {p.VAE, q.VAE}} {
		a, errA := os.ReadFile(pair[0])
		b, errB := os.ReadFile(pair[1])
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: two writes with the same seed differ (%v, %v)", filepath.Base(pair[0]), errA, errB)
		}
	}

	b := cpu.New()
	for _, c := range []struct {
		path string
		typ  gguf.Type
	}{{p.High, gguf.TypeQ8_0}, {p.Low, gguf.TypeQ4_K}} {
		f := openGGUF(t, c.path)
		if ti, _ := f.Lookup("blocks.0.ffn.0.weight"); ti.Type != c.typ {
			t.Errorf("%s: ffn weights are %v, want %v", c.path, ti.Type, c.typ)
		}
		m, err := dit.Load(b, f)
		if err != nil {
			t.Fatal(err)
		}
		if m.Config != DiT() || m.Config.Variant() != "i2v" {
			t.Errorf("%s: config %v", c.path, m.Config)
		}
		m.Free()
	}
	f := openGGUF(t, p.TextEncoder)
	if _, err := t5.LoadTokenizer(f); err != nil {
		t.Fatal(err)
	}
	enc, err := t5.Load(b, f)
	if err != nil {
		t.Fatal(err)
	}
	if enc.Dim != DiT().TextDim {
		t.Errorf("encoder width %d, the experts' text width %d", enc.Dim, DiT().TextDim)
	}
	enc.Free()
	sf, err := safetensors.Open(p.VAE)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	for _, load := range []func() (*vae.VAE, error){
		func() (*vae.VAE, error) { return vae.LoadEncoder(b, sf) },
		func() (*vae.VAE, error) { return vae.LoadDecoder(b, sf) },
	} {
		v, err := load()
		if err != nil {
			t.Fatal(err)
		}
		v.Free()
	}
}

// TestI2V runs the whole pipeline over a tiny set at the demo's frame size
// (96×64), with 5 frames and 4 steps (two per expert) to stay fast; the VAE
// dominates the time.
func TestI2V(t *testing.T) {
	p, err := Write(t.TempDir(), 42)
	if err != nil {
		t.Fatal(err)
	}
	const F, H, W = 5, 64, 96
	img := make([]float32, 3*H*W)
	for i := range img {
		img[i] = float32(math.Sin(float64(i) / 37))
	}
	o := pipeline.Options{
		Prompt: "A cat surfing a wave at sunset", Frames: F, Height: H, Width: W,
		Steps: 4, Shift: 5, Solver: "unipc", Guidance: scheduler.I2VGuidance(), Seed: 1,
	}
	m := pipeline.Models{TextEncoder: p.TextEncoder, VAE: p.VAE, High: p.High, Low: p.Low}
	got := 0
	err = pipeline.I2V(context.Background(), cpu.New(), m, img, o, func(frames []float32, first int) error {
		if first != got {
			t.Errorf("frames from %d, want %d", first, got)
		}
		n := len(frames) / (3 * H * W)
		for i, v := range frames {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || v < -1 || v > 1 {
				t.Fatalf("frame value %d is %v", i, v)
			}
		}
		got += n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != F {
		t.Errorf("%d frames decoded, want %d", got, F)
	}
}

func TestWriteRefuses(t *testing.T) {
	dir := t.TempDir()
	mine := filepath.Join(dir, VAEName)
	if err := os.WriteFile(mine, []byte("user data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(dir, 1); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("existing file: err %v", err)
	}
	if data, _ := os.ReadFile(mine); string(data) != "user data" {
		t.Error("an existing file was replaced")
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Errorf("files written despite the refusal: %v", left)
	}
	if _, err := Write(filepath.Join(dir, "missing"), 1); err == nil {
		t.Error("a missing folder was accepted")
	}
	if _, err := Write(mine, 1); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("a file as folder: err %v", err)
	}
}
