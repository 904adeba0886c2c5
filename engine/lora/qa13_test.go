package lora

import (
	"bytes"
	"strings"
	"testing"

	"github.com/wan22/wan22/safetensors"
)

// fileWith builds a LoRA file in memory with the metadata meta.
func fileWith(t *testing.T, meta map[string]string, ts ...safetensors.Tensor) (*File, error) {
	t.Helper()
	var buf bytes.Buffer
	if err := safetensors.Encode(&buf, ts, meta); err != nil {
		t.Fatal(err)
	}
	return NewFile(bytes.NewReader(buf.Bytes()), "x.safetensors")
}

// TestSwappedDownUp: a file whose down (A) and up (B) matrices were
// exchanged — down [out, rank], up [rank, in] — is refused as such, naming
// both tensors and what probably wrote it, not opened as a LoRA of rank
// 5120 for "an unknown WAN model (hidden size 4)" (a square module) or
// refused as a rank mismatch (ffn.0); real adapters of small input
// (time_embedding.0, in 256) still open.
func TestSwappedDownUp(t *testing.T) {
	q, ffn := "diffusion_model.blocks.0.self_attn.q", "transformer.blocks.0.ffn.net.0.proj"
	for _, c := range []struct {
		name string
		meta map[string]string
		ts   []safetensors.Tensor
		want []string
	}{
		{"kohya square", map[string]string{"ss_network_module": "networks.lora_wan"},
			[]safetensors.Tensor{zeros(q+".lora_down.weight", 5120, 4), zeros(q+".lora_up.weight", 4, 5120)},
			[]string{`"` + q + `.lora_down.weight" [5120 4] and "` + q + `.lora_up.weight" [4 5120] look swapped`, "the rank 4", "musubi-tuner", "networks.lora_wan"}},
		{"PEFT ffn", nil,
			[]safetensors.Tensor{zeros(ffn+".lora_A.weight", 13824, 8), zeros(ffn+".lora_B.weight", 8, 5120)},
			[]string{"look swapped", "the rank 8", "PEFT (lora_A/lora_B)"}},
		{"ai-toolkit", map[string]string{"software": `{"name": "ai-toolkit", "version": "0.1"}`},
			[]safetensors.Tensor{zeros(q+".lora_A.weight", 5120, 16), zeros(q+".lora_B.weight", 16, 5120)},
			[]string{"look swapped", "ai-toolkit"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := fileWith(t, c.meta, c.ts...)
			if err == nil {
				err = f.Check(Known[0])
			}
			if err == nil {
				t.Fatal("opened and fits the A14B")
			}
			for _, w := range append(c.want, "lora: x.safetensors: ", "down (A) matrix is [rank, in] and its up (B) [out, rank]", "right way round") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "unknown WAN model") {
				t.Errorf("error %q", err)
			}
		})
	}
	te := "diffusion_model.time_embedding.0"
	if _, err := fileWith(t, nil, zeros(te+".lora_down.weight", 128, 256), zeros(te+".lora_up.weight", 5120, 128)); err != nil {
		t.Errorf("a rank-128 adapter of time_embedding.0 (in 256): %v", err)
	}
}
