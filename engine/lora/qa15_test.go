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
