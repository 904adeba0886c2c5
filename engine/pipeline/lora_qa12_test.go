package pipeline

import (
	"bytes"
	"log/slog"
	"math"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/lora"
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

// TestMergeQuantizedWarns: a LoRA given to merge into weights the expert
// stores quantized (the tiny experts' block matrices are Q8_0 and Q4_K, as
// in the common GGUF files) keeps the run-time path there, which a warning
// says, with the types and what would merge them — not only an Info line
// a front end does not show.
func TestMergeQuantizedWarns(t *testing.T) {
	m := tinyModels(t)
	c := tinymodels.DiT()
	path := writeFile(t, "style.safetensors", loraTensors(2, 3, map[string][2]int{"blocks.0.self_attn.q": {c.Dim, c.Dim}, "blocks.1.ffn.2": {c.Dim, c.FFNDim}})...)
	o := baseOptions()
	o.Steps = 2
	var logs bytes.Buffer
	o.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	o.LoRAs = []LoRA{{Path: path, Strength: 1, Merge: true}}
	_, _, err := collect(t, newCounting(), m, o)
	require.NoError(t, err)
	log := logs.String()
	for _, want := range []string{"level=WARN", "style.safetensors not merged into 2 of the 2 weights it adapts in the high-noise expert", "Q8_0",
		"in the low-noise expert", "Q4_K", "F16/BF16/F32 model file"} {
		require.Contains(t, log, want)
	}
	// Without Merge, nothing to warn about.
	logs.Reset()
	o.LoRAs[0].Merge = false
	_, _, err = collect(t, newCounting(), m, o)
	require.NoError(t, err)
	require.Empty(t, logs.String())
}

// TestLoRAValuesReadOnce: a LoRA file's values are read once while it stands
// unchanged, however often its LoRAs are checked (a Generate resolves the
// request, then I2V checks again), and again once the file has changed.
func TestLoRAValuesReadOnce(t *testing.T) {
	m := tinyModels(t)
	c := tinymodels.DiT()
	path := writeFile(t, "once.safetensors", loraTensors(2, 3, map[string][2]int{"blocks.1.ffn.2": {c.Dim, c.FFNDim}})...)
	reads := 0
	saved := checkValues
	checkValues = func(f *lora.File) error { reads++; return saved(f) }
	defer func() { checkValues = saved }()
	loras := []LoRA{{Path: path, Strength: 1}} // both experts: one read already within a call
	require.NoError(t, CheckLoRAs(m, loras))
	require.NoError(t, CheckLoRAs(m, loras))
	require.Equal(t, 1, reads)
	later := time.Now().Add(time.Minute)
	require.NoError(t, os.Chtimes(path, later, later)) // a file changed since
	require.NoError(t, CheckLoRAs(m, loras))
	require.Equal(t, 2, reads)
}
