//go:build cuda

package dit

import (
	"testing"

	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/internal/cudatest"
	"github.com/wan22/wan22/internal/golden"
)

// goldenTolGPU is the bf16 GPU path's tolerance for final outputs (../shared/golden/README.md).
const goldenTolGPU = 2e-2

// The CUDA backend has the chunked FFN's row-add fast path.
var _ GatedRowAdder = (*cuda.Backend)(nil)

func checkGPU(t *testing.T, what string, got, want []float32) {
	t.Helper()
	e := golden.RelL2(got, want)
	t.Logf("%-28s rel L2 error %.3g (GPU)", what, e)
	if !(e <= goldenTolGPU) {
		t.Errorf("%s: relative L2 error %.3g > %g", what, e, goldenTolGPU)
	}
}

// TestGoldenCUDA runs TestGolden's cases on the GPU: both cases on both files, the F32 file's
// intermediates, the chunked FFN through AddGatedRows; every activation is freed after each call and the
// model's weights free to the byte.
func TestGoldenCUDA(t *testing.T) {
	b := cudatest.Backend(t)
	cases := goldenCases(t)
	for _, file := range []struct {
		name, out     string
		intermediates []string
	}{
		{"dit_tiny_f32.gguf", "out", []string{"time_embedding", "time_projection", "context_embedding", "block0.out", "block1.out"}},
		{"dit_tiny_q8_0.gguf", "out_q8_0", nil},
	} {
		t.Run(file.name, func(t *testing.T) {
			mb := b.ForModel("dit")
			m := loadGolden(t, mb, file.name)
			for _, chunk := range []int{DefaultFFNChunk, 5} {
				m.FFNChunk = chunk
				for _, c := range cases {
					out, traced := c.run(t, m)
					if chunk == DefaultFFNChunk {
						for _, name := range file.intermediates {
							checkGPU(t, c.name+"."+name, traced[name], c.read(t, name))
						}
					}
					checkGPU(t, c.name+"."+file.out+" (FFN chunk "+map[bool]string{true: "5)", false: "whole)"}[chunk == 5], out, c.read(t, file.out))
					if live := b.PoolStats().InUse; live != 0 {
						t.Errorf("%s: %d bytes of activations still live after Forward", c.name, live)
					}
				}
			}
			m.Free()
			if left := b.MemStats().ByOwner["dit"]; left != 0 {
				t.Errorf("%d bytes of the model left after Free", left)
			}
		})
	}
}
