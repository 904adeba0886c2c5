package lora

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine/modelfile"
	"github.com/wan22/wan22/safetensors"
)

func zeros(name string, shape ...int64) safetensors.Tensor {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return safetensors.FromFloat32(name, shape, make([]float32, n))
}

// fileOf builds a LoRA file in memory.
func fileOf(t *testing.T, name string, ts ...safetensors.Tensor) (*File, error) {
	t.Helper()
	var buf bytes.Buffer
	if err := safetensors.Encode(&buf, ts, map[string]string{"ss_network_dim": "4"}); err != nil {
		t.Fatal(err)
	}
	return NewFile(bytes.NewReader(buf.Bytes()), name)
}

func TestKeyStyles(t *testing.T) {
	cases := []struct {
		down, up, alpha string
		module          string
		style           Style
	}{
		{"diffusion_model.blocks.3.self_attn.q.lora_down.weight", "diffusion_model.blocks.3.self_attn.q.lora_up.weight", "diffusion_model.blocks.3.self_attn.q.alpha",
			"blocks.3.self_attn.q", Style{Format: "lora_down/lora_up"}},
		{"lora_unet_blocks_12_cross_attn_o.lora_down.weight", "lora_unet_blocks_12_cross_attn_o.lora_up.weight", "lora_unet_blocks_12_cross_attn_o.alpha",
			"blocks.12.cross_attn.o", Style{Format: "lora_down/lora_up", Underscore: true}},
		{"lora_unet_blocks_0_ffn_net_0_proj.lora_down.weight", "lora_unet_blocks_0_ffn_net_0_proj.lora_up.weight", "",
			"blocks.0.ffn.0", Style{Format: "lora_down/lora_up", Underscore: true, Diffusers: true}},
		{"transformer.blocks.7.attn2.to_out.0.lora_A.weight", "transformer.blocks.7.attn2.to_out.0.lora_B.weight", "",
			"blocks.7.cross_attn.o", Style{Format: "lora_A/lora_B", Diffusers: true}},
		{"base_model.model.blocks.1.ffn.2.lora_A.default.weight", "base_model.model.blocks.1.ffn.2.lora_B.default.weight", "",
			"blocks.1.ffn.2", Style{Format: "lora_A/lora_B"}},
		{"diffusion_model.blocks.2.ffn.net.2.lora_A.weight", "diffusion_model.blocks.2.ffn.net.2.lora_B.weight", "",
			"blocks.2.ffn.2", Style{Format: "lora_A/lora_B", Diffusers: true}},
		{"transformer.condition_embedder.time_proj.lora_A.weight", "transformer.condition_embedder.time_proj.lora_B.weight", "",
			"time_projection.1", Style{Format: "lora_A/lora_B", Diffusers: true}},
		{"lora_unet_text_embedding_0.lora_down.weight", "lora_unet_text_embedding_0.lora_up.weight", "",
			"text_embedding.0", Style{Format: "lora_down/lora_up", Underscore: true}},
		{"model.diffusion_model.head.head.lora_down.weight", "model.diffusion_model.head.head.lora_up.weight", "",
			"head.head", Style{Format: "lora_down/lora_up"}},
		{"transformer.blocks.4.attn1.to_k.lora.down.weight", "transformer.blocks.4.attn1.to_k.lora.up.weight", "transformer.blocks.4.attn1.to_k.alpha",
			"blocks.4.self_attn.k", Style{Format: "lora.down/lora.up", Diffusers: true}},
		{"diffusion_model.blocks.5.cross_attn.v.lora.down.weight", "diffusion_model.blocks.5.cross_attn.v.lora.up.weight", "",
			"blocks.5.cross_attn.v", Style{Format: "lora.down/lora.up"}},
		{"transformer.blocks.6.ffn.net.0.proj.lora_linear_layer.down.weight", "transformer.blocks.6.ffn.net.0.proj.lora_linear_layer.up.weight", "",
			"blocks.6.ffn.0", Style{Format: "lora.down/lora.up", Diffusers: true}},
		{"diffusion_model.blocks.8.self_attn.o.lora_linear_layer.down.weight", "diffusion_model.blocks.8.self_attn.o.lora_linear_layer.up.weight", "diffusion_model.blocks.8.self_attn.o.alpha",
			"blocks.8.self_attn.o", Style{Format: "lora.down/lora.up"}},
	}
	for _, c := range cases {
		t.Run(c.module, func(t *testing.T) {
			out, in := moduleShape(c.module)
			size := func(s sym) int64 {
				return map[string]int64{"dim": 5120, "ffn": 13824, "text": 4096, "freq": 256, "out": 16, "in": 36}[s.name] * int64(s.factor)
			}
			ts := []safetensors.Tensor{zeros(c.down, 4, size(in)), zeros(c.up, size(out), 4)}
			if c.alpha != "" {
				ts = append(ts, safetensors.FromFloat32(c.alpha, []int64{}, []float32{2}))
			}
			f, err := fileOf(t, "x.safetensors", ts...)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Adapters) != 1 {
				t.Fatalf("%d adapters, want 1", len(f.Adapters))
			}
			a := f.Adapters[0]
			if a.Module != c.module || a.Down != c.down || a.Up != c.up || a.Rank != 4 {
				t.Errorf("adapter %+v, want module %s from %s/%s at rank 4", a, c.module, c.down, c.up)
			}
			if f.Style != c.style {
				t.Errorf("style %+v, want %+v", f.Style, c.style)
			}
			want := float32(0.5)
			if c.alpha != "" {
				want = 0.5 * 2 / 4
			}
			if s := a.Scale(0.5); s != want {
				t.Errorf("Scale(0.5) = %v, want %v", s, want)
			}
			if fits := f.Fits(); !slices.Contains(fits, "Wan 2.2 I2V-A14B") {
				t.Errorf("fits %q, want Wan 2.2 I2V-A14B among them", fits)
			}
		})
	}
}

func TestDiffKeys(t *testing.T) {
	f, err := fileOf(t, "d.safetensors",
		zeros("diffusion_model.blocks.0.norm3.diff", 5120),
		zeros("diffusion_model.blocks.0.norm3.diff_b", 5120),
		zeros("diffusion_model.blocks.0.self_attn.q.diff_b", 5120),
		zeros("diffusion_model.blocks.0.self_attn.k.bias.diff", 5120),
		zeros("diffusion_model.blocks.0.self_attn.norm_q.diff", 5120),
		zeros("diffusion_model.blocks.0.modulation.diff", 1, 6, 5120),
		zeros("diffusion_model.head.modulation.diff", 1, 2, 5120),
		zeros("transformer.blocks.1.scale_shift_table.diff", 1, 6, 5120),
		zeros("transformer.blocks.1.norm2.diff_b", 5120))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range f.Diffs {
		got = append(got, d.Param)
	}
	want := []string{"head.modulation", "blocks.0.modulation", "blocks.0.norm3.bias", "blocks.0.norm3.weight",
		"blocks.0.self_attn.k.bias", "blocks.0.self_attn.norm_q.weight", "blocks.0.self_attn.q.bias",
		"blocks.1.modulation", "blocks.1.norm3.bias"}
	if !slices.Equal(got, want) {
		t.Errorf("diff targets %q, want %q", got, want)
	}
	if !f.Style.Diffs || f.Style.Format != "" {
		t.Errorf("style %+v, want diffs only", f.Style)
	}
	_, err = fileOf(t, "d.safetensors", zeros("diffusion_model.blocks.0.self_attn.norm_q.diff_b", 5120))
	if err == nil || !strings.Contains(err.Error(), "has no bias") {
		t.Errorf("diff_b of an RMSNorm: %v, want an error saying it has no bias", err)
	}
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		name string
		ts   []safetensors.Tensor
		want []string
	}{
		{"two spellings", []safetensors.Tensor{
			zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 2, 64), zeros("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 64, 2),
			zeros("lora_unet_blocks_0_self_attn_q.lora_down.weight", 2, 64), zeros("lora_unet_blocks_0_self_attn_q.lora_up.weight", 64, 2)},
			[]string{"both adapt blocks.0.self_attn.q"}},
		{"two models", []safetensors.Tensor{
			zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 2, 64), zeros("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 64, 2),
			zeros("diffusion_model.blocks.0.self_attn.k.lora_down.weight", 2, 128), zeros("diffusion_model.blocks.0.self_attn.k.lora_up.weight", 128, 2)},
			[]string{"disagree", "diffusion_model.blocks.0.self_attn.k.lora_up.weight", "128 and 64"}},
		{"unknown", []safetensors.Tensor{zeros("text_encoders.t5.lora_down.weight", 2, 64), zeros("vae.decoder.weight", 3)},
			[]string{"unknown keys", "text_encoders.t5.lora_down.weight", "vae.decoder.weight"}},
		{"adapter on a norm", []safetensors.Tensor{zeros("diffusion_model.blocks.0.norm3.lora_down.weight", 2, 64), zeros("diffusion_model.blocks.0.norm3.lora_up.weight", 64, 2)},
			[]string{"not a linear"}},
		{"DoRA", []safetensors.Tensor{zeros("diffusion_model.blocks.0.self_attn.q.dora_scale", 1, 64)}, []string{"DoRA"}},
		{"empty", []safetensors.Tensor{}, []string{"no LoRA tensors"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := fileOf(t, "bad.safetensors", c.ts...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(c.want, "bad.safetensors") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	var ts []safetensors.Tensor
	for _, b := range []string{"0", "1", "2", "3", "7"} {
		p := "diffusion_model.blocks." + b
		ts = append(ts, zeros(p+".self_attn.q.lora_down.weight", 8, 5120), zeros(p+".self_attn.q.lora_up.weight", 5120, 8),
			safetensors.FromFloat32(p+".self_attn.q.alpha", nil, []float32{4}),
			zeros(p+".ffn.0.lora_down.weight", 8, 5120), zeros(p+".ffn.0.lora_up.weight", 13824, 8),
			safetensors.FromFloat32(p+".ffn.0.alpha", nil, []float32{4}))
	}
	ts = append(ts, zeros("diffusion_model.blocks.39.norm3.diff_b", 5120))
	path := filepath.Join(t.TempDir(), "wan22_i2v_lightning_HIGH_noise.safetensors")
	if err := safetensors.Write(path, ts, nil); err != nil {
		t.Fatal(err)
	}
	s, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Adapters != 10 || s.Diffs != 1 || !slices.Equal(s.Ranks, []int{8}) || !slices.Equal(s.Alphas, []float32{4}) {
		t.Errorf("summary %+v, want 10 adapters of rank 8, alpha 4, one delta", s)
	}
	if !slices.Equal(s.Layers, []string{"ffn.0: blocks 0-3, 7", "self_attn.q: blocks 0-3, 7", "norm3.bias (delta): block 39"}) {
		t.Errorf("layers %q", s.Layers)
	}
	if s.Dims.Dim != 5120 || s.Dims.FFNDim != 13824 || s.Dims.Blocks != 40 {
		t.Errorf("dims %+v, want dim 5120, ffn 13824, 40 blocks", s.Dims)
	}
	if !slices.Equal(s.Fits, []string{Known[0].Name, Known[1].Name, Known[2].Name}) {
		t.Errorf("fits %q, want the three 14B models", s.Fits)
	}
	if s.Expert != "high" {
		t.Errorf("expert %q, want high (from the file name)", s.Expert)
	}
	text := s.String()
	for _, w := range []string{"ComfyUI/kohya", "rank: 8, alpha: 4", "ffn.0: blocks 0-3, 7", "Wan 2.2 I2V-A14B", "high noise"} {
		if !strings.Contains(text, w) {
			t.Errorf("String() lacks %q:\n%s", w, text)
		}
	}

	small, err := fileOf(t, "wan21_1.3b_style.safetensors",
		zeros("lora_unet_blocks_29_self_attn_v.lora_down.weight", 16, 1536), zeros("lora_unet_blocks_29_self_attn_v.lora_up.weight", 1536, 16))
	if err != nil {
		t.Fatal(err)
	}
	if text := small.Describe().String(); !strings.Contains(text, "at least 30 blocks") {
		t.Errorf("String() of a LoRA on block 29:\n%s", text)
	}
	one, err := fileOf(t, "one.safetensors", zeros("lora_unet_blocks_0_self_attn_v.lora_down.weight", 16, 1536), zeros("lora_unet_blocks_0_self_attn_v.lora_up.weight", 1536, 16))
	if err != nil {
		t.Fatal(err)
	}
	if text := one.Describe().String(); !strings.Contains(text, ", at least 1 block\n") {
		t.Errorf("String() of a LoRA on block 0:\n%s", text)
	}
	if fits := small.Fits(); !slices.Equal(fits, []string{"Wan 2.1 T2V-1.3B"}) {
		t.Errorf("a dim-1536 LoRA fits %q, want only Wan 2.1 T2V-1.3B", fits)
	}
	err = small.Check(Known[0])
	if err == nil || !strings.Contains(err.Error(), "Wan 2.1 T2V-1.3B") || !strings.Contains(err.Error(), "lora_unet_blocks_29_self_attn_v") {
		t.Errorf("Check against the A14B: %v, want an error naming the 1.3B and the tensor", err)
	}
}

// TestAdapterKeysKnown: modelfile.AdapterKey, which tells `wan22 inspect`
// and the model checks that a file is an adapter, knows every key ending
// and LyCORIS fragment this package reads or refuses.
func TestAdapterKeysKnown(t *testing.T) {
	for _, s := range suffixes {
		if k := "diffusion_model.blocks.0.self_attn.q" + s.s; s.p != pAlpha && !modelfile.AdapterKey(k) {
			t.Errorf("modelfile.AdapterKey(%q) = false", k)
		}
	}
	for _, l := range lycoris {
		if k := "diffusion_model.blocks.0.self_attn.q" + l.frag + "w1"; !modelfile.AdapterKey(k) {
			t.Errorf("modelfile.AdapterKey(%q) = false", k)
		}
	}
}

// TestOlderDiffusersStyleString checks how Style names the older diffusers
// keys (.lora.down/.lora.up) alone and mixed with kohya's.
func TestOlderDiffusersStyleString(t *testing.T) {
	f, err := fileOf(t, "x.safetensors",
		zeros("transformer.blocks.0.attn1.to_q.lora.down.weight", 4, 5120), zeros("transformer.blocks.0.attn1.to_q.lora.up.weight", 5120, 4))
	if err != nil {
		t.Fatal(err)
	}
	if s := f.Style.String(); !strings.Contains(s, "lora.down/lora.up") {
		t.Errorf("style %q does not name lora.down/lora.up", s)
	}
	f, err = fileOf(t, "x.safetensors",
		zeros("transformer.blocks.0.attn1.to_q.lora.down.weight", 4, 5120), zeros("transformer.blocks.0.attn1.to_q.lora.up.weight", 5120, 4),
		zeros("diffusion_model.blocks.1.self_attn.q.lora_down.weight", 4, 5120), zeros("diffusion_model.blocks.1.self_attn.q.lora_up.weight", 5120, 4))
	if err != nil {
		t.Fatal(err)
	}
	if f.Style.Format != "mixed" || !strings.Contains(f.Style.String(), "lora.down/lora.up") {
		t.Errorf("style %+v (%q), want mixed, naming lora.down/lora.up", f.Style, f.Style.String())
	}
}
