package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBenchAdapterAsModel: a LoRA given to bench where an expert is wanted
// (bench --high style.safetensors) is told to attach it with bench's flags,
// as i2v's refusal is since 3e08157, where checkGivenModels printed
// engine/modelfile's advice as it is, ending in the library's words "the
// library: Request.LoRAs", which no command-line user can set.
func TestBenchAdapterAsModel(t *testing.T) {
	lora := writeTinyLoRA(t, t.TempDir(), "style.safetensors", 1, "self_attn.q")
	code, _, stderr := runCLI("bench", "--device", "cpu", "--high", lora)
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "--high "+lora+" is a ")
	require.Contains(t, stderr, "attach it to an expert as a LoRA instead (wan22 i2v and bench: --lora-high, --lora-low or --lora FILE[:STRENGTH])")
	require.NotContains(t, stderr, "library")
	require.NotContains(t, stderr, "Request.")
	// detectExpert, which reads a given expert's shape for the synthetic
	// ones, words its refusal alike.
	_, err := detectExpert(lora)
	require.ErrorContains(t, err, "(wan22 i2v and bench: --lora-high, --lora-low or --lora FILE[:STRENGTH])")
	require.NotContains(t, err.Error(), "library")
}
