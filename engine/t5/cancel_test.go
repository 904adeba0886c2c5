package t5

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/gguf"
)

// TestCancelStopsBetweenBlocks cancels the context while the first block
// runs: the resident encoder must return context.Canceled before the second
// block, and the streaming one, given a cancelled context, before loading
// any block.
func TestCancelStopsBetweenBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t5.gguf")
	if err := WriteSynthetic(path, Tiny(), gguf.TypeF32, 3); err != nil {
		t.Fatal(err)
	}
	src, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	enc, err := Load(cpu.New(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Free()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var traced []string
	enc.Trace = func(name string, _ engine.Tensor) {
		traced = append(traced, name)
		if name == "block0.out" {
			cancel()
		}
	}
	p := streamPrompts[0]
	if _, _, err := enc.Encode(ctx, p.IDs, p.Mask); !errors.Is(err, context.Canceled) {
		t.Fatalf("Encode cancelled in block 0: err %v, want context.Canceled", err)
	}
	if last := traced[len(traced)-1]; last != "block0.out" {
		t.Errorf("Encode went on after the cancel: traced %v", traced)
	}
	if _, _, err := EncodeStreaming(ctx, cpu.New(), src, streamPrompts); !errors.Is(err, context.Canceled) {
		t.Errorf("EncodeStreaming with a cancelled context: err %v, want context.Canceled", err)
	}
}
