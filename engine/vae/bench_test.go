package vae_test

import (
	"context"
	"testing"

	"github.com/wan22/wan22/engine/cpu"
)

// BenchmarkTinyEncode encodes the golden case0 shape (9 frames of 32×48)
// with the tiny VAE on the CPU backend.
func BenchmarkTinyEncode(b *testing.B) {
	v := loadTiny(b, cpu.New())
	const F, H, W = 9, 32, 48
	video := gaussian(3*F*H*W, 1)
	b.ResetTimer()
	for range b.N {
		if _, err := v.Encode(context.Background(), video, F, H, W); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N*F)*1e3, "ms/frame")
}

// BenchmarkTinyDecode decodes a random [16, 3, 4, 6] latent (9 frames of
// 32×48, the golden case0 shape) with the tiny VAE on the CPU backend.
func BenchmarkTinyDecode(b *testing.B) {
	v := loadTiny(b, cpu.New())
	const T, h, w = 3, 4, 6
	z := gaussian(16*T*h*w, 2)
	b.ResetTimer()
	for range b.N {
		if err := v.Decode(context.Background(), z, T, h, w, func([]float32, int) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N*(1+4*(T-1)))*1e3, "ms/frame")
}
