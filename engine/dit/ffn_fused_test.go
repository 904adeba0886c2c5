package dit

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/wan22/wan22/engine"
	"github.com/wan22/wan22/engine/cpu"
	"github.com/wan22/wan22/gguf"
)

// linearRowAdder is the CPU backend with the GatedRowAdder fast path and a
// LinearGatedRowAdder one made of Linear and that row add, counting the calls
// of the latter per weight.
type linearRowAdder struct {
	rowAdder
	fused map[engine.Tensor]int
}

func (f *linearRowAdder) LinearAddGatedRows(x, a, w, bias, gate engine.Tensor, from int) {
	f.fused[w]++
	y := f.Linear(a, w, bias)
	defer f.Free(y)
	f.rowAdder.AddGatedRows(x, y, gate, from)
}

// TestFFNLinearRowAdd checks how the chunked FFN uses a backend's
// LinearGatedRowAdder: every chunk's ffn.2 of every block runs through it
// (3 chunks of 5, 5 and 2 of the 12 tokens), no other linear does, and the
// forward equals the unchunked one of the plain CPU backend; with a run-time
// LoRA on ffn.2 that block's ffn.2 goes through Linear (LoRA included) and
// AddGatedRows instead, still equal to the plain backend's forward.
func TestFFNLinearRowAdd(t *testing.T) {
	base := modelFile(t, gguf.TypeF32)
	fb := &linearRowAdder{rowAdder: rowAdder{Backend: cpu.New()}, fused: map[engine.Tensor]int{}}
	m, err := Load(fb, openGGUF(t, base))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	defer m.DetachLoRAs()
	m.FFNChunk = 5
	plain := loadModel(t, base)

	got, want := forwardOf(t, m), forwardOf(t, plain)
	if d := relDiff(got, want); !(d <= 1e-5) {
		t.Errorf("chunked FFN through LinearAddGatedRows vs the unchunked forward: relative difference %.3g", d)
	}
	const chunks = 3
	for i, blk := range m.blocks {
		if n := fb.fused[blk.ffn2.weight]; n != chunks {
			t.Errorf("block %d: ffn.2 ran %d times through LinearAddGatedRows, want %d", i, n, chunks)
		}
	}
	if len(fb.fused) != len(m.blocks) || fb.calls != len(m.blocks)*chunks {
		t.Errorf("LinearAddGatedRows ran for %d weights, want only the %d ffn.2; AddGatedRows %d times in all, want %d",
			len(fb.fused), len(m.blocks), fb.calls, len(m.blocks)*chunks)
	}

	l := newTestLoRA(smallConfig, 4, 8, 41, "blocks.1.ffn.2", "blocks.1.ffn.0")
	path := filepath.Join(t.TempDir(), "lora.safetensors")
	l.write(t, path, keyStyles[0])
	for _, mm := range []*Model{m, plain} {
		if err := mm.AttachLoRA(openLoRA(t, path), 0.75); err != nil {
			t.Fatal(err)
		}
	}
	clear(fb.fused)
	fb.calls = 0
	got, want = forwardOf(t, m), forwardOf(t, plain)
	if d := relDiff(got, want); !(d <= 1e-5) || math.IsNaN(d) {
		t.Errorf("with a LoRA on ffn.2: relative difference %.3g to the unchunked forward", d)
	}
	if n := fb.fused[m.blocks[1].ffn2.weight]; n != 0 {
		t.Errorf("block 1's ffn.2 has a LoRA but ran %d times through LinearAddGatedRows", n)
	}
	if n := fb.fused[m.blocks[0].ffn2.weight]; n != chunks {
		t.Errorf("block 0's ffn.2 (no LoRA) ran %d times through LinearAddGatedRows, want %d", n, chunks)
	}
	if fb.calls != len(m.blocks)*chunks {
		t.Errorf("AddGatedRows ran %d times, want %d", fb.calls, len(m.blocks)*chunks)
	}
}
