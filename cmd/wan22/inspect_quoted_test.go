package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/internal/safetext"
	"github.com/wan22/wan22/safetensors"
)

// TestInspectLoRAProblemQuotedPath: the line that says why a LoRA cannot be
// applied drops lora's "lora: PATH: " also where the path is one that
// engine/lora quotes (a zero width space in its name, safetext.Path), in the
// text report and in --json's problems, as it does for an ordinary name.
func TestInspectLoRAProblemQuotedPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sd\u200bxl.safetensors")
	require.NotEqual(t, path, safetext.Path(path), "a name lora quotes")
	key := "lora_unet_down_blocks_0_attentions_0_proj_in"
	require.NoError(t, safetensors.Write(path, []safetensors.Tensor{
		safetensors.FromFloat32(key+".lora_down.weight", []int64{1, 2}, make([]float32, 2)),
		safetensors.FromFloat32(key+".lora_up.weight", []int64{2, 1}, make([]float32, 2)),
	}, nil))
	const want = "LoRA: not one wan22 can apply: a LoRA for a Stable Diffusion UNet"
	code, stdout, stderr := runCLI("inspect", path)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, want)
	require.NotContains(t, stdout, "apply: lora: ")
	code, objs, stderr := decodeInspectJSON(t, "--json", path)
	require.Equal(t, 0, code, stderr)
	require.Len(t, objs, 1)
	problems, _ := objs[0]["problems"].([]any)
	require.Len(t, problems, 1)
	require.True(t, strings.HasPrefix(problems[0].(string), want), "%v", problems[0])
}
