package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22"
)

// TestZeroStrengthWarning: LoRAs given at strength 0 (:0, :0.0, :-0), which
// change nothing yet load and run, are warned of once, every one of them
// named with its flag and the warning saying to leave those flags out; it
// said nothing. LoRAs at other strengths, the default 1 included, get no
// warning.
func TestZeroStrengthWarning(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a.safetensors"), filepath.Join(dir, "b.safetensors"), filepath.Join(dir, "c.safetensors")
	parse := func(v string, e wan22.LoRAExpert) wan22.LoRA {
		t.Helper()
		l, err := parseLoRA(v, e)
		require.NoError(t, err, v)
		return l
	}
	require.Empty(t, zeroStrengthWarning(nil))
	require.Empty(t, zeroStrengthWarning([]wan22.LoRA{parse(a, wan22.LoRABoth), parse(b+":0.5", wan22.LoRAHigh), parse(c+":-1", wan22.LoRALow)}))

	w := zeroStrengthWarning([]wan22.LoRA{parse(a+":1", wan22.LoRAHigh), parse(b+":0", wan22.LoRALow)})
	require.Equal(t, "--lora-low "+b+" at strength 0 changes nothing, yet the LoRA is still read and applied: leave that flag out, or give the strength you meant (FILE:0.8)", w)

	w = zeroStrengthWarning([]wan22.LoRA{parse(a+":0.0", wan22.LoRAHigh), parse(b+":-0", wan22.LoRABoth), parse(c+":0", wan22.LoRALow)})
	require.Equal(t, "--lora-high "+a+", --lora "+b+" and --lora-low "+c+" at strength 0 change nothing, yet the LoRAs are still read and applied: leave those flags out, or give the strengths you meant (FILE:0.8)", w)
}
