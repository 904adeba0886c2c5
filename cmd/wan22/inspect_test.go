package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/safetensors"
)

// TestInspectLyCORISWithoutLoRANames: a LyCORIS adapter whose keys carry
// no "lora" (LoKr and LoHa in ComfyUI's diffusion_model.… naming) is
// reported as an adapter wan22 cannot apply, with the reason, after the
// report and without the path repeated; it was shown as an unknown model.
func TestInspectLyCORISWithoutLoRANames(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ file, key, kind string }{
		{"lokr.safetensors", "diffusion_model.blocks.0.self_attn.q.lokr_w1", "LoKr"},
		{"loha.safetensors", "diffusion_model.blocks.0.self_attn.q.hada_w1_a", "LoHa"},
		{"oft.safetensors", "diffusion_model.blocks.0.ffn.0.oft_blocks", "OFT"},
	} {
		path := filepath.Join(dir, c.file)
		require.NoError(t, safetensors.Write(path, []safetensors.Tensor{
			safetensors.FromFloat32(c.key, []int64{2, 2}, make([]float32, 4)),
		}, nil))
		code, stdout, stderr := runCLI("inspect", path)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "LoRA: not one wan22 can apply: tensor \""+c.key+"\" is a "+c.kind)
		require.Equal(t, 1, strings.Count(stdout, path), stdout)
		require.Less(t, strings.Index(stdout, "architecture:"), strings.Index(stdout, "LoRA:"), stdout)
	}
	// A model wan22 does not know, with no adapter keys, gets no LoRA line.
	other := filepath.Join(dir, "other.safetensors")
	require.NoError(t, safetensors.Write(other, []safetensors.Tensor{
		safetensors.FromFloat32("encoder.layer.0.weight", []int64{2, 2}, make([]float32, 4)),
	}, nil))
	code, stdout, stderr := runCLI("inspect", other)
	require.Equal(t, 0, code, stderr)
	require.NotContains(t, stdout, "LoRA:")
}

// TestInspectEmptyName: `wan22 inspect ""` says the name is empty; it
// printed "wan22 inspect:  does not exist".
func TestInspectEmptyName(t *testing.T) {
	code, stdout, stderr := runCLI("inspect", "")
	require.Equal(t, 1, code)
	require.Empty(t, stdout)
	require.Equal(t, "wan22 inspect: the file name is empty (\"\"): give the path of a model file\n", stderr)
}
