//go:build cuda

package wan22

import (
	"context"
	"errors"
	"image"
	"math"
	"testing"

	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/engine/imageprep"
	"github.com/wan22/wan22/engine/tinymodels"
)

// demoFrames runs the demo's job (the tiny models, the generated test image,
// 9 frames of 96×64, 8 steps, seed 42) on device with attention precision a
// and returns the frames' RGB bytes, frame after frame.
func demoFrames(t *testing.T, models Models, device string, a AttentionPrecision) []byte {
	t.Helper()
	const w, h = 96, 64
	p, err := Open(context.Background(), models, Options{Device: device, Attention: a})
	if errors.Is(err, cuda.ErrNoDevice) { // cuda.Available is true in every -tags cuda build, GPU or not
		t.Skipf("no usable CUDA GPU here: the 8-bit attention demo comparison runs on one only: %v", err)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", device, a, err)
	}
	defer p.Close()
	var rgb []byte
	req := Request{Image: imageprep.TestImage(w, h), Prompt: "A cat surfing a wave at sunset, cinematic lighting",
		Frames: 9, Width: w, Height: h, Steps: 8, Seed: 42}
	err = p.Generate(context.Background(), req, Output{Frame: func(_ int, img *image.RGBA) error {
		for i := 0; i < len(img.Pix); i += 4 {
			rgb = append(rgb, img.Pix[i:i+3]...)
		}
		return nil
	}})
	if err != nil {
		t.Fatalf("%s %s: %v", device, a, err)
	}
	return rgb
}

// frameDiff compares two frame sequences of 8-bit samples: the PSNR (dB),
// the mean and the largest absolute difference.
func frameDiff(a, b []byte) (psnr, mean float64, largest int) {
	var se, ae float64
	for i := range a {
		d := int(a[i]) - int(b[i])
		se += float64(d * d)
		ae += math.Abs(float64(d))
		largest = max(largest, d, -d)
	}
	n := float64(len(a))
	return 10 * math.Log10(255*255/math.Max(se/n, 1e-12)), ae / n, largest
}

// TestDemoAttention8CUDA is the tiny end-to-end demo with 8-bit attention
// against the same demo with bf16 attention (issue 14): it reports how far
// the int8 and fp8 frames are from the bf16 ones, next to how far the bf16
// frames are from the CPU backend's (f32), the GPU's own rounding, and fails
// when an 8-bit run's frames are further than 30 dB PSNR from bf16's (a
// broken kernel gives noise, about 10 dB), or equal to them (the 8-bit
// kernels did not run). The tiny models' sequences are short (at most 2048
// keys), which the 8-bit modes run in bf16 by default, so
// WAN22_ATTN8_SHORT_KEYS=0 makes them run the 8-bit kernels at every length.
func TestDemoAttention8CUDA(t *testing.T) {
	if !cuda.Available() {
		t.Skip("no CUDA GPU here: the 8-bit attention demo comparison runs on the GPU only")
	}
	t.Setenv("WAN22_ATTN8_SHORT_KEYS", "0")           // read by each pipeline's backend
	paths, err := tinymodels.Write(t.TempDir(), 2025) // the demo's seed
	if err != nil {
		t.Fatal(err)
	}
	models := Models{High: paths.High, Low: paths.Low, TextEncoder: paths.TextEncoder, VAE: paths.VAE}
	bf16 := demoFrames(t, models, DeviceCUDA, AttentionBF16)
	cpu := demoFrames(t, models, DeviceCPU, AttentionBF16)
	psnr, mean, largest := frameDiff(bf16, cpu)
	t.Logf("bf16 (GPU) vs f32 (CPU): PSNR %.2f dB, mean |Δ| %.3f, max |Δ| %d of 255", psnr, mean, largest)
	for _, a := range []AttentionPrecision{AttentionINT8, AttentionFP8} {
		got := demoFrames(t, models, DeviceCUDA, a)
		psnr, mean, largest := frameDiff(got, bf16)
		t.Logf("%s vs bf16 attention: PSNR %.2f dB, mean |Δ| %.3f, max |Δ| %d of 255", a, psnr, mean, largest)
		if psnr < 30 {
			t.Errorf("%s attention: frames %.2f dB from bf16's, want ≥ 30 dB", a, psnr)
		}
		if largest == 0 {
			t.Errorf("%s attention: frames identical to bf16's: the 8-bit kernels did not run", a)
		}
	}
}
