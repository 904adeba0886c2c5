package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLoRAUnusedNamesFlags: i2v with a LoRA for the high-noise expert and a
// --boundary that gives that expert no step (1: every timestep below it)
// warns, through the library's log, in the command's flags (--boundary,
// --switch-step), not the library's Request fields.
func TestLoRAUnusedNamesFlags(t *testing.T) {
	args, out := i2vSetup(t)
	high := writeTinyLoRA(t, t.TempDir(), "high_noise.safetensors", 1, "self_attn.q")
	_, _, stderr := i2vVideo(t, args, filepath.Join(out, "a.avi"), "--boundary", "1", "--lora-high", high)
	require.Contains(t, stderr, "a LoRA given to the high-noise expert has no effect: the schedule runs all 2 steps on the low-noise expert (--boundary 1), so the high-noise expert never loads; change --boundary or --switch-step to give it steps")
	require.NotContains(t, stderr, "Request.")
	require.NotContains(t, stderr, "Boundary")
}
