package lora

import (
	"errors"
	"strings"
	"testing"
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
