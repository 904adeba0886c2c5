package lora

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/safetensors"
)

// TestWrongModelErrorTyped: Open's refusal of a LoRA made for another model
// is a *WrongModelError naming that model and matching ErrWrongModel, as
// Check's refusals do, so callers need not match its wording; the wording
// is unchanged.
func TestWrongModelErrorTyped(t *testing.T) {
	k := "lora_unet_double_blocks_0_img_attn_qkv"
	_, err := fileOf(t, "flux.safetensors", zeros(k+".lora_down.weight", 4, 64), zeros(k+".lora_up.weight", 64, 4))
	if err == nil {
		t.Fatal("a FLUX LoRA opened")
	}
	if !errors.Is(err, ErrWrongModel) {
		t.Errorf("errors.Is(%v, ErrWrongModel) = false", err)
	}
	var wrong *WrongModelError
	if !errors.As(err, &wrong) || wrong.Model != "FLUX or HunyuanVideo" {
		t.Fatalf("errors.As(%v, *WrongModelError): %+v, want model FLUX or HunyuanVideo", err, wrong)
	}
	if want := "lora: flux.safetensors: a LoRA for FLUX or HunyuanVideo, not for the WAN DiT (its keys "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start %q", err, want)
	}
	// Other refusals are not wrong-model ones.
	_, err = fileOf(t, "odd.safetensors", zeros("diffusion_model.blocks.0.self_attn.qq.lora_down.weight", 4, 64), zeros("diffusion_model.blocks.0.self_attn.qq.lora_up.weight", 64, 4))
	if err == nil || errors.Is(err, ErrWrongModel) {
		t.Errorf("unknown WAN keys: err %v, want an error not matching ErrWrongModel", err)
	}
}

// TestUntrained: a LoRA whose every up matrix is zero (+0 or -0, in any
// float type; a LoRA saved before training) is called untrained; one
// non-zero up value, or a non-zero delta beside zero adapters, is not.
// Down matrices do not matter: B·A is zero when B is.
func TestUntrained(t *testing.T) {
	const q, k = "diffusion_model.blocks.0.self_attn.q", "diffusion_model.blocks.0.self_attn.k"
	down := func(m string) safetensors.Tensor {
		return safetensors.FromFloat32(m+".lora_down.weight", []int64{2, 8}, []float32{1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8})
	}
	up := func(m string, v float32, typ gguf.Type) safetensors.Tensor {
		vals := make([]float32, 16)
		vals[15] = v
		ts := safetensors.FromFloat32(m+".lora_up.weight", []int64{8, 2}, vals)
		if typ == gguf.TypeF32 {
			return ts
		}
		n := typ.BlockBytes()
		data := make([]byte, 16*n)
		if v != 0 { // a non-zero value's top byte (sign and exponent), or -0's sign
			data[len(data)-1] = 0x3c
		}
		if math.Signbit(float64(v)) && v == 0 {
			data[len(data)-1] = 0x80
		}
		return safetensors.Tensor{Name: m + ".lora_up.weight", Type: typ, Shape: []int64{8, 2}, Data: data}
	}
	negZero := float32(math.Copysign(0, -1))
	cases := []struct {
		name string
		ts   []safetensors.Tensor
		want bool
	}{
		{"zero F32", []safetensors.Tensor{down(q), up(q, 0, gguf.TypeF32), down(k), up(k, 0, gguf.TypeF32)}, true},
		{"-0 F32", []safetensors.Tensor{down(q), up(q, negZero, gguf.TypeF32)}, true},
		{"zero BF16", []safetensors.Tensor{down(q), up(q, 0, gguf.TypeBF16)}, true},
		{"-0 F16", []safetensors.Tensor{down(q), up(q, negZero, gguf.TypeF16)}, true},
		{"last value of the last up", []safetensors.Tensor{down(q), up(q, 0, gguf.TypeF32), down(k), up(k, 1e-6, gguf.TypeF32)}, false},
		{"non-zero F16", []safetensors.Tensor{down(q), up(q, 1, gguf.TypeF16)}, false},
		{"a non-zero delta", []safetensors.Tensor{down(q), up(q, 0, gguf.TypeF32),
			safetensors.FromFloat32("diffusion_model.blocks.0.norm3.diff", []int64{8}, []float32{0, 0, 0, 0, 0, 0, 0, 0.5})}, false},
	}
	for _, c := range cases {
		f, err := fileOf(t, "x.safetensors", c.ts...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got, err := f.Untrained(); err != nil || got != c.want {
			t.Errorf("%s: Untrained() = %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}
