//go:build cuda

package dit

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cuda"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/internal/cudatest"
)

// The CUDA backend has the LoRA merge fast path.
var _ LoRAMerger = (*cuda.Backend)(nil)

// TestLoRAMergeCUDA checks --lora-merge on the GPU, where the CUDA backend's LoRAMerger accumulates each
// product into the weight with a GEMM, on F32, F16 and BF16 bases: two stacked LoRAs, the first with
// full-weight deltas (of the patch embedding, a view merged into a copy, and of blocks.1.cross_attn.v, which
// both LoRAs adapt: merged in place, replaced by the delta, then merged into a copy), give every adapted
// weight the values the host merge on the CPU gives (float32 accuracy, or one rounding of F16/BF16), and
// the forward of the model file merged by hand within the GPU tolerance. With cuBLASLt the model's own
// weights are merged in place (the same tensors afterwards). Free leaves no byte of the model.
func TestLoRAMergeCUDA(t *testing.T) {
	b := cudatest.Backend(t)
	for _, wt := range []gguf.Type{gguf.TypeF32, gguf.TypeF16, gguf.TypeBF16} {
		t.Run(wt.String(), func(t *testing.T) {
			base := modelFile(t, wt)
			dir := t.TempDir()
			second := []string{"blocks.0.self_attn.q", "blocks.1.ffn.0", "blocks.1.cross_attn.v", "head.head"}
			loras := []attached{
				{withDiffs(newTestLoRA(smallConfig, 4, 8, 161, allLinears...), smallConfig, true), keyStyles[0], 0.75},
				{newTestLoRA(smallConfig, 3, 0, 162, second...), keyStyles[2], -0.5},
			}
			load := func(path string) *Model {
				m, err := Load(b.ForModel("dit"), openGGUF(t, path))
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
			m, host := load(base), loadModel(t, base)
			inPlace := []*linear{&m.blocks[1].ffn0, &m.blocks[0].selfAttn.q, &m.head.head, &m.blocks[1].ffn2}
			before := make([]engine.Tensor, len(inPlace))
			for i, l := range inPlace {
				before[i] = l.weight
			}
			acc := map[string][]float64{}
			for i, a := range loras {
				path := filepath.Join(dir, fmt.Sprintf("lora%d.safetensors", i))
				a.l.write(t, path, a.style)
				for _, mm := range []*Model{m, host} {
					info, err := mm.AttachLoRAOpts(openLoRA(t, path), a.strength, LoRAOptions{Merge: true})
					if err != nil {
						t.Fatal(err)
					}
					if len(info.RunTime) != 0 {
						t.Errorf("LoRA %d: %v at run time, want every adapter merged", i, info.RunTime)
					}
				}
				a.l.deltas(acc, float64(a.strength), a.style.alpha)
			}
			if b.Device().HasCublasLt() {
				for i, l := range inPlace {
					if l.weight != before[i] {
						t.Errorf("merged weight %d is a new tensor: the device merge was not used in place", i)
					}
				}
			} else {
				t.Log("cuBLASLt not loaded: the CUDA backend declines the device merge, the host merges")
			}

			tol := map[gguf.Type]float64{gguf.TypeF32: 1e-5, gguf.TypeF16: 4e-3, gguf.TypeBF16: 1.6e-2}[wt] // F16/BF16: a few ulps (each LoRA rounds once)
			gt, ht := m.loraTargets(), host.loraTargets()
			for _, mod := range allLinears {
				g, h := m.b.ToHost(gt[mod].lin.weight), host.b.ToHost(ht[mod].lin.weight)
				if d := relDiff(g, h); !(d <= tol) {
					t.Errorf("%s.weight: %.3g relative to the host merge, want ≤ %g", mod, d, tol)
				}
				if gt[mod].lin.lora != nil {
					t.Errorf("%s has a run-time pair after a merge", mod)
				}
			}
			got := forwardOf(t, m)
			m.Free()

			merged := filepath.Join(dir, "merged.gguf")
			writeMergedAs(t, base, merged, acc, true)
			mm := load(merged)
			want := forwardOf(t, mm)
			mm.Free()
			checkGPU(t, "merged on the GPU vs merged by hand ("+wt.String()+")", got, want)
			if left := b.MemStats().ByOwner["dit"]; left != 0 {
				t.Errorf("%d bytes of the models left after Free", left)
			}
		})
	}
}
