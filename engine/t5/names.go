package t5

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/wan22/wan22/gguf"
)

// naming is one checkpoint convention for the encoder's tensor names. Block
// tensor names are prefix + block + N + "." + the per-tensor suffix.
type naming struct {
	name  string   // for messages
	embd  []string // token embedding, first match wins
	block string   // block prefix, followed by the block index and a dot
	norm  string   // final RMSNorm weight

	attnNorm, q, k, v, o, relB string // attention half of a block
	ffnNorm, gate, up, down    string // FFN half: down(up(x)·gelu(gate(x)))
}

// namings lists the conventions Load understands.
var namings = []naming{
	{
		// llama.cpp's T5 names, used by city96's umt5-xxl GGUF files.
		name:  "llama.cpp",
		embd:  []string{"token_embd.weight"},
		block: "enc.blk.",
		norm:  "enc.output_norm.weight",

		attnNorm: "attn_norm.weight",
		q:        "attn_q.weight",
		k:        "attn_k.weight",
		v:        "attn_v.weight",
		o:        "attn_o.weight",
		relB:     "attn_rel_b.weight",
		ffnNorm:  "ffn_norm.weight",
		gate:     "ffn_gate.weight",
		up:       "ffn_up.weight",
		down:     "ffn_down.weight",
	},
	{
		// Hugging Face T5EncoderModel names, used by ComfyUI's
		// umt5_xxl_fp16 / fp8_e4m3fn_scaled safetensors files.
		name:  "Hugging Face",
		embd:  []string{"shared.weight", "encoder.embed_tokens.weight"},
		block: "encoder.block.",
		norm:  "encoder.final_layer_norm.weight",

		attnNorm: "layer.0.layer_norm.weight",
		q:        "layer.0.SelfAttention.q.weight",
		k:        "layer.0.SelfAttention.k.weight",
		v:        "layer.0.SelfAttention.v.weight",
		o:        "layer.0.SelfAttention.o.weight",
		relB:     "layer.0.SelfAttention.relative_attention_bias.weight",
		ffnNorm:  "layer.1.layer_norm.weight",
		gate:     "layer.1.DenseReluDense.wi_0.weight",
		up:       "layer.1.DenseReluDense.wi_1.weight",
		down:     "layer.1.DenseReluDense.wo.weight",
	},
	{
		// The official Wan checkpoint (models_t5_umt5-xxl-enc-bf16.pth,
		// wan/modules/t5.py) converted to safetensors as is.
		name:  "Wan",
		embd:  []string{"token_embedding.weight"},
		block: "blocks.",
		norm:  "norm.weight",

		attnNorm: "norm1.weight",
		q:        "attn.q.weight",
		k:        "attn.k.weight",
		v:        "attn.v.weight",
		o:        "attn.o.weight",
		relB:     "pos_embedding.embedding.weight",
		ffnNorm:  "norm2.weight",
		gate:     "ffn.gate.0.weight",
		up:       "ffn.fc1.weight",
		down:     "ffn.fc2.weight",
	},
}

// names is a naming resolved against one file: its convention, the prefix
// every name carries in that file (often ""), and the block count.
type names struct {
	naming
	prefix string
	layers int
}

func (n *names) embedding(src gguf.Source) string {
	for _, e := range n.embd {
		if _, ok := src.Lookup(n.prefix + e); ok {
			return n.prefix + e
		}
	}
	return n.prefix + n.embd[0] // missing: the loader reports this name
}

func (n *names) finalNorm() string { return n.prefix + n.norm }

// blockName returns the full name of a block tensor.
func (n *names) blockName(i int, suffix string) string {
	return n.prefix + n.block + strconv.Itoa(i) + "." + suffix
}

// resolveNames finds which convention src uses, the prefix its names carry
// (for example "text_encoders.umt5xxl.transformer." in some ComfyUI exports)
// and the number of blocks (the highest block index + 1). The anchor is
// block 0's query projection, which every convention names uniquely.
func resolveNames(src gguf.Source) (*names, error) {
	var found *names
	for _, ti := range src.Tensors() {
		for _, nm := range namings {
			anchor := nm.block + "0." + nm.q
			if !strings.HasSuffix(ti.Name, anchor) {
				continue
			}
			prefix := strings.TrimSuffix(ti.Name, anchor)
			if prefix != "" && !strings.HasSuffix(prefix, ".") {
				continue // "xblocks.0..." is not ours
			}
			found = &names{naming: nm, prefix: prefix}
			break
		}
		if found != nil {
			break
		}
	}
	if found == nil {
		var want []string
		for _, nm := range namings {
			want = append(want, fmt.Sprintf("%q (%s)", nm.block+"0."+nm.q, nm.name))
		}
		return nil, fmt.Errorf("t5: no umT5 encoder tensors in the file: expected %s", strings.Join(want, ", "))
	}
	bp := found.prefix + found.block
	for _, ti := range src.Tensors() {
		rest, ok := strings.CutPrefix(ti.Name, bp)
		if !ok {
			continue
		}
		idx, _, ok := strings.Cut(rest, ".")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 {
			continue
		}
		if i >= maxLayers {
			return nil, fmt.Errorf("t5: tensor %q has block index %d, more than the %d blocks an encoder can have", ti.Name, i, maxLayers)
		}
		found.layers = max(found.layers, i+1)
	}
	return found, nil
}

// maxLayers bounds the block index read from tensor names, so a corrupt
// name cannot make the loader allocate millions of blocks.
const maxLayers = 1024
