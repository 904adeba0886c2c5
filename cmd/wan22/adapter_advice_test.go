package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/engine/modelfile"
)

// TestAdapterAsModelAdvice: a LoRA given where an expert is wanted is told,
// in i2v's words, to give it with --lora-high, --lora-low or --lora, as
// engine/modelfile's advice says for the command line; the advice's words
// for the library ("the library: Request.LoRAs") are left out, where
// flagWords turned them into "the library: --lora-high, --lora-low and
// --lora", flags that no library has.
func TestAdapterAsModelAdvice(t *testing.T) {
	advice := modelfile.Info{Kind: modelfile.KindUnknown, Adapter: true}.Advice()
	require.Contains(t, advice, "; the library: Request.LoRAs)", "update this test and optionReplacer to modelfile's words")
	for cmd := range optionFlags {
		got := flagWords(cmd, advice)
		require.NotContains(t, got, "library", cmd)
		require.Contains(t, got, "(wan22 i2v and bench: --lora-high, --lora-low or --lora FILE[:STRENGTH])", cmd)
	}
	args, _ := i2vSetup(t)
	lora := writeTinyLoRA(t, t.TempDir(), "style.safetensors", 1, "self_attn.q")
	for i := range args {
		if args[i] == "--high" {
			args[i+1] = lora
		}
	}
	code, _, stderr := runCLI(append(args, "--out", t.TempDir()+"/v.avi")...)
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "attach it to an expert as a LoRA instead (wan22 i2v and bench: --lora-high, --lora-low or --lora FILE[:STRENGTH])")
	require.NotContains(t, stderr, "library")
}
