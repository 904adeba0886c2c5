package lora

import (
	"strconv"
	"strings"
)

// kind is what a DiT module holds, which decides the tensors a key may target.
type kind uint8

const (
	kLinear kind = iota // .weight [out, in] (patch_embedding: a Conv3d) and .bias [out]
	kNormW              // an RMSNorm: .weight [dim] only
	kNormWB             // a LayerNorm with affine: .weight and .bias [dim]
	kParam              // a bare parameter (the modulations): the module name is the tensor name
)

// module is one DiT module a LoRA may adapt.
type module struct {
	kind kind
	// wan21 marks the CLIP image branch of Wan 2.1 I2V/FLF2V (k_img, v_img,
	// norm_k_img, img_emb), which WAN 2.2 has not.
	wan21 bool
}

// blockModules are the modules of one block, by their name after "blocks.N.",
// in the official (and ComfyUI) naming.
var blockModules = map[string]module{
	"self_attn.q": {kind: kLinear}, "self_attn.k": {kind: kLinear}, "self_attn.v": {kind: kLinear}, "self_attn.o": {kind: kLinear},
	"self_attn.norm_q": {kind: kNormW}, "self_attn.norm_k": {kind: kNormW},
	"cross_attn.q": {kind: kLinear}, "cross_attn.k": {kind: kLinear}, "cross_attn.v": {kind: kLinear}, "cross_attn.o": {kind: kLinear},
	"cross_attn.norm_q": {kind: kNormW}, "cross_attn.norm_k": {kind: kNormW},
	"cross_attn.k_img": {kind: kLinear, wan21: true}, "cross_attn.v_img": {kind: kLinear, wan21: true},
	"cross_attn.norm_k_img": {kind: kNormW, wan21: true},
	"norm3":                 {kind: kNormWB},
	"ffn.0":                 {kind: kLinear}, "ffn.2": {kind: kLinear},
	"modulation": {kind: kParam},
}

// topModules are the modules outside the blocks.
var topModules = map[string]module{
	"patch_embedding":  {kind: kLinear},
	"text_embedding.0": {kind: kLinear}, "text_embedding.2": {kind: kLinear},
	"time_embedding.0": {kind: kLinear}, "time_embedding.2": {kind: kLinear},
	"time_projection.1": {kind: kLinear},
	"head.head":         {kind: kLinear},
	"head.modulation":   {kind: kParam},
	"img_emb.proj.0":    {kind: kNormWB, wan21: true}, "img_emb.proj.1": {kind: kLinear, wan21: true},
	"img_emb.proj.3": {kind: kLinear, wan21: true}, "img_emb.proj.4": {kind: kNormWB, wan21: true},
}

// diffusersBlock maps the diffusers (WanTransformer3DModel) names of a
// block's modules to the official ones. Note that diffusers' norm2 is the
// official norm3 (the LayerNorm before cross-attention).
var diffusersBlock = map[string]string{
	"attn1.to_q": "self_attn.q", "attn1.to_k": "self_attn.k", "attn1.to_v": "self_attn.v", "attn1.to_out.0": "self_attn.o",
	"attn1.norm_q": "self_attn.norm_q", "attn1.norm_k": "self_attn.norm_k",
	"attn2.to_q": "cross_attn.q", "attn2.to_k": "cross_attn.k", "attn2.to_v": "cross_attn.v", "attn2.to_out.0": "cross_attn.o",
	"attn2.norm_q": "cross_attn.norm_q", "attn2.norm_k": "cross_attn.norm_k",
	"attn2.add_k_proj": "cross_attn.k_img", "attn2.add_v_proj": "cross_attn.v_img", "attn2.norm_added_k": "cross_attn.norm_k_img",
	"norm2":          "norm3",
	"ffn.net.0.proj": "ffn.0", "ffn.net.2": "ffn.2",
	"scale_shift_table": "modulation",
}

// diffusersTop maps the diffusers names of the modules outside the blocks.
var diffusersTop = map[string]string{
	"condition_embedder.text_embedder.linear_1":       "text_embedding.0",
	"condition_embedder.text_embedder.linear_2":       "text_embedding.2",
	"condition_embedder.time_embedder.linear_1":       "time_embedding.0",
	"condition_embedder.time_embedder.linear_2":       "time_embedding.2",
	"condition_embedder.time_proj":                    "time_projection.1",
	"proj_out":                                        "head.head",
	"scale_shift_table":                               "head.modulation",
	"condition_embedder.image_embedder.norm1":         "img_emb.proj.0",
	"condition_embedder.image_embedder.ff.net.0.proj": "img_emb.proj.1",
	"condition_embedder.image_embedder.ff.net.2":      "img_emb.proj.3",
	"condition_embedder.image_embedder.norm2":         "img_emb.proj.4",
}

// underscoreBlock and underscoreTop map kohya's underscore spelling of
// every module name above (official and diffusers) to the official name.
var underscoreBlock, underscoreTop = underscored(blockModules, diffusersBlock), underscored(topModules, diffusersTop)

// spelled is an official module name and whether the spelling was diffusers'.
type spelled struct {
	name      string
	diffusers bool
}

func underscored(official map[string]module, aliases map[string]string) map[string]spelled {
	m := map[string]spelled{}
	for n := range official {
		m[strings.ReplaceAll(n, ".", "_")] = spelled{name: n}
	}
	for a, n := range aliases {
		m[strings.ReplaceAll(a, ".", "_")] = spelled{name: n, diffusers: true}
	}
	return m
}

// prefixes are stripped, repeatedly, from the front of a dotted module path.
var prefixes = []string{"base_model.model.", "model.diffusion_model.", "diffusion_model.", "transformer."}

// underscorePrefixes start kohya's underscore names, and lycorisPrefix
// LyCORIS's (its LoRA/LoCon networks for WAN, as kohya's sd-scripts and
// musubi-tuner write them): the same module names after it.
var underscorePrefixes = []string{"lora_unet_", "lora_transformer_", lycorisPrefix}

const lycorisPrefix = "lycoris_"

// resolved is a module path mapped to the official DiT name.
type resolved struct {
	name       string // "blocks.3.self_attn.q", "head.head"
	block      int    // the block index, or -1 outside the blocks
	mod        module
	diffusers  bool // spelled with diffusers module names
	underscore bool // spelled with kohya underscores (lora_unet_…)
	lycoris    bool // spelled with LyCORIS's underscores (lycoris_…)
}

// resolve maps a module path as a LoRA file spells it to the DiT's own name.
func resolve(path string) (resolved, bool) {
	for _, p := range underscorePrefixes {
		if rest, ok := strings.CutPrefix(path, p); ok {
			r, ok := resolveUnderscore(rest)
			r.underscore, r.lycoris = p != lycorisPrefix, p == lycorisPrefix
			return r, ok
		}
	}
	for again := true; again; {
		again = false
		for _, p := range prefixes {
			if rest, ok := strings.CutPrefix(path, p); ok {
				path, again = rest, true
			}
		}
	}
	if rest, ok := strings.CutPrefix(path, "blocks."); ok {
		num, local, ok := strings.Cut(rest, ".")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 0 || strconv.Itoa(n) != num {
			return resolved{}, false
		}
		r := resolved{block: n}
		if alias, ok := diffusersBlock[local]; ok {
			local, r.diffusers = alias, true
		}
		mod, ok := blockModules[local]
		r.name, r.mod = "blocks."+num+"."+local, mod
		return r, ok
	}
	r := resolved{block: -1}
	if alias, ok := diffusersTop[path]; ok {
		path, r.diffusers = alias, true
	}
	mod, ok := topModules[path]
	r.name, r.mod = path, mod
	return r, ok
}

// resolveUnderscore maps kohya's "blocks_3_self_attn_q" (the part after
// lora_unet_ or lycoris_) to the official name.
func resolveUnderscore(rest string) (resolved, bool) {
	if tail, ok := strings.CutPrefix(rest, "blocks_"); ok {
		num, local, ok := strings.Cut(tail, "_")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 0 || strconv.Itoa(n) != num {
			return resolved{}, false
		}
		sp, ok := underscoreBlock[local]
		if !ok {
			return resolved{}, false
		}
		return resolved{name: "blocks." + num + "." + sp.name, block: n, mod: blockModules[sp.name], diffusers: sp.diffusers}, true
	}
	sp, ok := underscoreTop[rest]
	if !ok {
		return resolved{}, false
	}
	return resolved{name: sp.name, block: -1, mod: topModules[sp.name], diffusers: sp.diffusers}, true
}
