package pipeline

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/tinymodels"
	"github.com/wan22/wan22/safetensors"
)

// TestNaNLoRAFailsBeforeLoading: a LoRA whose weights hold a NaN is refused
// by CheckLoRAs, before any stage starts, naming the file and the tensor —
// not when its expert loads, after the text encoder, the VAE encoder and,
// for a low-noise LoRA, the whole high-noise stage ran.
func TestNaNLoRAFailsBeforeLoading(t *testing.T) {
	m := tinyModels(t)
	c := tinymodels.DiT()
	ts := loraTensors(2, 3, map[string][2]int{"blocks.1.ffn.2": {c.Dim, c.FFNDim}})
	v := make([]float32, 2*c.FFNDim)
	v[5] = float32(math.NaN())
	ts[0] = safetensors.FromFloat32("diffusion_model.blocks.1.ffn.2.lora_down.weight", []int64{2, int64(c.FFNDim)}, v)
	nan := writeFile(t, "nan_low.safetensors", ts...)
	loras := []LoRA{{Path: nan, Strength: 1, Expert: LoRALow}}
	err := CheckLoRAs(m, loras)
	require.ErrorContains(t, err, "nan_low.safetensors")
	require.ErrorContains(t, err, `"diffusion_model.blocks.1.ffn.2.lora_down.weight" holds NaN`)
	o := baseOptions()
	o.LoRAs = loras
	b := newCounting()
	_, events, err := collect(t, b, m, o)
	require.ErrorContains(t, err, "holds NaN")
	require.Empty(t, events, "a stage started before the LoRA was refused")
	require.Zero(t, b.made["Weight"], "a model was loaded before the LoRA was refused")
}

// TestModelGivenAsLoRA: a model file given as a LoRA — the VAE
// (safetensors), the text encoder or an expert (GGUF) — is named for the
// model it is, not reported as a LoRA of unknown keys or guessed to be a
// DiT expert.
func TestModelGivenAsLoRA(t *testing.T) {
	m := tinyModels(t)
	for _, c := range []struct{ path, want string }{
		{m.VAE, "is a WAN 2.1 VAE, not a LoRA"},
		{m.TextEncoder, "is a GGUF umT5 encoder, not a LoRA"},
		{m.High, "is a GGUF WAN i2v DiT, not a LoRA"},
	} {
		err := CheckLoRAs(m, []LoRA{{Path: c.path, Strength: 1}})
		require.ErrorContains(t, err, c.path+" "+c.want)
		require.NotContains(t, err.Error(), "unknown keys")
	}
}
