package lora

import (
	"strings"
	"testing"

	"github.com/wan22/wan22/safetensors"
)

// TestEmptyDelta: a delta with a dimension of 0 (a norm's [0], a
// modulation's [1, 6, 0], a linear weight's [out, 0]) is refused when the
// file opens as an empty adapter is (TestEmptyAdapter), naming the tensor:
// its 0 was read as a model size of 0, which Check takes as unknown, so the
// file was said to fit every model and failed only when an expert loaded
// (engine/dit's attach check), and beside a real tensor it read as a file
// mixing two models.
func TestEmptyDelta(t *testing.T) {
	for _, c := range []struct {
		key   string
		shape []int64
	}{
		{"diffusion_model.blocks.0.norm3.diff", []int64{0}},
		{"diffusion_model.blocks.0.modulation.diff", []int64{1, 6, 0}},
		{"diffusion_model.head.modulation.diff", []int64{1, 2, 0}},
		{"diffusion_model.blocks.0.self_attn.q.diff_b", []int64{0}},
		{"diffusion_model.blocks.0.self_attn.q.diff", []int64{5120, 0}},
		{"diffusion_model.blocks.0.self_attn.q.diff", []int64{0, 5120}},
	} {
		for _, other := range [][]safetensors.Tensor{nil, {zeros("diffusion_model.blocks.1.norm3.diff", 5120)}} {
			_, err := fileOf(t, "empty.safetensors", append([]safetensors.Tensor{zeros(c.key, c.shape...)}, other...)...)
			if err == nil || !strings.Contains(err.Error(), "a dimension of 0") || !strings.Contains(err.Error(), c.key) || strings.Contains(err.Error(), "mixes two models") {
				t.Errorf("%s %v (with %d other tensors): err %v, want the delta called empty", c.key, c.shape, len(other), err)
			}
		}
	}
}
