package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22"
	"github.com/wan22/wan22/safetensors"
)

// TestUntrainedLoRAWarning: a LoRA whose every up matrix is zero (saved
// before training) is warned of, once a file, as changing nothing; a
// trained one, a missing file and one that is not a LoRA are not.
func TestUntrainedLoRAWarning(t *testing.T) {
	dir := t.TempDir()
	const m = "diffusion_model.blocks.0.self_attn.q"
	write := func(name string, upValue float32) string {
		path := filepath.Join(dir, name)
		up := make([]float32, 8)
		up[7] = upValue
		require.NoError(t, safetensors.Write(path, []safetensors.Tensor{
			safetensors.FromFloat32(m+".lora_down.weight", []int64{2, 4}, []float32{1, 2, 3, 4, 5, 6, 7, 8}),
			safetensors.FromFloat32(m+".lora_up.weight", []int64{4, 2}, up),
		}, nil))
		return path
	}
	zero, trained := write("zero.safetensors", 0), write("trained.safetensors", 0.25)
	want := displayName(zero) + " changes nothing: every up matrix is zero (a LoRA saved before training?)"
	require.Equal(t, want, untrainedLoRAWarning([]wan22.LoRA{{Path: zero, Strength: 1}}))
	require.Equal(t, want, untrainedLoRAWarning([]wan22.LoRA{
		{Path: trained, Strength: 1}, {Path: zero, Strength: 0.5, Expert: wan22.LoRAHigh}, {Path: zero, Strength: 1, Expert: wan22.LoRALow},
		{Path: filepath.Join(dir, "missing.safetensors"), Strength: 1}}))
	require.Equal(t, "", untrainedLoRAWarning([]wan22.LoRA{{Path: trained, Strength: 1}}))
	require.Equal(t, "", untrainedLoRAWarning(nil))
}
