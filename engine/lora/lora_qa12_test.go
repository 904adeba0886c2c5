package lora

import (
	"math"
	"strings"
	"testing"

	"github.com/wan22/wan22/safetensors"
)

// TestBadAlphaNamesFileOnce: a NaN alpha is reported with the file named
// once ("lora: x.safetensors: tensor … holds NaN"), not "lora: x: lora: x: …".
func TestBadAlphaNamesFileOnce(t *testing.T) {
	_, err := fileOf(t, "x.safetensors",
		zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 2, 64), zeros("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 64, 2),
		safetensors.FromFloat32("diffusion_model.blocks.0.self_attn.q.alpha", nil, []float32{float32(math.NaN())}))
	if err == nil {
		t.Fatal("a NaN alpha was accepted")
	}
	if n := strings.Count(err.Error(), "x.safetensors"); n != 1 || !strings.HasPrefix(err.Error(), "lora: x.safetensors: tensor ") || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("error %q: want it to start \"lora: x.safetensors: tensor \", name the file once (%d times) and say NaN", err, n)
	}
}
