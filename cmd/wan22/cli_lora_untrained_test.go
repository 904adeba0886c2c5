package main

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/safetensors"
)

// TestUntrainedLoRAWarned runs i2v with a LoRA whose up matrices are all
// zero: the run goes on and untrainedLoRAWarning's words reach standard
// error before it.
func TestUntrainedLoRAWarned(t *testing.T) {
	args, out := i2vSetup(t)
	c := tinymodels.DiT()
	key := "diffusion_model.blocks.0.self_attn.q"
	down := make([]float32, 2*c.Dim)
	for i := range down {
		down[i] = 0.1
	}
	path := filepath.Join(t.TempDir(), "untrained.safetensors")
	require.NoError(t, safetensors.Write(path, []safetensors.Tensor{
		safetensors.FromFloat32(key+".lora_down.weight", []int64{2, int64(c.Dim)}, down),
		safetensors.FromFloat32(key+".lora_up.weight", []int64{int64(c.Dim), 2}, make([]float32, 2*c.Dim)),
	}, nil))
	_, _, stderr := i2vVideo(t, args, filepath.Join(out, "a.mp4"), "--lora-high", path)
	require.Contains(t, stderr, fmt.Sprintf("warning: %s changes nothing: every up matrix is zero", displayName(path)))
}
