package safetensors

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/wan22/wan22/gguf"
)

// BenchmarkNewFile parses the header of a file shaped like one WAN 2.2 A14B
// expert (1095 tensors), with the data region left empty: tensors are
// zero-sized so only header parsing and validation are timed.
func BenchmarkNewFile(b *testing.B) {
	var ts []Tensor
	for blk := 0; blk < 40; blk++ {
		for i := 0; i < 27; i++ {
			ts = append(ts, Tensor{Name: fmt.Sprintf("model.diffusion_model.blocks.%d.t%d.weight", blk, i),
				Type: gguf.TypeBF16, Shape: []int64{0, 5120}})
		}
	}
	for i := 0; i < 15; i++ {
		ts = append(ts, Tensor{Name: fmt.Sprintf("model.diffusion_model.other%d.weight", i), Type: gguf.TypeF32, Shape: []int64{0}})
	}
	var buf bytes.Buffer
	if err := Encode(&buf, ts, map[string]string{"format": "pt"}); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		f, err := NewFile(bytes.NewReader(data))
		if err != nil || len(f.Tensors()) != len(ts) {
			b.Fatal(err)
		}
	}
}
