//go:build cuda

package vae_test

import (
	"context"
	"testing"

	"github.com/wan22/wan22/internal/cudatest"
	"github.com/wan22/wan22/internal/golden"
)

// TestGoldenTinyCUDA runs both golden cases (encode to the latent, decode of the random latent) on the GPU.
// The convolutions and the attention take bf16 operands (f32 activations, f32 accumulation), so the bound
// is the GPU tolerance for final outputs, 2e-2 relative L2.
func TestGoldenTinyCUDA(t *testing.T) {
	b := cudatest.Backend(t)
	v := loadTiny(t, b)
	cases := openGolden(t, "vae_tiny_cases.safetensors")
	for _, name := range []string{"case0", "case1"} {
		t.Run(name, func(t *testing.T) {
			video, vs := readF32(t, cases, name+".video")
			want, _ := readF32(t, cases, name+".latent")
			latent, err := v.Encode(context.Background(), video, vs[1], vs[2], vs[3])
			if err != nil {
				t.Fatal(err)
			}
			if len(latent) != len(want) {
				t.Fatalf("latent has %d values, want %d", len(latent), len(want))
			}
			e := golden.RelL2(latent, want)
			t.Logf("encode: relative L2 %.3g", e)
			if !(e <= 2e-2) {
				t.Errorf("encode: relative L2 error %.3g > 2e-2", e)
			}
			z, zs := readF32(t, cases, name+".z")
			wantDec, _ := readF32(t, cases, name+".decoded")
			dec := decodeAll(t, v, z, zs[1], zs[2], zs[3])
			e = golden.RelL2(dec, wantDec)
			t.Logf("decode: relative L2 %.3g", e)
			if !(e <= 2e-2) {
				t.Errorf("decode: relative L2 error %.3g > 2e-2", e)
			}
		})
	}
	// Every activation went back to the pool.
	if s := b.PoolStats(); s.InUse != 0 {
		t.Errorf("%d bytes of activations still in use after encode and decode", s.InUse)
	}
}
