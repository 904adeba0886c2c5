package cuda

import (
	"fmt"
	"slices"
	"sort"
)

// launchedKernels is every kernel the package can launch, by module (a kernels.PTX name) — each name its
// launchers can build for every element type, tile and quantization they take. Device.getKernel refuses a
// name missing here, and kernel_names_test.go checks without a GPU that every name is an .entry of its
// module's embedded PTX and that every name the code passes to getKernel is listed (so a typo fails in CI,
// not on a GPU).
var launchedKernels = buildLaunchedKernels()

func buildLaunchedKernels() map[string][]string {
	types := []string{"f32", "bf16"}
	both := cross(types, types) // <x>_<y>, every input and output type
	same := []string{"f32_f32", "bf16_bf16"}
	dequantStems := make([]string, 0, len(dequantizable))
	for _, s := range dequantizable {
		dequantStems = append(dequantStems, s)
	}
	convTiles := make([]string, len(convTilesM))
	for i, bm := range convTilesM {
		convTiles[i] = fmt.Sprint(bm)
	}
	m := map[string][]string{
		// backend.cu: Backend's ops (backend_ops.go, backend_attention.go).
		"backend": slices.Concat(
			prefixed("bk_modulate_", same),
			prefixed("bk_add_", both), prefixed("bk_mul_", both),
			prefixed("bk_add_gated_", types), prefixed("bk_rope_", types), prefixed("bk_attn_small_", types),
			[]string{"bk_split_f32", "bk_relpos_bias"}),
		// norm.cu: Device.LayerNorm, Device.RMSNorm, Device.AddLayerNorm (ops.go).
		"norm": slices.Concat(prefixed("layernorm_", both), prefixed("rmsnorm_", both), prefixed("add_layernorm_", both)),
		// elementwise.cu: ops.go, and dequant.go's conversions of plain float weights.
		"elementwise": slices.Concat(
			prefixed("gelu_tanh_", types), prefixed("silu_", types), prefixed("add_", types), prefixed("add_gated_", types),
			[]string{"convert_f16_f32", "convert_f16_bf16", "cast_f32_bf16", "cast_bf16_f32", "cast_f32_f16", "copy_rows_u128"}),
		// fused.cu: Device.RMSNormRope (input and output of one type).
		"fused": prefixed("rmsnorm_rope_", same),
		// dequant.cu: Device.Dequantize, one kernel per weight type of dequantizable and output type.
		"dequant": prefixed("dequant_", cross(dequantStems, types)),
		// gemm.cu: the own GEMM, per tile of gemmTiles (gemm.go) and output type.
		"gemm": prefixed("gemm_bf16_", cross([]string{"128x128_k32", "128x256_k64"}, types)),
		// conv.cu: Device.Conv3d per type and tile height of convTilesM; PackConvWeight per source type.
		"conv": slices.Concat(prefixed("conv3d_", cross(types, convTiles)), prefixed("conv_pack_weight_", []string{"f32", "f16", "bf16"})),
		// vae.cu: conv.go's channel norm, frame copies (by copy word) and frame attention.
		"vae": slices.Concat(
			prefixed("vae_channel_norm_", types), prefixed("vae_copy_frames_", []string{"u16", "u32", "u128"}),
			prefixed("vae_transpose_", []string{"f32_bf16", "bf16_bf16", "f32_f32"}), prefixed("vae_pad_rows_", types),
			[]string{"vae_softmax_rows"}),
	}
	// attention.cu and sm90a/attention.cu: the flash entry points of flashTable.
	for _, s := range flashTable {
		m[s.module] = append(m[s.module], s.name)
	}
	// attention8.cu and sm89/attention8.cu: the quantizers and the entry points of attn8Table. The sm89
	// module may be absent from a build (kernels/sm89/attention8.ptx needs nvcc 12.4 or newer): its names are
	// listed all the same, and the backend runs INT8 without it.
	m[attn8Module] = append(m[attn8Module],
		attn8Quant.stats, attn8Quant.outliers, attn8Quant.q, attn8Quant.k, attn8Quant.v, attn8Quant.vHopper)
	m[attn8FP8Module] = append(m[attn8FP8Module], attn8Quant.vFP8)
	for _, s := range attn8Table {
		m[s.module] = append(m[s.module], s.name)
	}
	for _, names := range m {
		sort.Strings(names)
	}
	return m
}

// kernelListed reports whether launchedKernels lists a module's kernel.
func kernelListed(module, name string) bool {
	_, ok := slices.BinarySearch(launchedKernels[module], name)
	return ok
}

// prefixed returns p followed by each of ss.
func prefixed(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}

// cross returns every a_b of a in as and b in bs.
func cross(as, bs []string) []string {
	out := make([]string, 0, len(as)*len(bs))
	for _, a := range as {
		out = append(out, prefixed(a+"_", bs)...)
	}
	return out
}
