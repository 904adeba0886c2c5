package lora

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wan22/wan22/gguf"
	"github.com/wan22/wan22/safetensors"
)

// TestOpenNotSafetensors: a GGUF model, a PyTorch checkpoint or an HTML
// page given as a LoRA is named for what it is, not reported as a damaged
// safetensors header; a damaged safetensors file keeps the parser's error.
func TestOpenNotSafetensors(t *testing.T) {
	dir := t.TempDir()
	// A real GGUF file, whose first 8 bytes read as a 14 GB safetensors header length.
	ggufPath := filepath.Join(dir, "high.gguf")
	w := gguf.NewWriter()
	w.SetKV("general.architecture", "wan")
	if err := w.AddTensor("blocks.0.ffn.0.weight", gguf.TypeF32, []int64{2}, make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile(ggufPath); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		path, want string
		typed      bool
	}{
		{ggufPath, ggufPath + " is a GGUF file (a WAN DiT expert?), not a LoRA: LoRAs are .safetensors files", true},
		{write("x.pt", "PK\x03\x04rest of a zip archive"), "is not a LoRA (a zip archive, such as a PyTorch .pt/.pth checkpoint: convert it to safetensors first): LoRAs are .safetensors files", true},
		{write("page.safetensors", "<!DOCTYPE html><html>Not found</html>"), "is not a LoRA (text that looks like HTML", true},
		{write("bad.safetensors", "\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": broken json}"), "damaged safetensors header: invalid JSON", false},
	} {
		_, err := Open(c.path)
		if err == nil {
			t.Fatalf("%s: opened", c.path)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want %q", c.path, err, c.want)
		}
		var nse *NotSafetensorsError
		if errors.As(err, &nse) != c.typed {
			t.Errorf("%s: %T, NotSafetensorsError %v", c.path, err, c.typed)
		}
		if strings.Contains(err.Error(), "wan22 reads GGUF") || (c.typed && strings.Contains(err.Error(), "header length")) {
			t.Errorf("%s: %q", c.path, err)
		}
	}
	// A good file still opens.
	good := filepath.Join(dir, "good.safetensors")
	if err := safetensors.Write(good, []safetensors.Tensor{zeros("diffusion_model.blocks.0.self_attn.q.lora_down.weight", 2, 8),
		zeros("diffusion_model.blocks.0.self_attn.q.lora_up.weight", 8, 2)}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(good)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}
