package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wan22/wan22/safetensors"
)

// TestInspectOtherModelLoRA: a LoRA that engine/lora refuses as another
// model's (an SDXL UNet's, FLUX's, SD3's) is described, in the text report's
// architecture line and in --json's model and architecture, as a LoRA for
// that model and not for WAN; it was "LoRA or other adapter file (it
// attaches to a DiT expert at run time …)", which it does not. An adapter
// in WAN's names that wan22 cannot apply (LoKr) keeps that description.
func TestInspectOtherModelLoRA(t *testing.T) {
	dir := t.TempDir()
	const adapterFile = "LoRA or other adapter file"
	for _, c := range []struct{ file, key, model string }{
		{"sdxl.safetensors", "lora_unet_down_blocks_0_attentions_0_proj_in", "a Stable Diffusion UNet (SD 1.x, SD 2.x, SDXL)"},
		{"flux.safetensors", "lora_unet_double_blocks_0_img_attn_qkv", "FLUX or HunyuanVideo"},
		{"sd3.safetensors", "transformer.transformer_blocks.0.attn.to_q", "another model's transformer (SD3, FLUX, LTX-Video, CogVideoX, …)"},
	} {
		path := filepath.Join(dir, c.file)
		require.NoError(t, safetensors.Write(path, []safetensors.Tensor{
			safetensors.FromFloat32(c.key+".lora_down.weight", []int64{1, 2}, make([]float32, 2)),
			safetensors.FromFloat32(c.key+".lora_up.weight", []int64{2, 1}, make([]float32, 2)),
		}, nil))
		want := "LoRA for " + c.model + ", not for WAN: it attaches to no WAN DiT expert"
		for _, args := range [][]string{{path}, {"-v", path}} {
			code, stdout, stderr := runCLI(append([]string{"inspect"}, args...)...)
			require.Equal(t, 0, code, stderr)
			require.Contains(t, stdout, "  architecture:  "+want+"\n", "%v", args)
			require.NotContains(t, stdout, adapterFile, "%v", args)
			require.Contains(t, stdout, "LoRA: not one wan22 can apply: a LoRA for "+c.model, "%v", args)
		}
		code, objs, stderr := decodeInspectJSON(t, "--json", path)
		require.Equal(t, 0, code, stderr)
		require.Len(t, objs, 1)
		require.Equal(t, "adapter", objs[0]["file_kind"], c.file)
		require.Equal(t, want, objs[0]["model"], c.file)
		require.Equal(t, want, objs[0]["architecture"], c.file)
	}
	lokr := filepath.Join(dir, "lokr.safetensors")
	require.NoError(t, safetensors.Write(lokr, []safetensors.Tensor{
		safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.lokr_w1", []int64{2, 2}, make([]float32, 4)),
	}, nil))
	code, stdout, stderr := runCLI("inspect", lokr)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "  architecture:  "+adapterFile)
	require.NotContains(t, stdout, "not for WAN")
}
