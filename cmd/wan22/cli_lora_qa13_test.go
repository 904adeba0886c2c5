package main

import (
	"bytes"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/dit"
	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/safetensors"
)

// TestLoRAForBothRefused: a LoRA given for both experts (--lora) that is
// refused says so — the file itself (damaged values) names both experts,
// a LoRA both expert files refuse names both files, and one that only one
// of them refuses (a full-weight delta of a matrix Q8_0 in the high-noise
// expert, F16 in the low-noise one) names that expert and says the other
// accepts it — never as the high-noise expert's LoRA alone.
func TestLoRAForBothRefused(t *testing.T) {
	args, out := i2vSetup(t)
	dir := t.TempDir()
	c := tinymodels.DiT()
	high := args[slices.Index(args, "--high")+1]
	low := filepath.Join(dir, "low_f16.gguf")
	require.NoError(t, dit.WriteSynthetic(low, c, gguf.TypeF16, 9))
	args[slices.Index(args, "--low")+1] = low

	other := filepath.Join(dir, "other.safetensors") // for a model of width 1536
	require.NoError(t, safetensors.Write(other, []safetensors.Tensor{
		safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.lora_down.weight", []int64{1, 1536}, make([]float32, 1536)),
		safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.lora_up.weight", []int64{1536, 1}, make([]float32, 1536)),
	}, nil))
	delta := filepath.Join(dir, "delta.safetensors")
	require.NoError(t, safetensors.Write(delta, []safetensors.Tensor{safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.diff",
		[]int64{int64(c.Dim), int64(c.Dim)}, make([]float32, c.Dim*c.Dim))}, nil))
	nan := filepath.Join(dir, "nan.safetensors")
	v := make([]float32, c.Dim)
	v[3] = float32(math.NaN())
	require.NoError(t, safetensors.Write(nan, []safetensors.Tensor{safetensors.FromFloat32("diffusion_model.blocks.0.norm3.diff", []int64{int64(c.Dim)}, v)}, nil))

	for _, tc := range []struct {
		flag, lora string
		want       []string
	}{
		{"--lora", other, []string{"LoRA for the high-noise expert " + high + " and the low-noise expert " + low + ": lora: " + other + " is a LoRA for Wan 2.1 T2V-1.3B"}},
		{"--lora", delta, []string{"LoRA for both experts, refused by the high-noise expert " + high + " (the low-noise expert " + low + " accepts it): ",
			"full-weight delta of blocks.0.self_attn.q.weight, which is Q8_0 in the model file"}},
		{"--lora", nan, []string{"LoRA for the high-noise expert and the low-noise expert: lora: " + nan + ": tensor", "holds NaN"}},
		// One for one expert is that expert's.
		{"--lora-low", other, []string{"LoRA for the low-noise expert " + low + ": lora: " + other + " is a LoRA for Wan 2.1 T2V-1.3B"}},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append(slices.Clone(args), "--out", filepath.Join(out, "v.avi"), tc.flag, tc.lora), &stdout, &stderr)
		require.Equal(t, 1, code, "%s %s: %s", tc.flag, tc.lora, stderr.String())
		for _, w := range tc.want {
			require.Contains(t, stderr.String(), w, "%s %s", tc.flag, tc.lora)
		}
	}
	// The delta LoRA on the low-noise expert alone is fine.
	var stdout, stderr bytes.Buffer
	code := run(append(slices.Clone(args), "--out", filepath.Join(out, "ok.avi"), "--lora-low", delta), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
}
