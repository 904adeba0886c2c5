package lora

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/safetensors"
)

// TestIntegerAlpha: an alpha stored as an integer tensor (torch.tensor(16)
// is an int64, which some conversion scripts save) is the scale it says,
// as ComfyUI reads it (.item()), not a refused "non-floating-point" tensor;
// integer matrices are still refused.
func TestIntegerAlpha(t *testing.T) {
	for _, typ := range []gguf.Type{gguf.TypeI64, gguf.TypeI32, gguf.TypeI16, gguf.TypeI8} {
		t.Run(typ.String(), func(t *testing.T) {
			size := typ.BlockBytes()
			data := make([]byte, size)
			switch size {
			case 8:
				binary.LittleEndian.PutUint64(data, 16)
			case 4:
				binary.LittleEndian.PutUint32(data, 16)
			case 2:
				binary.LittleEndian.PutUint16(data, 16)
			default:
				data[0] = 16
			}
			f, err := fileOf(t, "int_alpha.safetensors",
				zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 4, 5120),
				zeros("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 5120, 4),
				safetensors.Tensor{Name: "diffusion_model.blocks.0.self_attn.q.alpha", Type: typ, Data: data})
			if err != nil {
				t.Fatalf("an integer alpha refused: %v", err)
			}
			if a := f.Adapters[0]; !a.HasAlpha || a.Alpha != 16 || a.Scale(1) != 4 {
				t.Errorf("adapter %+v: want alpha 16, scale 4 at strength 1", a)
			}
			if err := f.CheckWeights(); err != nil {
				t.Errorf("CheckWeights: %v", err)
			}
		})
	}
	_, err := fileOf(t, "int_up.safetensors",
		zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 4, 5120),
		safetensors.Tensor{Name: "diffusion_model.blocks.0.self_attn.q.lora_up.weight", Type: gguf.TypeI8, Shape: []int64{5120, 4}, Data: make([]byte, 5120*4)})
	if err == nil || !strings.Contains(err.Error(), "must be floating point") {
		t.Errorf("an I8 up matrix: err %v, want it refused as not floating point", err)
	}
}

// TestOtherModelLoRA: a LoRA for another model (an SDXL LoRA with its text
// encoder keys, a FLUX one) is called one, not a WAN LoRA in an unknown key
// style, which sends the user looking for a converter.
func TestOtherModelLoRA(t *testing.T) {
	cases := []struct {
		keys []string
		want string
	}{
		{[]string{"lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q", "lora_te1_text_model_encoder_layers_0_self_attn_q_proj"}, "Stable Diffusion UNet"},
		{[]string{"lora_unet_input_blocks_4_1_proj_in"}, "Stable Diffusion UNet"},
		{[]string{"lora_unet_double_blocks_0_img_attn_qkv", "lora_unet_single_blocks_3_linear1"}, "FLUX"},
		{[]string{"transformer.single_transformer_blocks.0.attn.to_q"}, "FLUX"},
		{[]string{"transformer.transformer_blocks.0.attn1.to_q"}, "another model's transformer"},
	}
	for _, c := range cases {
		var ts []safetensors.Tensor
		for _, k := range c.keys {
			ts = append(ts, zeros(k+".lora_down.weight", 4, 64), zeros(k+".lora_up.weight", 64, 4))
		}
		_, err := fileOf(t, "other.safetensors", ts...)
		// ("lora: NAME: ", which wan22 inspect drops from the line it prints under the file's report)
		if err == nil || !strings.HasPrefix(err.Error(), "lora: other.safetensors: a LoRA for") || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "key style") || strings.Contains(err.Error(), "lora_te1") {
			t.Errorf("keys %q: err %v, want it called a LoRA for %s (no key-style talk, no text-encoder key)", c.keys, err, c.want)
		}
	}
	// A WAN file with one odd key is still an unknown key in a WAN LoRA.
	_, err := fileOf(t, "wan.safetensors",
		zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 4, 5120),
		zeros("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 5120, 4),
		zeros("lora_unet_down_blocks_0_x.lora_down.weight", 4, 8))
	if err == nil || !strings.Contains(err.Error(), "unknown keys") {
		t.Errorf("a WAN LoRA with an odd key: err %v, want unknown keys", err)
	}
}

// TestEmptyAdapter: an adapter with a dimension of 0 (rank 0) is called
// empty, not told to have "the same rank" that its matrices already share.
func TestEmptyAdapter(t *testing.T) {
	for _, shapes := range [][2][]int64{{{0, 5120}, {5120, 0}}, {{4, 0}, {5120, 4}}, {{4, 5120}, {0, 4}}} {
		_, err := fileOf(t, "empty.safetensors",
			zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", shapes[0]...),
			zeros("diffusion_model.blocks.0.self_attn.q.lora_up.weight", shapes[1]...))
		if err == nil || !strings.Contains(err.Error(), "a dimension of 0") || strings.Contains(err.Error(), "same rank") {
			t.Errorf("shapes %v: err %v, want the adapter called empty", shapes, err)
		}
	}
}

// TestExpertHintWords: the expert marks of names as users and publishers
// write them, whatever separates the word (HIGH_4steps after a dash, a name
// that starts with it), and no mark in words that only hold the letters
// (john_, kiln_) or in a dataset path or tag counts.
func TestExpertHintWords(t *testing.T) {
	cases := []struct {
		name string
		meta map[string]string
		want string
	}{
		{"Wan2_2-I2V-A14B-HIGH_4steps_lora.safetensors", nil, "high"},
		{"style_low-v2.safetensors", nil, "low"},
		{"HIGH_lightx2v.safetensors", nil, "high"},
		{"low.safetensors", nil, "low"},
		{"style_h.safetensors", nil, "high"},
		{"wan22_i2v_lightning_HIGH_noise.safetensors", nil, "high"},
		{"wan2.2_i2v_A14b_low_noise_lora_rank64.safetensors", nil, "low"},
		{"MotionHighNoise.safetensors", nil, "high"},
		{"john_doe_style.safetensors", nil, ""},
		{"kiln_style.safetensors", nil, ""},
		{"highlight_style.safetensors", nil, ""},
		{"style.safetensors", map[string]string{"ss_dataset_dirs": `{"/home/john_smith/data": {"n_repeats": 1}}`}, ""},
		{"style.safetensors", map[string]string{"ss_tag_frequency": `{"img": {"high heels": 3, "outdoors": 2}}`}, ""},
		{"style.safetensors", map[string]string{"ss_output_name": "mystyle-HIGH"}, "high"},
		{"style.safetensors", map[string]string{"ss_sd_model_name": "wan2.2_i2v_low_noise_14B_fp16.safetensors"}, "low"},
		{"style_high.safetensors", map[string]string{"ss_output_name": "style_low"}, ""},
	}
	for _, c := range cases {
		f := &File{Name: "/loras/" + c.name, Metadata: c.meta}
		if got := f.ExpertHint(); got != c.want {
			t.Errorf("%s %v: hint %q, want %q", c.name, c.meta, got, c.want)
		}
	}
}

// TestScalarDelta: a delta stored as a scalar (shape []) is refused naming
// it: for a bare parameter (a modulation) it panicked, indexing the last
// dimension of no dimension, and for a norm it read as a model of dim 1.
func TestScalarDelta(t *testing.T) {
	for _, key := range []string{"diffusion_model.blocks.0.modulation.diff", "diffusion_model.head.modulation.diff", "diffusion_model.blocks.0.norm3.diff", "diffusion_model.blocks.0.self_attn.q.diff_b"} {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s: panic %v", key, p)
				}
			}()
			_, err := fileOf(t, "scalar.safetensors", safetensors.FromFloat32(key, nil, []float32{0.1}))
			if err == nil || !strings.Contains(err.Error(), "is a scalar") {
				t.Errorf("%s: err %v, want it refused as a scalar", key, err)
			}
		}()
	}
}

// TestDeltaShapes: a delta of a modulation, a norm or a bias shaped unlike
// its tensor is refused when the file opens, as wan22 i2v checks its LoRAs
// before any model loads: it passed that check (only its last dimension, or
// its size, was read) and failed when the expert loaded, after the text
// encoder and, for the low-noise expert, the whole high-noise stage ran.
func TestDeltaShapes(t *testing.T) {
	for _, c := range []struct {
		key   string
		shape []int64
		want  string // "" for a delta that fits
	}{
		{"diffusion_model.blocks.0.modulation.diff", []int64{1, 6, 5120}, ""},
		{"diffusion_model.blocks.0.modulation.diff", []int64{6, 5120}, ""},
		{"diffusion_model.blocks.0.modulation.diff", []int64{1, 5, 5120}, "want the [1, 6, dim] delta of blocks.0.modulation"},
		{"diffusion_model.blocks.0.modulation.diff", []int64{5120}, "want the [1, 6, dim] delta"},
		{"diffusion_model.head.modulation.diff", []int64{1, 2, 5120}, ""},
		{"diffusion_model.head.modulation.diff", []int64{1, 6, 5120}, "want the [1, 2, dim] delta of head.modulation"},
		{"diffusion_model.blocks.0.norm3.diff", []int64{5120}, ""},
		{"diffusion_model.blocks.0.norm3.diff", []int64{1, 5120}, ""},
		{"diffusion_model.blocks.0.norm3.diff", []int64{2, 2560}, "want the [dim] delta of blocks.0.norm3.weight"},
		{"diffusion_model.blocks.0.self_attn.q.diff_b", []int64{5120, 1}, "want the [out] delta of blocks.0.self_attn.q.bias"},
		{"diffusion_model.blocks.0.self_attn.q.diff", []int64{5120, 5120}, ""},
	} {
		_, err := fileOf(t, "delta.safetensors", zeros(c.key, c.shape...))
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s %v: err %v, want %q", c.key, c.shape, err, c.want)
		}
	}
}

// TestWan21ImageBranchSaysWhatToDo: a Wan 2.1 I2V LoRA (the 4-step distill
// one is used on WAN 2.2 in ComfyUI, which skips its image-branch tensors)
// given for WAN 2.2 says how to use the rest of it, not only that it does
// not fit.
func TestWan21ImageBranchSaysWhatToDo(t *testing.T) {
	f, err := fileOf(t, "lightx2v_I2V_14B_480p.safetensors",
		zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 4, 5120), zeros("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 5120, 4),
		zeros("diffusion_model.blocks.0.cross_attn.k_img.lora_down.weight", 4, 5120), zeros("diffusion_model.blocks.0.cross_attn.k_img.lora_up.weight", 5120, 4))
	if err != nil {
		t.Fatal(err)
	}
	err = f.Check(Known[0])
	for _, w := range []string{"Wan 2.1 I2V-14B", "ComfyUI skips those tensors", "without its tensors whose names hold k_img, v_img or img_emb"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("err %v, want %q", err, w)
		}
	}
}
