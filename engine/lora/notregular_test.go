package lora

import (
	"errors"
	"strings"
	"testing"

	"github.com/wan22/wan22/engine/modelfile"
)

// A folder given as a LoRA is told to be a LoRA file (.safetensors), not a
// model file (.gguf or .safetensors), which a LoRA in GGUF would not be.
func TestOpenFolderAsksForLoRAFile(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(dir)
	var nr *modelfile.NotRegularError
	if !errors.As(err, &nr) {
		t.Fatalf("Open(folder) = %v, want a *modelfile.NotRegularError", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "pass a LoRA file (.safetensors)") || strings.Contains(msg, ".gguf") {
		t.Errorf("Open(folder): %q, want the advice to pass a LoRA file (.safetensors)", msg)
	}
	if got := (&modelfile.NotRegularError{Path: "p", What: "a directory"}).Error(); !strings.Contains(got, "pass a model file (.gguf or .safetensors)") {
		t.Errorf("a model slot's advice changed: %q", got)
	}
}
