package lora

import (
	"strings"
	"testing"

	"github.com/wan22/wan22/internal/safetext"
	"github.com/wan22/wan22/safetensors"
)

// TestRefusalsQuoteNames: a tensor name from the file reaches an error only
// through gguf.Quote: escaped (a terminal escape or C1 control in a name
// cannot reach the terminal) and cut with its length (a name of kilobytes
// does not make the message as long), at every refusal that names one.
func TestRefusalsQuoteNames(t *testing.T) {
	const evil = "\x1b[2J\u009b"
	long := strings.Repeat("diffusion_model.", 300) // stripped as a prefix: the key still resolves
	for _, c := range []struct {
		name string
		ts   []safetensors.Tensor
		want string
	}{
		{"LyCORIS", []safetensors.Tensor{zeros(evil+".hada_w1_a"+long, 2, 64)}, `"\x1b[2J\u009b.hada_w1_a`},
		{"unknown keys", []safetensors.Tensor{zeros(evil+long, 2, 64)}, `unknown keys "\x1b[2J\u009bdiffusion_model.`},
		{"two spellings", []safetensors.Tensor{
			zeros(long+"blocks.0.self_attn.q.lora_down.weight", 2, 64), zeros(long+"blocks.0.self_attn.q.lora_up.weight", 64, 2),
			zeros("lora_unet_blocks_0_self_attn_q.lora_down.weight", 2, 64), zeros("lora_unet_blocks_0_self_attn_q.lora_up.weight", 64, 2)},
			"both adapt blocks.0.self_attn.q"},
		{"two deltas", []safetensors.Tensor{zeros(long+"blocks.0.self_attn.q.diff", 64, 64), zeros("lora_unet_blocks_0_self_attn_q.diff", 64, 64)},
			"are both deltas of blocks.0.self_attn.q.weight"},
		{"no up matrix", []safetensors.Tensor{zeros(long+"blocks.0.self_attn.q.lora_down.weight", 2, 64)}, "has no matching up (B) matrix"},
		{"two models", []safetensors.Tensor{
			zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 2, 64), zeros("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 64, 2),
			zeros(long+"blocks.0.self_attn.k.lora_down.weight", 2, 128), zeros(long+"blocks.0.self_attn.k.lora_up.weight", 128, 2)},
			"disagree on the model's dim"},
		{"delta shape", []safetensors.Tensor{zeros(long+"blocks.0.self_attn.q.diff", 64)}, "want the [out, in] delta of blocks.0.self_attn.q.weight"},
	} {
		_, err := fileOf(t, "bad.safetensors", c.ts...)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) || !strings.Contains(msg, "bytes)") || safetext.Problem(msg, false, 1000) != "" {
			t.Errorf("%s: %d bytes: %.400q; want %q and the names escaped and cut", c.name, len(msg), msg, c.want)
		}
	}
}
